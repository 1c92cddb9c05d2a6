// engine/l2/write_queue.hpp — the bounded queue between callers' set/purge and the writer thread.
//
// A libcds VyukovMPMCCycleQueue [1]: a fixed ring of cells, lock-free for producers and the
// consumer, FIFO across all producers (each enqueue takes a ticket), so a flush barrier really
// comes after every write queued before it.
//
// The bounds (Options.writer.queue_max_ops and queue_max_bytes) cover a write from its enqueue
// until it is settled (acknowledged, failed for good, or dropped), not until it is dequeued:
// writes the writer holds for a retry while L2 is down still count. So room is reserved by
// try_enqueue() and given back by release(), and the ring itself can never be full.
//
// [1] D. Vyukov, "Bounded MPMC queue", 1024cores.net.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>

#include "engine/base/doorbell.hpp"
#include "engine/l2/write_op.hpp"
#include "tiercache/context.hpp"

namespace tiercache::engine {

class WriteQueue {
 public:
  WriteQueue(std::size_t max_ops, std::size_t max_bytes);
  ~WriteQueue();

  // Never waits. Reserves room for `op` and queues it; false (`op` unchanged) when either bound
  // would be passed.
  bool try_enqueue(WriteOp& op);
  bool try_dequeue(WriteOp& out);
  // Gives back the room of a settled op, waking callers that wait for room.
  void release(std::size_t bytes) noexcept;
  // Waits within ctx until an op of `bytes` would fit (it may still not, if another caller is
  // quicker: try again), or until `*stop` holds (then also returns: the caller looks at it).
  // timeout / cancelled, naming `op`, when ctx ends first or had ended: a caller that keeps
  // losing the room to quicker ones stops at its deadline.
  Result<void> wait_for_room(const Context& ctx, std::size_t bytes, const char* op,
                             const std::atomic<bool>* stop = nullptr);
  // Wakes every caller in wait_for_room(), so each looks at its `stop` again.
  void wake_room_waiters();
  // Callers in wait_for_room() now. For tests.
  std::size_t room_waiters() const noexcept { return waiters_.load(); }

  std::size_t max_ops() const noexcept { return max_ops_; }
  std::size_t max_bytes() const noexcept { return max_bytes_; }
  // Ops and bytes reserved now: queued, held by the writer, or in flight.
  std::size_t reserved_ops() const noexcept { return reserved_.load() & kOpsMask; }
  std::size_t reserved_bytes() const noexcept { return reserved_.load() >> kOpsBits; }

  // Bits of the reservation word that count ops (up to Options' limit of 2^24); the rest count
  // bytes, so queue_max_bytes is at most kMaxBytes.
  static constexpr unsigned kOpsBits = 25;
  static constexpr std::uint64_t kOpsMask = (std::uint64_t{1} << kOpsBits) - 1;
  static constexpr std::uint64_t kMaxBytes = (std::uint64_t{1} << (64 - kOpsBits)) - 1;

  // Rung by every enqueue; the consumer sleeps on it, and others may ring it too. Shared, so a
  // backend's late answer can still ring it after the writer is gone.
  const std::shared_ptr<Doorbell>& doorbell() const noexcept { return doorbell_; }

 private:
  bool has_room(std::size_t bytes) const noexcept;

  struct Ring;
  const std::size_t max_ops_;
  const std::size_t max_bytes_;
  std::unique_ptr<Ring> ring_;
  // Ops and bytes reserved, in one word so one compare-and-swap takes both or neither: with two
  // counters a caller that took one and then had to give it back could make another caller see
  // a full queue that is not. Seq_cst, with waiters_: a caller that finds no room and then
  // waits either sees the release that made room, or the releaser sees it waiting.
  std::atomic<std::uint64_t> reserved_{0};
  std::atomic<std::uint32_t> waiters_{0};
  std::mutex room_mu_;
  std::condition_variable_any room_cv_;
  const std::shared_ptr<Doorbell> doorbell_ = std::make_shared<Doorbell>();
};

}  // namespace tiercache::engine
