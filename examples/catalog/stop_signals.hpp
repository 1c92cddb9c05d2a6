// examples/catalog/stop_signals.hpp — StopSignals: Ctrl-C (SIGINT) and SIGTERM as events the demo
// waits for, instead of handlers.
//
// Made first in main, before any thread starts (the caches', the HTTP servers', the load's) and
// before redis-server is forked: it blocks both signals, every later thread inherits the mask,
// and so they reach only wait_until(). No handler runs, nothing async-signal-unsafe happens, and
// the demo stops its private redis-server on the way out as on any other exit.
#pragma once

#include <signal.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>

namespace catalog {

class StopSignals {
 public:
  using Clock = std::chrono::steady_clock;

  StopSignals() {
    sigemptyset(&signals_);
    sigaddset(&signals_, SIGINT);
    sigaddset(&signals_, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &signals_, nullptr);
  }
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

  // Waits until `until` or SIGINT / SIGTERM, whichever comes first; returns the signal (also
  // kept for received()) or 0. One thread at a time.
  int wait_until(Clock::time_point until) {
    if (const int earlier = received()) return earlier;
    for (;;) {
      const auto left = std::max(until - Clock::now(), Clock::duration::zero());
      const auto whole = std::chrono::duration_cast<std::chrono::seconds>(left);
      const timespec timeout{.tv_sec = static_cast<time_t>(whole.count()),
                             .tv_nsec = static_cast<long>((left - whole).count())};
      const int signal = sigtimedwait(&signals_, nullptr, &timeout);
      if (signal > 0) {
        // relaxed: read by threads that only stop sooner for it.
        received_.store(signal, std::memory_order_relaxed);
        return signal;
      }
      if (errno == EAGAIN) return 0;
      // EINTR: another signal interrupted the wait; wait out the rest.
    }
  }

  // The signal a wait took, or 0.
  int received() const { return received_.load(std::memory_order_relaxed); }

  // The set blocked, for a child process to unblock (gnuplot).
  const sigset_t& signals() const { return signals_; }

  static const char* name(int signal) {
    return signal == SIGINT ? "SIGINT" : signal == SIGTERM ? "SIGTERM" : "a signal";
  }

 private:
  sigset_t signals_;
  std::atomic<int> received_{0};
};

}  // namespace catalog
