#include "engine/l2/write_queue.hpp"

#include <cds/container/vyukov_mpmc_cycle_queue.h>

#include "engine/base/wait_within.hpp"

namespace tiercache::engine {

struct WriteQueue::Ring {
  explicit Ring(std::size_t capacity) : queue(capacity) {}
  cds::container::VyukovMPMCCycleQueue<WriteOp> queue;
};

WriteQueue::WriteQueue(std::size_t max_ops, std::size_t max_bytes)
    : max_ops_(max_ops), max_bytes_(max_bytes), ring_(std::make_unique<Ring>(max_ops)) {}

WriteQueue::~WriteQueue() = default;

bool WriteQueue::has_room(std::size_t bytes) const noexcept {
  const std::uint64_t now = reserved_.load();
  return (now & kOpsMask) < max_ops_ && (now >> kOpsBits) + bytes <= max_bytes_;
}

bool WriteQueue::try_enqueue(WriteOp& op) {
  const std::uint64_t bytes = op.bytes();
  std::uint64_t now = reserved_.load();
  do {
    if ((now & kOpsMask) >= max_ops_ || (now >> kOpsBits) + bytes > max_bytes_) return false;
  } while (!reserved_.compare_exchange_weak(now, now + (bytes << kOpsBits) + 1));
  // The reservation keeps fewer than max_ops_ ops in the ring, whose capacity is at least that.
  // The cells are raw storage: enqueue constructs in place, dequeue destroys after the move.
  const bool queued = ring_->queue.enqueue(std::move(op));
  (void)queued;
  doorbell_->ring();
  return true;
}

bool WriteQueue::try_dequeue(WriteOp& out) {
  return ring_->queue.dequeue(out);
}

void WriteQueue::release(std::size_t bytes) noexcept {
  reserved_.fetch_sub((static_cast<std::uint64_t>(bytes) << kOpsBits) + 1);
  if (waiters_.load() == 0) return;
  // Taking the mutex orders this wake after a waiter's check of has_room().
  { std::lock_guard lock(room_mu_); }
  room_cv_.notify_all();
}

Result<void> WriteQueue::wait_for_room(const Context& ctx, std::size_t bytes, const char* op,
                                       const std::atomic<bool>* stop) {
  if (ctx.done()) return ended_while(ctx, op, "while the write queue stayed full");
  waiters_.fetch_add(1);
  std::unique_lock lock(room_mu_);
  const bool woken = wait_within(ctx, lock, room_cv_, [&] {
    return has_room(bytes) || (stop != nullptr && stop->load(std::memory_order_relaxed));
  });
  lock.unlock();
  waiters_.fetch_sub(1);
  if (woken) return {};
  return ended_while(ctx, op, "while the write queue stayed full");
}

void WriteQueue::wake_room_waiters() {
  // Taking the mutex orders this wake after a waiter's look at its stop flag.
  { std::lock_guard lock(room_mu_); }
  room_cv_.notify_all();
}

}  // namespace tiercache::engine
