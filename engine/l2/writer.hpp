// engine/writer.hpp — the batching writer thread: callers' writes to L2, pipelined.
//
//   set/purge ─▶ submit(): try_enqueue, or the QueueFullPolicy ─▶ WriteQueue
//   writer thread: drain ≤ batch_max_ops ─▶ coalesce by key (last wins) ─▶ Backend::write
//                  ─▶ per write: ok / backend_error ─▶ complete its callers
//                                unavailable / timeout ─▶ keep it, retry first once L2 is back
//
// Up to two batches are in flight on one connection and they leave and settle in queue order,
// so a later write to a key never overtakes an earlier one (a retry goes out only after every
// batch before it answered), and a flush barrier completes only after everything queued
// before it was acknowledged or failed. A write that could not reach Redis is retried, never
// dropped, until the cache closes: "acknowledged in sync mode" means Redis said OK.
// PX is computed at send time from the entry's expiry, so L2 never outlives L1's deadline.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <thread>
#include <vector>

#include "engine/l2/write_queue.hpp"
#include "tiercache/backend.hpp"
#include "tiercache/context.hpp"
#include "tiercache/options.hpp"

namespace tiercache::engine {

struct WriterStats {
  std::uint64_t batches = 0;    // pipelines sent
  std::uint64_t sent = 0;       // writes in them, after coalescing
  std::uint64_t coalesced = 0;  // writes made redundant by a later write to the same key
  std::uint64_t failed = 0;     // writes Redis answered with an error
  std::uint64_t retried = 0;    // writes sent again after a lost connection
  std::uint64_t refused = 0;    // submits refused with overloaded (QueueFullPolicy::refuse)
  std::uint64_t dropped = 0;    // queued writes dropped for room (QueueFullPolicy::drop_oldest)
  std::size_t queue_depth = 0;
};

class Writer {
 public:
  Writer(Backend& backend, const WriterOptions& options);
  // Sends what is queued while L2 is reachable, then answers the rest with errc::closed.
  ~Writer();

  // A set or purge from a caller: prepare(), then try_enqueue() under the shard lock, then
  // enqueue() if that found the queue full, then await() the completion prepare() returned.
  //
  // Gives `op` a completion to wait on in WriteMode::sync (and for barriers); null otherwise.
  std::shared_ptr<OneShot<Result<void>>> prepare(WriteOp& op) const;
  // Never waits, never applies the policy: false when the queue is full (`op` unchanged).
  bool try_enqueue(WriteOp& op) { return queue_.try_enqueue(op); }
  // Queues `op` under the QueueFullPolicy (under wait: within ctx).
  Result<void> enqueue(const Context& ctx, WriteOp& op);
  // The outcome of a prepared op, within ctx. Null `done`: nothing to wait for.
  Result<void> await(const Context& ctx, const std::shared_ptr<OneShot<Result<void>>>& done,
                     const char* what);
  // Waits until every write queued before the call was acknowledged or failed.
  Result<void> flush(const Context& ctx);
  WriterStats stats() const;

 private:
  // A batch sent and not yet settled. No replies: nothing needed sending (barriers only).
  struct InFlight {
    std::vector<WriteOp> ops;
    std::vector<std::size_t> write_of_op;  // ops[i]'s outcome is replies[write_of_op[i]]
    std::shared_ptr<OneShot<std::vector<Result<void>>>> replies;
  };

  void run();
  // Coalesces `batch` and sends it without waiting.
  InFlight start(std::vector<WriteOp> batch);
  // Waits for the oldest batch's replies, completes its callers, appends what must go again.
  void settle_front(std::deque<InFlight>& in_flight, std::vector<WriteOp>& retry);
  void fail_all(std::vector<WriteOp>& ops, errc code, const char* why);

  Backend& backend_;
  const WriterOptions options_;
  WriteQueue queue_;
  std::atomic<bool> stopping_{false};
  // Written by the writer thread only, read by stats(): relaxed counters.
  std::atomic<std::uint64_t> batches_{0}, sent_{0}, coalesced_{0}, failed_{0}, retried_{0};
  // Written by callers.
  std::atomic<std::uint64_t> refused_{0}, dropped_{0};
  std::thread thread_;
};

}  // namespace tiercache::engine
