#include "adapters/memcached/stored_item.hpp"

namespace tiercache::memcached {

ItemKind classify_item(std::uint32_t flags, std::size_t value_bytes, std::size_t max_value_bytes) {
  if (flags == kAbsentFlags) return value_bytes == 0 ? ItemKind::absent : ItemKind::unreadable;
  if (flags != kValueFlags) return ItemKind::unreadable;
  return value_bytes > max_value_bytes ? ItemKind::too_long : ItemKind::value;
}

}  // namespace tiercache::memcached
