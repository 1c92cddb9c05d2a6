// engine/l1/window_sizer.hpp — sizes a shard's recency window the way ARC [1] sizes its
// recency list: from ghosts, the keys the ring evicted lately. A miss on a key the window
// evicted (a rejected candidate, or the window's own victim) says a larger window would have
// hit: the window grows. A miss on a key the main CLOCK evicted (a victim that made room for an
// admitted candidate) says the main CLOCK should have kept it: the window shrinks. Each ghost hit
// moves the share by one entry, times the ratio of the other side's evictions to this side's
// (ARC's |B2|/|B1|), so the side that rarely evicts is not outvoted by the one that always does.
// Touched only under the shard's writer lock.
//
// Why not Caffeine's hill climbing [2]: it samples the hit ratio over 10 requests per entry and
// moves a few % per sample, so on short traces (the LIRS ones) it never gets far from where it
// started, and where recency is all (lirs_zigzag, LRU optimal) it loses to LRU by up to 9
// points. Ghosts answer within a few evictions of the workload changing.
//
//   ghosts_: u8 per slot, 1 slot per 2 expected entries, direct-mapped by the key's hash:
//     bit 7: evicted from the window (1) or the main CLOCK (0); bits 0..6: a fingerprint 1..127
//   (0 is empty). A newer ghost overwrites an older one in its slot, so a ghost lives for about
//   a slot count of evictions: "evicted lately" is about half of the ring. A loop or scan
//   longer than the cache comes back to its rejected keys only after several times that, so it
//   finds few ghosts and the window stays small, where admission keeps part of the loop.
//
// [1] Megiddo, Modha, "ARC: A Self-Tuning, Low Overhead Replacement Cache", FAST 2003.
// [2] Einziger, Eytan, Friedman, Manes, "Adaptive Software Cache Management", Middleware 2018.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace tiercache::engine {

// The window's share of the entries at start: recency and frequency each get a fair start, and
// the ghosts move it within a few hundred evictions.
inline constexpr double kInitialWindowShare = 0.35;
// Bounds of the window's share. At 0 the window still holds one entry besides the newest; at 1
// there is no contest and the ring is the plain 2-bit CLOCK, the best policy for traces where
// recency is all (lirs_zigzag: LRU is optimal there).
inline constexpr double kMinWindowShare = 0.0;
inline constexpr double kMaxWindowShare = 1.0;
// Ghost slots per expected entry (one byte each). Replays, 8 runs, mean gap to the best: 0.5 slots
// +0.57 points; 0.25, +0.94; 1, +1.03 (a loop's keys come back to more of their ghosts).
inline constexpr double kGhostSlotsPerEntry = 0.5;
// The most one main-CLOCK ghost may outweigh a window ghost. ARC's ratio uncapped lets the rare
// main evictions of a recency trace (lirs_zigzag) push the window back down as fast as it grows;
// too low a cap lets the window grow over most of the ring where frequency is all, since a main
// victim that keeps winning leaves few main ghosts and its rejected candidates come back to
// window ghosts. Zipf(0.9), 20000 keys in 1000 entries (tests/admission_test.cpp): cap 3, hit
// ratio 0.505; 4, 0.529; 5, 0.545 (LRU 0.476). Replays, 4 runs: cap 3, +0.88 points from the
// best, lirs_zigzag 20 % 0.65-0.85 points above LRU; 5, +0.53, zigzag 1.02 above on average over
// 32 runs (0.72-2.26; 3.8 in one run a review made); 8, +0.57, zigzag 3.0 above.
inline constexpr double kMaxMainGhostWeight = 5;

class WindowSizer {
 public:
  // The window's share of the entries now.
  double window_share() const noexcept { return share_; }

  // Sizes the ghosts for `entries` if they have fewer slots than that needs; a resize forgets
  // them. Allocates.
  void ensure_capacity(std::size_t entries) {
    entries = std::max<std::size_t>(entries, 1);
    if (entries <= capacity_entries_) return;
    const std::size_t slots = std::bit_ceil(std::max<std::size_t>(
        kMinGhostSlots,
        static_cast<std::size_t>(kGhostSlotsPerEntry * static_cast<double>(entries))));
    ghosts_.assign(slots, 0);  // may throw: then nothing changed
    slot_mask_ = slots - 1;
    capacity_entries_ = entries;
  }
  std::size_t capacity_entries() const noexcept { return capacity_entries_; }
  std::size_t ghost_bytes() const noexcept { return ghosts_.size(); }

  // The ring evicted the key with this hash from the window (`window`) or the main CLOCK.
  void record_eviction(std::uint64_t hash, bool window) noexcept {
    if (ghosts_.empty()) return;
    const Ghost g = ghost_of(hash);
    ghosts_[g.slot] = static_cast<std::uint8_t>(g.fingerprint | (window ? kWindowGhost : 0));
    (window ? window_evictions_ : main_evictions_) += 1;
    // Counts of about the ghosts' lifetime: the ratio follows what the ghosts remember.
    if (window_evictions_ + main_evictions_ > static_cast<double>(ghosts_.size())) {
      window_evictions_ /= 2;
      main_evictions_ /= 2;
    }
  }

  // A miss on the key with this hash, in a ring of `entries`: a ghost of it moves the share.
  void record_miss(std::uint64_t hash, std::size_t entries) noexcept {
    if (ghosts_.empty()) return;
    const Ghost g = ghost_of(hash);
    std::uint8_t& slot = ghosts_[g.slot];
    if ((slot & ~kWindowGhost) != g.fingerprint) return;
    const double one_entry = 1.0 / static_cast<double>(std::max<std::size_t>(entries, 1));
    const double w = std::max(window_evictions_, 1.0);
    const double m = std::max(main_evictions_, 1.0);
    const double moved = (slot & kWindowGhost) != 0
                             ? share_ + std::max(1.0, m / w) * one_entry
                             : share_ - std::clamp(w / m, 1.0, kMaxMainGhostWeight) * one_entry;
    share_ = std::clamp(moved, kMinWindowShare, kMaxWindowShare);
    slot = 0;
    ++ghost_hits_;
  }
  // Misses that found a ghost. For tests.
  std::uint64_t ghost_hits() const noexcept { return ghost_hits_; }

 private:
  static constexpr std::uint8_t kWindowGhost = 0x80;
  static constexpr std::size_t kMinGhostSlots = 16;
  struct Ghost {
    std::size_t slot;
    std::uint8_t fingerprint;  // 1..127
  };
  // Fibonacci hashing of the (already mixed) key hash: the slot from the middle bits, the
  // fingerprint from the top ones, so the two are independent.
  Ghost ghost_of(std::uint64_t hash) const noexcept {
    const std::uint64_t h = hash * 0x9e3779b97f4a7c15ull;
    return {static_cast<std::size_t>(h >> 20) & slot_mask_,
            static_cast<std::uint8_t>((h >> 57) % 127 + 1)};
  }

  double share_ = kInitialWindowShare;
  std::vector<std::uint8_t> ghosts_;
  std::size_t slot_mask_ = 0;
  std::size_t capacity_entries_ = 0;
  double window_evictions_ = 1;
  double main_evictions_ = 1;
  std::uint64_t ghost_hits_ = 0;
};

}  // namespace tiercache::engine
