// engine/l1/coarse_clock.hpp — cheap milliseconds for TTLs.
//
// CLOCK_MONOTONIC_COARSE is served by the vDSO from the last timer tick: no syscall, a few
// nanoseconds, resolution of one tick (1-4 ms). An entry may therefore live up to one tick past
// its TTL, never less than its TTL minus one tick.
//
// Tests may hold this clock still (tests/support/held_clock.hpp), so that TTLs and refresh
// windows pass when the test says, not with the machine's speed. Outside tests that costs a read
// with a TTL one load of a line nobody writes and a branch always taken the same way (make
// hit-cost: get_into_ttl).
#pragma once

#include <time.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>

#include "engine/base/memory_order.hpp"

namespace tiercache::engine {

// How far coarse_now_ms() may lag the real monotonic time: one tick, at least 1 ms.
inline std::uint64_t coarse_resolution_ms() noexcept {
  static const std::uint64_t ms = [] {
    timespec res{};
    clock_getres(CLOCK_MONOTONIC_COARSE, &res);
    const std::uint64_t ns = static_cast<std::uint64_t>(res.tv_sec) * 1'000'000'000 +
                             static_cast<std::uint64_t>(res.tv_nsec);
    return std::max<std::uint64_t>(1, (ns + 999'999) / 1'000'000);
  }();
  return ms;
}

// Expiry of an entry that never expires; compares greater than any now_ms().
inline constexpr std::uint64_t kNeverExpires = UINT64_MAX;

// The instant a test holds the clock at (tests/support/held_clock.hpp), 0 when none does. Only
// tests write it, and before they start the threads that read it; its own line, so that no write
// elsewhere bounces the one every read with a TTL loads.
struct alignas(64) ClockHold {
  std::atomic<std::uint64_t> held_ms{0};
};
inline constinit ClockHold clock_hold;

inline std::uint64_t coarse_now_ms() noexcept {
  // Relaxed: a held clock is set before the test's threads start (thread creation orders it),
  // and a move of it need only be seen soon, as a tick of the real clock is.
  if (const std::uint64_t held = clock_hold.held_ms.load(kRelaxed); held != 0) [[unlikely]]
    return held;
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<std::uint64_t>(ts.tv_sec) * 1000 +
         static_cast<std::uint64_t>(ts.tv_nsec) / 1'000'000;
}

// Absolute expiry for a TTL starting now; a zero TTL means "never".
inline std::uint64_t expiry_after(std::chrono::milliseconds ttl) noexcept {
  if (ttl.count() <= 0) return kNeverExpires;
  return coarse_now_ms() + static_cast<std::uint64_t>(ttl.count());
}

}  // namespace tiercache::engine
