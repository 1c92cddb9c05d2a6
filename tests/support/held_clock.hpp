// tests/support/held_clock.hpp — holds the cache's coarse clock (engine/l1/coarse_clock.hpp)
// still, so that a test's TTLs and refresh windows pass only when it moves the clock, however
// slow or loaded the machine is.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

#include "engine/l1/coarse_clock.hpp"

namespace test {

// For the scope of one test. Hold it before the test opens a cache or starts a thread, and so
// before any cache stamps a time (the clock comes back to the real time at scope exit, which is
// behind the held one); tests run one at a time, so one hold at a time.
class HeldClock {
 public:
  HeldClock() : start_ms_(tiercache::engine::coarse_now_ms()) { hold().store(start_ms_); }
  ~HeldClock() { hold().store(0); }
  HeldClock(const HeldClock&) = delete;
  HeldClock& operator=(const HeldClock&) = delete;

  // Moves the clock `d` ahead, for every thread at once. Any thread may call it.
  void advance(std::chrono::milliseconds d) noexcept {
    hold().fetch_add(static_cast<std::uint64_t>(d.count()));
  }
  // How far advance() has moved the clock since the hold began.
  std::chrono::milliseconds advanced() const noexcept {
    return std::chrono::milliseconds(hold().load() - start_ms_);
  }

 private:
  static std::atomic<std::uint64_t>& hold() noexcept {
    return tiercache::engine::clock_hold.held_ms;
  }

  const std::uint64_t start_ms_;
};

}  // namespace test
