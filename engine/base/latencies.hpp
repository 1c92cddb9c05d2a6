// engine/base/latencies.hpp — a cache's latency histograms, and the timer a call carries.
//
// A call answered by L1 alone is timed one in sample_every: a per-thread random draw decides
// (so the choice writes nothing shared, and no repeating pattern of calls, across caches or
// operations, locks onto one phase of it). A call that leaves L1 is timed from then on if it was
// not sampled, so every slow call is counted and the fast path reads no clock. The tier a call
// reached is L1 until it leaves L1, then L2, or the origin if its cache ran a loader for it
// (the innermost timed call of that cache on this thread: another cache's loader, run by a
// callback of this call, does not count).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

#include "engine/base/striped_histograms.hpp"
#include "tiercache/metrics.hpp"

namespace tiercache::engine {

// The histograms after the calls' (kOpCount x kTierCount of them, op-major).
enum class Timed : std::size_t {
  l2_read = kOpCount * kTierCount,
  load,
  write_batch,
  write_batch_size,
};
inline constexpr std::size_t kHistogramCount =
    static_cast<std::size_t>(Timed::write_batch_size) + 1;

class CallTimer;

namespace latency {
// This thread's xorshift64 state for the 1-in-N choice (never 0).
extern constinit thread_local std::uint64_t draw_state;
// The innermost timed call on this thread, or null; each links to the one around it.
extern constinit thread_local CallTimer* innermost;
}  // namespace latency

inline std::uint64_t now_ns() noexcept {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

class Latencies {
 public:
  // `sample_every` a power of two (Options checked).
  Latencies(bool on, std::uint32_t sample_every) noexcept : on_(on), mask_(sample_every - 1) {}

  bool on() const noexcept { return on_; }
  // Whether the call starting now is one of the 1 in sample_every that are timed.
  bool sampled() const noexcept {
    if (!on_) return false;
    std::uint64_t x = latency::draw_state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    latency::draw_state = x;
    // The high half: xorshift's low bits are its weakest.
    return ((x >> 32) & mask_) == 0;
  }

  void record_call(Op op, Tier tier, std::uint64_t ns) noexcept {
    cells_.record(static_cast<std::size_t>(op) * kTierCount + static_cast<std::size_t>(tier), ns);
  }
  // Records only when on: write batch sizes too follow the option.
  void record(Timed which, std::uint64_t value) noexcept {
    if (on_) cells_.record(static_cast<std::size_t>(which), value);
  }
  Histogram call_snapshot(Op op, Tier tier) const {
    return cells_.snapshot(static_cast<std::size_t>(op) * kTierCount +
                           static_cast<std::size_t>(tier));
  }
  Histogram snapshot(Timed which) const { return cells_.snapshot(static_cast<std::size_t>(which)); }

 private:
  const bool on_;
  const std::uint32_t mask_;
  StripedHistograms<kHistogramCount> cells_;
};

// Times one call, into its histogram by the tier it reached, if it is sampled or leaves L1.
class CallTimer {
 public:
  CallTimer(Latencies& latencies, Op op) noexcept : latencies_(latencies), op_(op) {
    if (latencies.sampled()) [[unlikely]]
      start();
  }
  CallTimer(const CallTimer&) = delete;
  CallTimer& operator=(const CallTimer&) = delete;
  ~CallTimer() {
    if (started_at_ != 0) [[unlikely]]
      finish();
  }

  // The call goes past L1 (reads L2, waits on another caller, runs a loader, waits for L2 to
  // take a write, or for room in the write queue).
  void left_l1() noexcept {
    if (tier_ == Tier::l1) tier_ = Tier::l2;
    if (started_at_ == 0 && latencies_.on()) start();
  }

  // The cache recording into `latencies` runs a loader on this thread: for its innermost timed
  // call here, which has left L1 by then.
  static void loader_runs(const Latencies& latencies) noexcept {
    for (CallTimer* t = latency::innermost; t != nullptr; t = t->outer_) {
      if (&t->latencies_ == &latencies) {
        t->tier_ = Tier::origin;
        return;
      }
    }
  }

 private:
  void start() noexcept {
    started_at_ = now_ns();
    // Calls nest (a loader or callback calling in again), and end in the reverse order.
    outer_ = latency::innermost;
    latency::innermost = this;
  }
  void finish() noexcept {
    latency::innermost = outer_;
    latencies_.record_call(op_, tier_, now_ns() - started_at_);
  }

  Latencies& latencies_;
  const Op op_;
  Tier tier_ = Tier::l1;
  std::uint64_t started_at_ = 0;  // 0: not timed (steady_clock counts from boot, never 0 here)
  CallTimer* outer_ = nullptr;
};

}  // namespace tiercache::engine
