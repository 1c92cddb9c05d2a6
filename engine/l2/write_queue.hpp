// engine/write_queue.hpp — the bounded queue between callers' set/purge and the writer thread.
//
// A libcds VyukovMPMCCycleQueue [1]: a fixed ring of cells, lock-free for producers and the
// consumer, FIFO across all producers (each enqueue takes a ticket), so a flush barrier really
// comes after every write queued before it. Full is an answer (try_enqueue returns false): what
// to do then is the writer's policy.
//
// [1] D. Vyukov, "Bounded MPMC queue", 1024cores.net.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "engine/base/one_shot.hpp"
#include "tiercache/error.hpp"

namespace tiercache::engine {

struct WriteOp {
  enum class Kind : std::uint8_t { set, erase, barrier };
  Kind kind = Kind::set;
  std::string key;
  std::string value;
  std::uint64_t expires_at_ms = 0;  // coarse clock; kNeverExpires for no TTL
  // Set for sync writes and flush barriers: completed with the write's outcome.
  std::shared_ptr<OneShot<Result<void>>> done;
};

class WriteQueue {
 public:
  // Holds at least `capacity` ops (rounded up to a power of two).
  explicit WriteQueue(std::size_t capacity);
  ~WriteQueue();

  // Never waits. False when full; `op` is then unchanged.
  bool try_enqueue(WriteOp& op);
  bool try_dequeue(WriteOp& out);
  std::size_t capacity() const noexcept;
  std::size_t size_approx() const noexcept;

  // The consumer sleeps until something was enqueued since `seen` (a value of enqueued_count()).
  std::uint32_t enqueued_count() const noexcept {
    return enqueued_.load(std::memory_order_acquire);
  }
  void wait_for_enqueue(std::uint32_t seen) const noexcept { enqueued_.wait(seen); }
  // Wakes the consumer without enqueueing (shutdown).
  void wake_consumer() noexcept;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  // Bumped after each enqueue; the consumer's futex.
  std::atomic<std::uint32_t> enqueued_{0};
};

}  // namespace tiercache::engine
