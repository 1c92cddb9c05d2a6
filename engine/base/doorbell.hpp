// engine/base/doorbell.hpp — how producers wake one consumer thread without a syscall when it
// is awake: ring() is an atomic add, plus a notify only while the consumer sleeps.
//
// Seq_cst between `rings_` and `sleeping_`: a consumer that announces it sleeps and then finds
// no new ring, and a producer that rings and then finds nobody asleep, cannot both miss each
// other; the mutex orders the notify after the consumer's check.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>

namespace tiercache::engine {

class Doorbell {
 public:
  using Clock = std::chrono::steady_clock;

  // What the consumer saw before it looked for work; pass it to wait_until.
  std::uint64_t rings() const noexcept { return rings_.load(); }

  void ring() noexcept {
    rings_.fetch_add(1);
    if (!sleeping_.load()) return;
    { std::lock_guard lock(mu_); }
    cv_.notify_one();
  }

  // Sleeps until a ring after `seen`, or `deadline` (time_point::max(): none).
  void wait_until(std::uint64_t seen, Clock::time_point deadline) {
    sleeping_.store(true);
    {
      std::unique_lock lock(mu_);
      auto rung = [&] { return rings_.load() != seen; };
      if (deadline == Clock::time_point::max()) {
        cv_.wait(lock, rung);
      } else {
        cv_.wait_until(lock, deadline, rung);
      }
    }
    sleeping_.store(false);
  }

 private:
  std::atomic<std::uint64_t> rings_{0};
  std::atomic<bool> sleeping_{false};
  std::mutex mu_;
  std::condition_variable cv_;
};

}  // namespace tiercache::engine
