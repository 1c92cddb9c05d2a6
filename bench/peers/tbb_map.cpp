#include "bench/peers/tbb_map.hpp"

#include <tbb/concurrent_hash_map.h>

namespace tiercache::bench {

struct TbbMap::Impl {
  explicit Impl(std::size_t expected_keys) : map(expected_keys) {}
  tbb::concurrent_hash_map<std::string, std::string> map;
};

TbbMap::TbbMap(std::size_t expected_keys) : impl_(std::make_unique<Impl>(expected_keys)) {}

TbbMap::~TbbMap() = default;

std::optional<std::string> TbbMap::get(const std::string& key) {
  decltype(impl_->map)::const_accessor found;
  if (!impl_->map.find(found, key)) return std::nullopt;
  return found->second;
}

bool TbbMap::set(const std::string& key, std::string_view value) {
  decltype(impl_->map)::accessor slot;
  impl_->map.insert(slot, key);
  slot->second.assign(value);
  return true;
}

}  // namespace tiercache::bench
