#include "engine/l1/entry.hpp"

#include <new>
#include <thread>

#include "engine/base/cpu_relax.hpp"

#include "engine/miss/promise_slot.hpp"

namespace tiercache::engine {
namespace {

Entry* allocate(std::uint64_t hash, std::string_view key, std::size_t payload_bytes) {
  void* mem = ::operator new(sizeof(Entry) + key.size() + payload_bytes);
  Entry* e = new (mem) Entry{};
  e->hash = hash;
  e->expires_at_ms.store(kNeverExpires, kRelaxed);
  e->ring_pos = kNotInRing;
  e->key_bytes = static_cast<std::uint16_t>(key.size());
  e->hits.store(0, kRelaxed);
  if (!key.empty()) std::memcpy(e->bytes(), key.data(), key.size());
  return e;
}

}  // namespace

namespace {

constexpr std::uint32_t kVersionCount = ~(kVersionBusy | kVersionDead);

// Another writer copies at most a few hundred bytes; yield only if it lost its core.
void wait_step(unsigned spins) noexcept {
  if (spins < 64) {
    cpu_relax();
  } else {
    std::this_thread::yield();
  }
}

}  // namespace

Entry::Rewrite Entry::acquire_rewrite(std::uint32_t& held, unsigned max_spins) noexcept {
  std::atomic<std::uint32_t>& v = version();
  for (unsigned spins = 0;; ++spins) {
    std::uint32_t seen = v.load(kAcquire);
    if ((seen & kVersionBusy) == 0) {
      // Dead and idle: the value stays as it is, and this acquire load saw its last writer out.
      if ((seen & kVersionDead) != 0) return Rewrite::dead;
      if (v.compare_exchange_weak(seen, seen | kVersionBusy, kAcquire, kRelaxed)) {
        held = seen;
        // Readers that see a byte of the new value see the version odd first.
        release_fence();
        return Rewrite::acquired;
      }
      continue;
    }
    if (spins >= max_spins) return Rewrite::contended;
    wait_step(spins);
  }
}

void Entry::release_rewrite(std::uint32_t held, bool changed) noexcept {
  const std::uint32_t count = (changed ? held + 2 : held) & kVersionCount;
  // mark_dead() may have set the dead bit meanwhile: keep it.
  std::atomic<std::uint32_t>& v = version();
  std::uint32_t seen = v.load(kRelaxed);
  while (!v.compare_exchange_weak(seen, count | (seen & kVersionDead), kRelease, kRelaxed)) {
  }
}

void Entry::mark_dead() noexcept {
  // Dead first, so that no new writer takes the entry; then only the one holding it (if any)
  // is waited for.
  std::atomic<std::uint32_t>& v = version();
  v.fetch_or(kVersionDead, kAcqRel);
  for (unsigned spins = 0; (v.load(kAcquire) & kVersionBusy) != 0; ++spins) wait_step(spins);
}

PromiseSlot* Entry::slot() const noexcept {
  PromiseSlot* s;
  std::memcpy(&s, bytes() + key_bytes, sizeof s);
  return s;
}

Entry* make_value_entry(std::uint64_t hash, std::string_view key, std::string_view value,
                        std::uint64_t expires_at_ms, std::uint32_t epoch,
                        std::uint8_t load_time_code, bool typed) {
  const std::size_t version_at = Entry::version_offset(key.size(), value.size());
  const std::size_t object_at = Entry::object_offset(key.size(), value.size());
  const std::size_t end = typed ? object_at + sizeof(void*) : version_at + sizeof(std::uint32_t);
  Entry* e = allocate(hash, key, end - key.size());
  e->kind = typed ? EntryKind::typed_value : EntryKind::value;
  e->hits.store(static_cast<std::uint8_t>(load_time_code << kLoadTimeShift), kRelaxed);
  e->epoch.store(epoch, kRelaxed);
  e->expires_at_ms.store(expires_at_ms, kRelaxed);
  e->value_bytes = static_cast<std::uint32_t>(value.size());
  if (!value.empty()) std::memcpy(e->bytes() + key.size(), value.data(), value.size());
  new (e->bytes() + version_at) std::atomic<std::uint32_t>(0);
  if (typed) new (e->bytes() + object_at) std::atomic<detail::DecodedObject*>(nullptr);
  return e;
}

Entry* make_absent_entry(std::uint64_t hash, std::string_view key, std::uint64_t expires_at_ms,
                         std::uint32_t epoch) {
  Entry* e = allocate(hash, key, 0);
  e->kind = EntryKind::absent;
  e->value_bytes = 0;
  e->epoch.store(epoch, kRelaxed);
  e->expires_at_ms.store(expires_at_ms, kRelaxed);
  return e;
}

Entry* make_loading_entry(std::uint64_t hash, std::string_view key, PromiseSlot* slot) {
  Entry* e = allocate(hash, key, sizeof slot);
  e->kind = EntryKind::loading;
  e->value_bytes = 0;
  e->epoch.store(0, kRelaxed);
  slot->add_ref();
  std::memcpy(e->bytes() + key.size(), &slot, sizeof slot);
  return e;
}

void destroy_entry(Entry* e) noexcept {
  if (e->kind == EntryKind::loading) e->slot()->release();
  if (e->kind == EntryKind::typed_value) {
    // No reader can hold the entry any more, so none holds its object. The value type's
    // destructor runs here, on whichever thread frees the entry.
    detail::DecodedObject* o = e->object().load(kAcquire);
    if (o != nullptr && o != &kUndecodable) o->destroy(o);
  }
  e->~Entry();
  ::operator delete(e);
}

}  // namespace tiercache::engine
