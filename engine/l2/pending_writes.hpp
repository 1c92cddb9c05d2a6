// engine/l2/pending_writes.hpp — one shard's keys with writes that L2 has not acknowledged yet.
//
// Until L2 acknowledges a key's writes, L2 still holds the key's older state, so an L1 miss must
// not fill from it: that would undo a purge, or bring back the value a set replaced. Each record
// says what the key's latest write was, so a miss can answer from it (a purge: not found) or
// wait for L2 to catch up (a set whose value L1 has since evicted). Records live while the
// key has unsettled writes, so they are bounded by Options.writer.queue_max_ops.
//
// Guarded by the shard's writer lock: every method is _locked, called inside ShardTable::
// store_if / purge_if / claim / locked, so a record changes in step with the key's cell.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>

#include "engine/l2/write_op.hpp"
#include "engine/miss/miss_path.hpp"

namespace tiercache::engine {

class PendingWrites {
 public:
  // A write to `key` was queued: its kind, seq and (a set's) expiry.
  void record_locked(std::uint64_t hash, std::string_view key, WriteOp::Kind kind,
                     std::uint64_t seq, std::uint64_t expires_at_ms);
  // A write will not be sent again. True if it was its key's latest write: if L2 did not take
  // it, L1 must drop the key (op.key) so that it does not stay ahead of L2.
  bool settle_locked(std::uint64_t hash, std::uint64_t seq);
  // How a miss on `key` must be led, given the writes L2 has not acknowledged (none: read L2).
  LeadPlan plan_locked(std::uint64_t hash, std::string_view key, std::uint64_t now_ms) const;

 private:
  struct Record {
    std::string key;  // of the latest write; another key with the same hash shares the record
    WriteOp::Kind kind;
    std::uint64_t seq;
    std::uint64_t expires_at_ms;
    std::uint32_t unsettled;  // writes to this hash not settled yet
  };
  std::unordered_map<std::uint64_t, Record> by_hash_;
};

}  // namespace tiercache::engine
