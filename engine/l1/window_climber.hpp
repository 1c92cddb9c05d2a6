// engine/l1/window_climber.hpp — sizes a shard's recency window by hill climbing on the hit
// ratio, as Caffeine does [1]: after each sample, keep moving the window's share the way that
// last raised the hit ratio, reverse when it fell; steps shrink while the ratio settles and
// restart when it jumps (the workload changed). Touched only under the shard's writer lock.
//
// The hit ratio is the ring's view of it: hits are the counts the hand takes back from entries
// (Entry::hits, capped at kMaxHitCount between two passes, so a very hot key counts less than
// it was read), misses are inserts. Reads tell the climber nothing directly; that would be a
// shared write per hit.
//
// [1] Einziger, Eytan, Friedman, Manes, "Adaptive Software Cache Management", Middleware 2018.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace tiercache::engine {

// The window's share of the entries at start: Caffeine's 1 %.
inline constexpr double kInitialWindowShare = 0.01;
// Bounds of the window's share. At 0 the window still holds one entry besides the newest; at 1
// there is no contest and the ring is the plain 2-bit CLOCK, the best policy for traces where
// recency is all (lirs_zigzag: LRU is optimal there).
inline constexpr double kMinWindowShare = 0.0;
inline constexpr double kMaxWindowShare = 1.0;
// A step moves the window by this share of the entries (Caffeine: 6.25 %).
inline constexpr double kClimbStepShare = 0.0625;
// Each sample that changes the hit ratio by less than kClimbRestartDelta shrinks the step so.
inline constexpr double kClimbStepDecay = 0.98;
// A change of the hit ratio this large means a new workload: the step starts over.
inline constexpr double kClimbRestartDelta = 0.05;
// Events (hits harvested plus misses) per entry in one sample (Caffeine: 10 requests). Harvested
// hits undercount requests, and the short LIRS traces end before 10 would take many steps.
inline constexpr std::size_t kClimbSamplePerEntry = 3;

class WindowClimber {
 public:
  void record_hit() noexcept { ++hits_; }
  void record_miss() noexcept { ++misses_; }
  // The window's share of the entries now.
  double window_share() const noexcept { return share_; }

  // Ends the sample once it holds kClimbSamplePerEntry events per entry, and moves the share.
  void maybe_climb(std::size_t entries) noexcept {
    const std::size_t events = hits_ + misses_;
    if (events < std::max<std::size_t>(entries, 1) * kClimbSamplePerEntry) return;
    const double hit_ratio = static_cast<double>(hits_) / static_cast<double>(events);
    const double change = hit_ratio - previous_hit_ratio_;
    const double amount = change >= 0 ? step_ : -step_;
    step_ = std::abs(change) >= kClimbRestartDelta
                ? (amount >= 0 ? kClimbStepShare : -kClimbStepShare)
                : amount * kClimbStepDecay;
    const double moved = share_ + amount;
    share_ = std::clamp(moved, kMinWindowShare, kMaxWindowShare);
    // At a bound the next step probes back: a climber that kept pushing into a wall while the
    // hit ratio rose for other reasons (a cache warming up) would never look the other way.
    if (moved != share_) step_ = -step_;
    previous_hit_ratio_ = hit_ratio;
    hits_ = 0;
    misses_ = 0;
  }

 private:
  double share_ = kInitialWindowShare;
  // Caffeine starts by shrinking the window.
  double step_ = -kClimbStepShare;
  double previous_hit_ratio_ = 0;
  std::size_t hits_ = 0;
  std::size_t misses_ = 0;
};

}  // namespace tiercache::engine
