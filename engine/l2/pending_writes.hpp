// engine/l2/pending_writes.hpp — one shard's keys with writes that L2 has not acknowledged yet.
//
// Until L2 acknowledges a key's writes, L2 still holds the key's older state, so an L1 miss must
// not fill from it: that would undo a purge, or bring back the value a set replaced. Each record
// says what the key's latest write was, so a miss can answer from it (a purge: not found) or
// wait for L2 to catch up (a set whose value L1 has since evicted). Records live while the
// key has unsettled writes, so they are bounded by Options.writer.queue_max_ops.
//
// Every set records and every settle erases, so the records are an open-addressing table
// (linear probing, backward-shift erase) in one array: no allocation per write, one cache line
// per lookup. std::unordered_map's node per record cost ~11 % of an async set (perf, 200k sets).
//
// Guarded by the shard's writer lock: every method is _locked, called inside ShardTable::
// set_if / purge_if / claim / locked, so a record changes in step with the key's cell.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "engine/l2/write_op.hpp"
#include "engine/miss/miss_path.hpp"

namespace tiercache::engine {

class PendingWrites {
 public:
  // Makes room for one more record (may rehash, and throw bad_alloc): called before the queue
  // takes a write, so that record_locked() after it cannot fail and leave the two out of step.
  void reserve_one_locked();
  // A write to `key` was queued: its kind, seq and (a set's) expiry.
  void record_locked(std::uint64_t hash, std::string_view key, WriteOp::Kind kind,
                     std::uint64_t seq, std::uint64_t expires_at_ms);
  // A write will not be sent again. True if, should L2 not have taken it, L1 must drop the key
  // (op.key) so that it does not stay ahead of L2: the write was the key's latest, or the latest
  // is a fill, which lands only where L2 holds nothing, so its value (L1's too), loaded as if
  // this write would land, need not be what L2 holds. False: a later set or purge decides.
  bool settle_locked(std::uint64_t hash, std::uint64_t seq);
  // How a miss on `key` must be led, given the writes L2 has not acknowledged (none: read L2).
  LeadPlan plan_locked(std::uint64_t hash, std::string_view key, std::uint64_t now_ms) const;
  // Whether the key's latest unacknowledged write is a set not yet expired: then the value L1
  // holds for the key, if any, is that write's. Not a fill: a value loaded on a miss is no
  // write of the caller's to read back, and L2 may hold another writer's value already.
  bool owns_value_locked(std::uint64_t hash, std::string_view key, std::uint64_t now_ms) const;

  std::size_t size_locked() const noexcept { return used_; }

 private:
  struct Record {
    std::uint64_t hash;  // the table's key hash; kEmpty marks a free slot
    // A second hash of the latest write's key (another seed): with `hash`, 128 bits tell keys
    // apart, so another key that shares the 64-bit hash is not taken for this one.
    std::uint64_t key_check;
    std::uint64_t seq;
    std::uint64_t expires_at_ms;
    std::uint32_t unsettled;  // writes to this hash not settled yet
    WriteOp::Kind kind;
  };

  std::size_t find(std::uint64_t hash) const noexcept;  // index, or npos
  // Moves every record into a table of `slots` slots (a power of two, > 2 x used_).
  void rehash(std::size_t slots);
  void erase_at(std::size_t i) noexcept;

  std::vector<Record> slots_;  // size a power of two, or empty
  std::size_t used_ = 0;
};

}  // namespace tiercache::engine
