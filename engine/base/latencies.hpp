// engine/base/latencies.hpp — a cache's latency histograms, and the timer a call carries.
//
// A call answered by L1 alone is timed one in sample_every, each call independently: a thread
// draws, from its own seeded generator, how much "hazard" it may spend before its next timed
// call (an exponential draw), and each call spends its cache's share (-ln(1 - 1/sample_every)).
// Exponential gaps have no memory, so each call is timed with probability 1/sample_every
// whatever came before, even when caches with different rates take turns on a thread; the
// common call pays a compare and a subtraction, and writes nothing shared. A call that leaves L1 is
// timed from then on if it was not sampled, so every slow call is counted and the fast path reads
// no clock. The tier a call reached is L1 until it leaves L1, then L2, or the origin if its cache
// ran a loader for it (the innermost timed call of that cache on this thread: another cache's
// loader, run by a callback of this call, does not count).
#pragma once

#include <array>
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
class Latencies;

namespace latency {
// The hazard this thread may still spend before its next timed call, in units of 2^-32; 0
// until its first call draws it.
extern constinit thread_local std::uint64_t hazard_left;
// The rare side of Latencies::sampled(): a call that spends what is left (or the thread's
// first call) draws the next gap, and says whether it is timed.
bool timed_after_draw(std::uint64_t hazard) noexcept;
// A call's share of the hazard when one in `sample_every` is timed, in units of 2^-32.
std::uint64_t hazard_of(std::uint32_t sample_every) noexcept;
// The timed calls in progress on this thread, innermost last, and whether their cache ran a
// loader for them.
struct Frames {
  struct Frame {
    const Latencies* latencies;
    std::uint32_t generation;  // tells a frame from the one a later call put in its place
    bool ran_loader;
  };
  std::array<Frame, 16> at;
  std::size_t depth;
  std::uint32_t generation;
};
extern constinit thread_local Frames frames;
}  // namespace latency

inline std::uint64_t now_ns() noexcept {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

class Latencies {
 public:
  // `sample_every` a power of two (Options checked).
  Latencies(bool on, std::uint32_t sample_every) noexcept
      : on_(on), hazard_(latency::hazard_of(sample_every)) {}

  bool on() const noexcept { return on_; }
  // Whether the call starting now is one of the 1 in sample_every that are timed.
  bool sampled() const noexcept {
    if (!on_) return false;
    std::uint64_t& left = latency::hazard_left;
    if (left > hazard_) [[likely]] {
      left -= hazard_;
      return false;
    }
    return latency::timed_after_draw(hazard_);
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
  const std::uint64_t hazard_;
  StripedHistograms<kHistogramCount> cells_;
};

// Times one call, into its histogram by the tier it reached, if it is sampled or leaves L1.
class CallTimer {
 public:
  CallTimer(Latencies& latencies, Op op) noexcept : latencies_(latencies), op_(op) {
    if (latencies.sampled()) [[unlikely]]
      start(Tier::l1);
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
    if (started_at_ == 0) {
      if (latencies_.on()) start(Tier::l2);
    } else if (tier_ == Tier::l1) {
      tier_ = Tier::l2;
    }
  }

  // The cache recording into `latencies` runs a loader on this thread: for its innermost timed
  // call here, which has left L1 by then.
  static void loader_runs(const Latencies& latencies) noexcept {
    latency::Frames& f = latency::frames;
    for (std::size_t i = f.depth; i-- > 0;) {
      if (f.at[i].latencies == &latencies) {
        f.at[i].ran_loader = true;
        return;
      }
    }
  }

 private:
  // Only a started timer sets the other fields: the common call, an L1 hit not sampled,
  // stores nothing but the first three.
  void start(Tier tier) noexcept {
    tier_ = tier;
    started_at_ = now_ns();
    // Calls nest (a loader or callback calling in again): each started one takes a frame on its
    // thread's stack. Deeper than the stack, a call is timed but cannot reach the origin.
    latency::Frames& f = latency::frames;
    frames_ = nullptr;
    if (f.depth == f.at.size()) return;
    frame_ = static_cast<std::uint32_t>(f.depth++);
    generation_ = ++f.generation;
    f.at[frame_] = {&latencies_, generation_, false};
    frames_ = &f;
  }
  void finish() noexcept {
    // The frame is read only on the thread that pushed it, and only if it is still this call's:
    // a call suspended and resumed elsewhere (a fiber scheduler) or popped by a call that ended
    // out of order keeps the tier it had, and nothing it reads can be another call's memory.
    latency::Frames& f = latency::frames;
    if (frames_ == &f && frame_ < f.depth && f.at[frame_].generation == generation_) {
      if (f.at[frame_].ran_loader) tier_ = Tier::origin;
      f.depth = frame_;  // also drops frames of calls above that never ended here
    }
    latencies_.record_call(op_, tier_, now_ns() - started_at_);
  }

  Latencies& latencies_;
  const Op op_;
  std::uint64_t started_at_ = 0;  // 0: not timed (steady_clock counts from boot, never 0 here)
  Tier tier_;
  latency::Frames* frames_;  // the thread's that started this timer; null without a frame
  std::uint32_t frame_;
  std::uint32_t generation_;
};

}  // namespace tiercache::engine
