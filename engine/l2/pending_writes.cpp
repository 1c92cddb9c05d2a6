#include "engine/l2/pending_writes.hpp"

namespace tiercache::engine {

void PendingWrites::record_locked(std::uint64_t hash, std::string_view key, WriteOp::Kind kind,
                                  std::uint64_t seq, std::uint64_t expires_at_ms) {
  auto [it, fresh] = by_hash_.try_emplace(hash);
  Record& r = it->second;
  if (fresh || r.key != key) r.key = key;
  r.kind = kind;
  r.seq = seq;
  r.expires_at_ms = expires_at_ms;
  r.unsettled = fresh ? 1 : r.unsettled + 1;
}

bool PendingWrites::settle_locked(std::uint64_t hash, std::uint64_t seq) {
  auto it = by_hash_.find(hash);
  if (it == by_hash_.end()) return false;
  const bool latest = it->second.seq == seq;
  if (--it->second.unsettled == 0) by_hash_.erase(it);
  return latest;
}

LeadPlan PendingWrites::plan_locked(std::uint64_t hash, std::string_view key,
                                    std::uint64_t now_ms) const {
  auto it = by_hash_.find(hash);
  if (it == by_hash_.end()) return LeadPlan::read_l2;
  const Record& r = it->second;
  // Another key with the same 64-bit hash: its record says nothing about this key, and L2 may
  // hold either; waiting for L2 to settle is right for both.
  if (r.key != key) return LeadPlan::flush_then_read;
  if (r.kind == WriteOp::Kind::purge) return LeadPlan::known_absent;
  // A set L1 no longer holds: either it expired (L2 gets no longer a life, so it is gone there
  // too) or it was evicted (L2 will have it once the write lands).
  if (now_ms >= r.expires_at_ms) return LeadPlan::known_absent;
  return LeadPlan::flush_then_read;
}

}  // namespace tiercache::engine
