#include "engine/l2/pending_writes.hpp"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <new>

namespace tiercache::engine {
namespace {

// Any seed but the table's (0) will do.
constexpr XXH64_hash_t kKeyCheckSeed = 0x9e3779b97f4a7c15ULL;
// The hash that marks a free slot; a key that hashes to it is stored as kEmptyStandIn (it then
// shares a record with that hash, which key_check tells apart like any collision).
constexpr std::uint64_t kEmpty = 0;
constexpr std::uint64_t kEmptyStandIn = 1;
// Slots a table starts with; it doubles when half full and halves when an eighth full.
constexpr std::size_t kMinSlots = 16;
constexpr std::size_t npos = SIZE_MAX;

std::uint64_t key_check(std::string_view key) noexcept {
  return XXH3_64bits_withSeed(key.data(), key.size(), kKeyCheckSeed);
}

std::uint64_t stored(std::uint64_t hash) noexcept {
  return hash == kEmpty ? kEmptyStandIn : hash;
}

}  // namespace

std::size_t PendingWrites::find(std::uint64_t hash) const noexcept {
  if (slots_.empty()) return npos;
  const std::size_t mask = slots_.size() - 1;
  hash = stored(hash);
  // Linear probing ends at a free slot: the table is never full (it grows at half).
  for (std::size_t i = hash & mask;; i = (i + 1) & mask) {
    if (slots_[i].hash == hash) return i;
    if (slots_[i].hash == kEmpty) return npos;
  }
}

void PendingWrites::rehash(std::size_t slots) {
  // Built aside: if the allocation fails, every record is still where it was.
  std::vector<Record> fresh(slots, Record{});
  const std::size_t mask = fresh.size() - 1;
  for (const Record& r : slots_) {
    if (r.hash == kEmpty) continue;
    std::size_t i = r.hash & mask;
    while (fresh[i].hash != kEmpty) i = (i + 1) & mask;
    fresh[i] = r;
  }
  slots_ = std::move(fresh);
}

void PendingWrites::erase_at(std::size_t i) noexcept {
  // Backward shift: move later records of the probe chain up, so no tombstone is left behind.
  const std::size_t mask = slots_.size() - 1;
  std::size_t hole = i;
  for (std::size_t j = (i + 1) & mask; slots_[j].hash != kEmpty; j = (j + 1) & mask) {
    const std::size_t home = slots_[j].hash & mask;
    // j may move into the hole only if its home is not between the hole and j (cyclically).
    const bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
    if (stays) continue;
    slots_[hole] = slots_[j];
    hole = j;
  }
  slots_[hole].hash = kEmpty;
  --used_;
}

void PendingWrites::reserve_one_locked() {
  if ((used_ + 1) * 2 > slots_.size()) rehash(slots_.empty() ? kMinSlots : slots_.size() * 2);
}

void PendingWrites::record_locked(std::uint64_t hash, std::string_view key, WriteOp::Kind kind,
                                  std::uint64_t seq, std::uint64_t expires_at_ms) {
  std::size_t i = find(hash);
  if (i == npos) {
    reserve_one_locked();
    const std::size_t mask = slots_.size() - 1;
    for (i = stored(hash) & mask; slots_[i].hash != kEmpty; i = (i + 1) & mask) {
    }
    slots_[i] = Record{.hash = stored(hash), .unsettled = 0};
    ++used_;
  }
  Record& r = slots_[i];
  r.key_check = key_check(key);
  r.kind = kind;
  r.seq = seq;
  r.expires_at_ms = expires_at_ms;
  ++r.unsettled;
}

bool PendingWrites::settle_locked(std::uint64_t hash, std::uint64_t seq) {
  const std::size_t i = find(hash);
  if (i == npos) return false;
  const bool l1_must_drop = slots_[i].seq == seq || slots_[i].kind == WriteOp::Kind::fill;
  if (--slots_[i].unsettled == 0) {
    erase_at(i);
    // Give back what a burst grew, but not at every swing around a small size.
    if (slots_.size() > kMinSlots && used_ * 8 < slots_.size()) {
      try {
        rehash(slots_.size() / 2);
      } catch (const std::bad_alloc&) {
        // Out of memory: the larger table stays (this runs on the writer thread, mid-batch).
      }
    }
  }
  return l1_must_drop;
}

bool PendingWrites::owns_value_locked(std::uint64_t hash, std::string_view key,
                                      std::uint64_t now_ms) const {
  const std::size_t i = find(hash);
  if (i == npos) return false;
  const Record& r = slots_[i];
  return r.key_check == key_check(key) && r.kind == WriteOp::Kind::set && now_ms < r.expires_at_ms;
}

LeadPlan PendingWrites::plan_locked(std::uint64_t hash, std::string_view key,
                                    std::uint64_t now_ms) const {
  const std::size_t i = find(hash);
  if (i == npos) return LeadPlan::read_l2;
  const Record& r = slots_[i];
  // Another key with the same 64-bit hash: its record says nothing about this key, and L2 may
  // hold either; waiting for L2 to settle is right for both.
  if (r.key_check != key_check(key)) return LeadPlan::flush_then_read;
  if (r.kind == WriteOp::Kind::purge) return LeadPlan::known_absent;
  if (r.kind == WriteOp::Kind::fill) {
    // A loaded value L1 no longer holds. Evicted, it reaches L2 with the fill: wait for it
    // rather than load again. Expired, the fill (which goes only where L2 holds nothing) says
    // nothing of what L2 holds, perhaps another writer's value: read it, unless an older write
    // of this cache's own is still on its way.
    if (now_ms < r.expires_at_ms || r.unsettled > 1) return LeadPlan::fill_then_read;
    return LeadPlan::read_l2;
  }
  // A set L1 no longer holds: either it expired (L2 gets no longer a life, so it is gone there
  // too) or it was evicted (L2 will have it once the write lands).
  if (now_ms >= r.expires_at_ms) return LeadPlan::known_absent;
  return LeadPlan::flush_then_read;
}

}  // namespace tiercache::engine
