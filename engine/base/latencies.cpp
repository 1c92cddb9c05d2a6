#include "engine/base/latencies.hpp"

#include <atomic>
#include <cmath>
#include <limits>

namespace tiercache::engine::latency {

constinit thread_local std::uint64_t hazard_left = 0;
constinit thread_local Frames frames{};

namespace {

constexpr double kUnit = 4294967296.0;  // 2^32: one unit of hazard

// This thread's splitmix64 state, seeded at its first draw.
constinit thread_local std::uint64_t draw_state = 0;

std::uint64_t splitmix64(std::uint64_t& state) noexcept {
  std::uint64_t z = (state += 0x9E3779B97F4A7C15);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
  return z ^ (z >> 31);
}

// Threads started together must not draw alike: a process-wide count tells them apart, the
// clock and the thread's own address tell processes apart.
void seed_this_thread() noexcept {
  static std::atomic<std::uint64_t> threads_seeded{0};
  std::uint64_t s = threads_seeded.fetch_add(1, std::memory_order_relaxed);
  s ^= now_ns() * 0xD6E8FEB86659FD93;
  s ^= reinterpret_cast<std::uintptr_t>(&draw_state);
  draw_state = s;
  splitmix64(draw_state);
}

// An exponential draw with mean 1, in units of 2^-32; never 0, so 0 keeps meaning "not drawn".
std::uint64_t draw_gap() noexcept {
  // u in (0, 1]: the top 53 bits, plus one ulp so the log is finite (at most 36.8).
  const double u = static_cast<double>((splitmix64(draw_state) >> 11) + 1) * 0x1p-53;
  const auto gap = static_cast<std::uint64_t>(-std::log(u) * kUnit);
  return gap == 0 ? 1 : gap;
}

}  // namespace

bool timed_after_draw(std::uint64_t hazard) noexcept {
  std::uint64_t left = hazard_left;
  if (left == 0) {  // this thread's first call
    seed_this_thread();
    left = draw_gap();
  }
  // An exponential gap has no memory: what is left after a call not timed is again one.
  const bool timed = left <= hazard;
  hazard_left = timed ? draw_gap() : left - hazard;
  return timed;
}

std::uint64_t hazard_of(std::uint32_t sample_every) noexcept {
  // Every call timed: more than any gap can hold.
  if (sample_every <= 1) return std::numeric_limits<std::uint64_t>::max();
  return static_cast<std::uint64_t>(-std::log1p(-1.0 / sample_every) * kUnit + 0.5);
}

}  // namespace tiercache::engine::latency
