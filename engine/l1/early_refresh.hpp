// engine/l1/early_refresh.hpp — when a read should reload a value before it expires
// (probabilistic early expiration, "XFetch" [1]).
//
// A value that took `delta` to load is refreshed by a read at time `now` when
//     now - delta * beta * ln(u) >= expiry,    u uniform in (0, 1]
// so the chance grows as expiry nears, the more so the longer the load: one reader draws it
// shortly before expiry, and a hot key is reloaded while its value is still served. An entry
// keeps `delta` in six bits of its CLOCK byte (Entry::load_time_code): 0 for "unknown" (a set, or a
// value read from L2), else 2^((code - 1) / 4) ms, from 1 ms to 46 s with 19 % steps.
//
// [1] Vattani, Chierichetti, Lowenstein, "Optimal Probabilistic Cache Stampede Prevention",
//     PVLDB 8(8), 2015.
#pragma once

#include <array>
#include <chrono>
#include <cmath>
#include <cstdint>

namespace tiercache::engine {

inline constexpr unsigned kMaxLoadTimeCode = 63;

// The code of a load that took `d`; at least 1 (a load shorter than 1 ms counts as 1 ms).
inline std::uint8_t load_time_code(std::chrono::nanoseconds d) noexcept {
  const double ms = std::chrono::duration<double, std::milli>(d).count();
  if (!(ms > 1)) return 1;
  const double code = 1 + std::round(4 * std::log2(ms));
  return static_cast<std::uint8_t>(code >= kMaxLoadTimeCode ? kMaxLoadTimeCode : code);
}

// The load time a code stands for, in ms; 0 for code 0.
inline double load_time_ms(unsigned code) noexcept {
  static const std::array<double, kMaxLoadTimeCode + 1> table = [] {
    std::array<double, kMaxLoadTimeCode + 1> t{};
    for (unsigned c = 1; c <= kMaxLoadTimeCode; ++c) t[c] = std::exp2((c - 1) / 4.0);
    return t;
  }();
  return table[code & kMaxLoadTimeCode];
}

// No read draws a refresh earlier than this many times delta * beta before expiry. With R reads
// per delta, XFetch's first draw comes about ln(R * beta) deltas early: at 1000 reads per load
// time, 7, which for a TTL a few load times long means reloading several times per TTL. Three
// leaves the refresh two load times to land before expiry (a read there still draws it with a
// chance of e^-3 = 5 %), and spares a logarithm on every read before.
inline constexpr double kMaxRefreshLead = 3;

// `code`, lowered until a refresh starts no earlier than half of `ttl_ms` before expiry (0, no
// early refresh at all, if even 1 ms is too long): with a TTL shorter than a few load times,
// the lead would otherwise reach back to the refresh before, and loads would run back to back.
inline std::uint8_t load_time_code_within(std::uint8_t code, double ttl_ms, double beta) noexcept {
  while (code != 0 && load_time_ms(code) * beta * kMaxRefreshLead > ttl_ms / 2) --code;
  return code;
}

// Whether a value `left_ms` before expiry that took `code` to load may be refreshed at all.
inline bool within_refresh_lead(std::uint64_t left_ms, unsigned code, double beta) noexcept {
  return static_cast<double>(left_ms) < load_time_ms(code) * beta * kMaxRefreshLead;
}

// Whether a read `left_ms` before expiry draws the refresh of a value that took `code` to load.
inline bool draws_refresh(std::uint64_t left_ms, unsigned code, double beta) noexcept {
  if (!within_refresh_lead(left_ms, code, beta)) return false;
  const double window = load_time_ms(code) * beta;
  // xorshift64*, one state per thread: a read must write no shared line.
  constinit thread_local std::uint64_t state = 0;
  if (state == 0) state = reinterpret_cast<std::uintptr_t>(&state) | 1;
  state ^= state >> 12;
  state ^= state << 25;
  state ^= state >> 27;
  // u in (0, 1]: 53 random bits, plus one so that it is never 0.
  const double u = static_cast<double>(((state * 0x2545F4914F6CDD1Dull) >> 11) + 1) * 0x1.0p-53;
  return -std::log(u) * window >= static_cast<double>(left_ms);
}

}  // namespace tiercache::engine
