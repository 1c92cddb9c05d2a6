// engine/l1/coarse_clock.hpp — cheap milliseconds for TTLs.
//
// CLOCK_MONOTONIC_COARSE is served by the vDSO from the last timer tick: no syscall, a few
// nanoseconds, resolution of one tick (1-4 ms). An entry may therefore live up to one tick past
// its TTL, never less than its TTL minus one tick.
#pragma once

#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdint>

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

inline std::uint64_t coarse_now_ms() noexcept {
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
