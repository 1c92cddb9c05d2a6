// adapters/job_queue.hpp — hands work from the callers' threads to one of a backend's own (the
// file store's lanes, memcached's lanes).
//
// Any thread pushes; one thread pops. stop() makes every later push fail and the popping thread
// take what is left with drain(), so that nothing pushed is lost between the two: each job is
// either popped, drained, or refused to its pusher.
#pragma once

#include <chrono>
#include <condition_variable>
#include <deque>
#include <iterator>
#include <mutex>
#include <optional>
#include <vector>

namespace tiercache::adapters {

template <class Job>
class JobQueue {
 public:
  using Clock = std::chrono::steady_clock;

  // False once stopped: the caller still holds the job and answers it itself.
  bool push(Job& job) {
    {
      std::lock_guard lock(mu_);
      if (stopped_) return false;
      jobs_.push_back(std::move(job));
    }
    cv_.notify_one();
    return true;
  }

  // The next job, or nothing once stopped or at `deadline`.
  std::optional<Job> pop(Clock::time_point deadline) {
    std::unique_lock lock(mu_);
    cv_.wait_until(lock, deadline, [&] { return stopped_ || !jobs_.empty(); });
    if (stopped_ || jobs_.empty()) return std::nullopt;
    Job job = std::move(jobs_.front());
    jobs_.pop_front();
    return job;
  }

  void stop() {
    {
      std::lock_guard lock(mu_);
      stopped_ = true;
    }
    cv_.notify_all();
  }

  bool is_stopped() const {
    std::lock_guard lock(mu_);
    return stopped_;
  }

  // After stop(): what was pushed and never popped.
  std::vector<Job> drain() {
    std::lock_guard lock(mu_);
    std::vector<Job> left(std::make_move_iterator(jobs_.begin()),
                          std::make_move_iterator(jobs_.end()));
    jobs_.clear();
    return left;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> jobs_;
  bool stopped_ = false;
};

}  // namespace tiercache::adapters
