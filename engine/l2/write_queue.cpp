#include "engine/l2/write_queue.hpp"

#include <cds/container/vyukov_mpmc_cycle_queue.h>

namespace tiercache::engine {

struct WriteQueue::Impl {
  explicit Impl(std::size_t capacity) : queue(capacity) {}
  // Counted, so stats can report the depth.
  using Traits = cds::container::vyukov_queue::make_traits<
      cds::opt::item_counter<cds::atomicity::item_counter>>::type;
  cds::container::VyukovMPMCCycleQueue<WriteOp, Traits> queue;
};

WriteQueue::WriteQueue(std::size_t capacity) : impl_(std::make_unique<Impl>(capacity)) {}
WriteQueue::~WriteQueue() = default;

bool WriteQueue::try_enqueue(WriteOp& op) {
  // The cells are raw storage: enqueue constructs in place, dequeue destroys after the move.
  if (!impl_->queue.enqueue(std::move(op))) return false;
  // Release: the consumer that sees the new count also sees the op.
  enqueued_.fetch_add(1, std::memory_order_release);
  enqueued_.notify_one();
  return true;
}

bool WriteQueue::try_dequeue(WriteOp& out) {
  return impl_->queue.dequeue(out);
}

std::size_t WriteQueue::capacity() const noexcept {
  return impl_->queue.capacity();
}
std::size_t WriteQueue::size_approx() const noexcept {
  return impl_->queue.size();
}

void WriteQueue::wake_consumer() noexcept {
  enqueued_.fetch_add(1, std::memory_order_release);
  enqueued_.notify_all();
}

}  // namespace tiercache::engine
