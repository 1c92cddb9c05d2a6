// engine/base/task_pool.hpp — a few threads that run queued tasks, with a bounded queue.
//
// A task is called once: with `true` on a pool thread to do its work, or with `false` if the
// pool stops before it ran (it must then give up what it holds). stop() waits for the running
// tasks, cancels the queued ones and joins the threads; nothing is called after it returns.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace tiercache::engine {

class TaskPool {
 public:
  using Task = std::function<void(bool run)>;

  // `threads` threads (none: every submit is refused), at most `max_queued` tasks waiting.
  TaskPool(std::size_t threads, std::size_t max_queued);
  ~TaskPool() { stop(); }
  TaskPool(const TaskPool&) = delete;
  TaskPool& operator=(const TaskPool&) = delete;

  // Queues `task`; false (and `task` is not called) if the queue is full or the pool stopped.
  bool submit(Task task);
  // Calls every queued task with `false`; the running ones go on, and new ones are taken.
  void cancel_queued();
  void stop();

 private:
  void work();

  const std::size_t max_queued_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Task> queue_;  // guarded by mu_
  bool stopping_ = false;   // guarded by mu_
  std::vector<std::thread> threads_;
};

}  // namespace tiercache::engine
