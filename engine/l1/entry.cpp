#include "engine/l1/entry.hpp"

#include <new>

#include "engine/miss/promise_slot.hpp"

namespace tiercache::engine {
namespace {

Entry* allocate(std::uint64_t hash, std::string_view key, std::size_t payload_bytes) {
  void* mem = ::operator new(sizeof(Entry) + key.size() + payload_bytes);
  Entry* e = new (mem) Entry{};
  e->hash = hash;
  e->expires_at_ms = kNeverExpires;
  e->ring_pos = kNotInRing;
  e->key_bytes = static_cast<std::uint16_t>(key.size());
  e->hits.store(0, kRelaxed);
  if (!key.empty()) std::memcpy(e->bytes(), key.data(), key.size());
  return e;
}

}  // namespace

PromiseSlot* Entry::slot() const noexcept {
  PromiseSlot* s;
  std::memcpy(&s, bytes() + key_bytes, sizeof s);
  return s;
}

Entry* make_value_entry(std::uint64_t hash, std::string_view key, std::string_view value,
                        std::uint64_t expires_at_ms, std::uint32_t epoch) {
  Entry* e = allocate(hash, key, value.size());
  e->kind = EntryKind::value;
  e->epoch = epoch;
  e->expires_at_ms = expires_at_ms;
  e->value_bytes = static_cast<std::uint32_t>(value.size());
  if (!value.empty()) std::memcpy(e->bytes() + key.size(), value.data(), value.size());
  return e;
}

Entry* make_loading_entry(std::uint64_t hash, std::string_view key, PromiseSlot* slot) {
  Entry* e = allocate(hash, key, sizeof slot);
  e->kind = EntryKind::loading;
  e->value_bytes = 0;
  slot->add_ref();
  std::memcpy(e->bytes() + key.size(), &slot, sizeof slot);
  return e;
}

void destroy_entry(Entry* e) noexcept {
  if (e->kind == EntryKind::loading) e->slot()->release();
  e->~Entry();
  ::operator delete(e);
}

}  // namespace tiercache::engine
