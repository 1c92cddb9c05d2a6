#include "engine/base/task_pool.hpp"

namespace tiercache::engine {

TaskPool::TaskPool(std::size_t threads, std::size_t max_queued) : max_queued_(max_queued) {
  threads_.reserve(threads);
  try {
    for (std::size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { work(); });
  } catch (...) {
    stop();
    throw;
  }
}

bool TaskPool::submit(Task task) {
  {
    std::lock_guard lock(mu_);
    if (stopping_ || threads_.empty() || queue_.size() >= max_queued_) return false;
    queue_.push_back(std::move(task));
  }
  cv_.notify_one();
  return true;
}

void TaskPool::cancel_queued() {
  std::deque<Task> cancelled;
  {
    std::lock_guard lock(mu_);
    cancelled.swap(queue_);
  }
  for (Task& t : cancelled) t(false);
}

void TaskPool::stop() {
  std::deque<Task> cancelled;
  {
    std::lock_guard lock(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
    cancelled.swap(queue_);
  }
  cv_.notify_all();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  for (Task& t : cancelled) t(false);
}

void TaskPool::work() {
  for (;;) {
    Task task;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    task(true);
  }
}

}  // namespace tiercache::engine
