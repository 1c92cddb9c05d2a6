// engine/l2/writer.hpp — the batching writer thread: callers' writes to L2, pipelined, in order.
//
//   set/purge ─▶ try_enqueue (reserves room) ─▶ WriteQueue ─▶ writer thread:
//     drain ─▶ staging (sorted by seq per key) ─▶ batch: oldest first, ≤ batch_max_ops and
//     batch_max_bytes, no key that is already in flight ─▶ coalesce per key (highest seq wins)
//     ─▶ Backend::write ─▶ per write: ok / final error ─▶ settled(), then its callers
//                                     in doubt (unavailable, timeout) or refused for now
//                                     (overloaded) ─▶ back into staging
//
// W1  For one key, at most one write is in flight at a time, and staging keeps a key's writes in
//     seq order (a write in doubt goes back in front of the later ones to its key). With the
//     backend's own promise (a write in doubt is never applied after a later batch's write to
//     its key), L2 takes the writes to a key in the order L1 took them, across any number of
//     lost connections: a retried write can never overtake a newer one.
// W2  A flush barrier completes once every op the writer took from the queue before it has been
//     settled: none is queued, staged or in flight any more.
// W3  An op's room in the queue (count and bytes) is given back only when it is settled, so the
//     bounds hold while L2 is down and everything waits for a retry. A barrier's room is given
//     back when the writer takes it, and one whose flush gave up is forgotten.
// W4  settled() runs before the op's caller is answered: a sync caller that reads its key right
//     after its write failed never sees the value L2 refused.
// W5  Every wait is bounded: for a batch's answer by batch_timeout (then the batch is in doubt),
//     for L2 to come back by the caller's ctx. A write whose connection keeps being lost under it
//     goes alone after kLostBeforeAlone losses in a row and is given up after kMaxLost, so one
//     the server refuses by closing the connection cannot hold the others up. A timeout or a
//     refusal for now is sent again without limit, paced while nothing lands. On close, what
//     is staged gets one attempt (no pacing) and is then answered with errc::closed.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <span>
#include <string_view>
#include <thread>
#include <vector>

#include "engine/base/latencies.hpp"
#include "engine/l2/write_queue.hpp"
#include "tiercache/backend.hpp"
#include "tiercache/context.hpp"
#include "tiercache/options.hpp"
#include "tiercache/stats.hpp"

namespace tiercache::engine {

struct WriterStats {
  std::uint64_t batches = 0;    // pipelines sent
  std::uint64_t sent = 0;       // writes in them, after coalescing
  std::uint64_t coalesced = 0;  // writes made redundant by a later write to the same key
  ErrorCounts failed;           // writes L2 answered with a final error, or given up
  std::uint64_t retried = 0;    // writes sent again after they were in doubt
  std::uint64_t refused = 0;    // set/purge refused with overloaded
  std::uint64_t dropped = 0;    // queued writes dropped for room (QueueFullPolicy::drop_oldest)
  std::size_t queue_depth = 0;  // ops not yet settled
  std::size_t queue_bytes = 0;  // their bytes
};

class Writer {
 public:
  // A set or purge that will not be sent again: `applied` is false when L2 did not take it (a
  // final error, dropped, closed).
  struct SettledWrite {
    const WriteOp* op;
    bool applied;
  };
  // Called with the writes settled together (a batch's, say), before their callers are answered
  // (W4). Runs on the writer thread or on a caller's (drop_oldest), with no writer lock held.
  using Settled = std::function<void(std::span<const SettledWrite>)>;

  // `latencies`: where batch round trips and sizes are recorded; null: nowhere. `epoch`: the
  // cache's coherence epoch, which a replacing fill must still be in when it is sent
  // (WriteOp::replaces); null: such a fill goes as a fill.
  Writer(Backend& backend, const WriterOptions& options, Settled settled,
         Latencies* latencies = nullptr, const std::atomic<std::uint32_t>* epoch = nullptr);
  // Sends what is queued while L2 takes it; answers the rest with errc::closed.
  ~Writer();

  // A set or purge from a caller: prepare(), then try_enqueue() under the key's shard lock; if
  // that found no room, the QueueFullPolicy (wait_for_room / drop_oldest / refuse) and again;
  // then await() the completion prepare() returned.
  //
  // Gives `op` a completion to wait on in WriteMode::sync (and for barriers); null otherwise.
  std::shared_ptr<OneShot<Result<void>>> prepare(WriteOp& op) const;
  // Never waits: false when the queue has no room (`op` unchanged).
  bool try_enqueue(WriteOp& op) { return queue_.try_enqueue(op); }
  // WriteQueue::wait_for_room for a write (`op` names it), which stops waiting when `*closed`
  // turns true (its cache closed; wake_room_waiters() wakes it).
  Result<void> wait_for_room(const Context& ctx, std::size_t bytes, const char* op,
                             const std::atomic<bool>& closed) {
    return queue_.wait_for_room(ctx, bytes, op, &closed);
  }
  void wake_room_waiters() { queue_.wake_room_waiters(); }
  std::size_t room_waiters() const noexcept { return queue_.room_waiters(); }
  // Drops the oldest write never sent and answers its caller with overloaded, to make room for
  // a write of `bytes`. False, dropping nothing, if even dropping every write never sent would
  // leave no room for it (the rest are in flight, or were sent and are in doubt).
  bool drop_oldest(std::size_t bytes);
  // Counts a write the caller's path refused (QueueFullPolicy::refuse).
  void note_refused() noexcept { refused_.fetch_add(1, std::memory_order_relaxed); }
  // The outcome of a prepared op, within ctx. Null `done`: nothing to wait for.
  Result<void> await(const Context& ctx, const std::shared_ptr<OneShot<Result<void>>>& done,
                     const char* what);
  // Waits until every write queued before the call was settled (W2).
  Result<void> flush(const Context& ctx);
  // What keeps a flush from being worth waiting for: null while it is, else why not (say, "L2
  // takes no writes": what is queued cannot be settled as applied until that changes).
  using GiveUpWhen = std::function<const char*()>;
  // flush(), which also ends with backend_unavailable (`why` in its detail) once give_up()
  // says so: looked at before the wait and every kGiveUpPollInterval during it, since the
  // backend tells no one when it goes down. Ended so, it says nothing of what was settled.
  Result<void> flush(const Context& ctx, const GiveUpWhen& give_up);
  // Flushes the writer thread has taken from the queue and that wait for the writes before
  // them: such a flush's caller is past the point where a write can still get ahead of it. A
  // flush whose caller gave up still counts until the writer next completes barriers. For tests.
  std::size_t barriers_waiting() const;
  WriterStats stats() const;

 private:
  // A pipeline sent and not yet settled.
  struct Batch {
    std::vector<WriteOp> ops;              // in seq order per key
    std::vector<std::size_t> write_of_op;  // ops[i]'s outcome is the reply to write_of_op[i]
    // (hash, index in ops) of each key's newest op, sorted: which keys are in flight.
    std::vector<std::pair<std::uint64_t, std::uint32_t>> keys;
    std::shared_ptr<OneShot<std::vector<Result<void>>>> replies;
    std::chrono::steady_clock::time_point deadline;  // sent + batch_timeout
    std::uint64_t sent_ns = 0;                       // engine::now_ns() when sent
    bool alone = false;  // a write that came back in doubt too often: nothing else in flight

    // Whether this batch holds a write to op's key.
    bool carries(const WriteOp& op) const;
  };

  void run();
  // Moves what is queued into staging_ (ops) and barriers_. staging_mu_ held.
  void drain_locked();
  // Builds the next batch from staging_ and sends it; false if nothing could go.
  bool send_next();
  // Settles the oldest batch, which is answered or past its deadline (then all in doubt).
  void settle_front();
  void complete_barriers();
  struct Finished {
    WriteOp* op;
    Result<void> outcome;
    bool applied;
  };
  // The ops will not be sent again: settled(), then their room, then their callers.
  void finish(std::span<Finished> finished);
  // Everything still waiting gets errc::closed (L2 unavailable while closing).
  void close_all();

  Backend& backend_;
  const WriterOptions options_;
  const Settled settled_;
  WriteQueue queue_;
  std::atomic<bool> stopping_{false};

  // The writer thread and drop_oldest() share these.
  mutable std::mutex staging_mu_;
  std::deque<WriteOp> staging_;   // taken from the queue, not in flight; per key in seq order
  std::deque<WriteOp> barriers_;  // in ordinal order
  std::uint64_t next_ordinal_ = 0;
  // The writer thread's alone; the ops inside are also read by complete_barriers().
  std::deque<Batch> in_flight_;
  // The writer thread's alone: while L2 refuses writes for now (overloaded), nothing is sent
  // before refused_until_, and the pause doubles per batch refused again (0: not refusing).
  std::chrono::steady_clock::time_point refused_until_{};
  std::chrono::milliseconds refused_pause_{0};

  // Written by the writer thread only, read by stats(): relaxed counters.
  std::atomic<std::uint64_t> batches_{0}, sent_{0}, coalesced_{0}, retried_{0};
  std::array<std::atomic<std::uint64_t>, std::tuple_size_v<decltype(ErrorCounts::by_code)>>
      failed_{};
  Latencies* const latencies_;
  const std::atomic<std::uint32_t>* const epoch_;
  // Written by callers.
  std::atomic<std::uint64_t> refused_{0}, dropped_{0};
  std::thread thread_;
};

}  // namespace tiercache::engine
