// engine/l1/clock_ring.hpp — one shard's eviction policy: a small recency window and a main
// CLOCK, with a frequency sketch deciding which of them gives up an entry (W-TinyLFU [1] on
// CLOCK structures).
//
//   add ─▶ window CLOCK ──candidate──▶ admit? ──yes─▶ takes the main victim's slot; victim out
//          (share: WindowSizer)         │
//                                         └──no──▶ candidate out; main victim stays under the hand
//   main CLOCK: 2-bit counts as before; victim = first zero count (or expired) from the hand
//
// Reads only bump an entry's hit count (Entry::record_hit); everything here runs under the
// shard's writer lock, and nothing here is touched by a read. The sketch learns of a key when
// it is added (a miss), replaced (a set) and, for hits, from the hand: each count the hand
// takes back from an entry as it passes is one hit the sketch hears of. So a hit costs what it
// cost before (its entry's count, below the cap), and the sketch lags reads by up to one pass.
//
// Which CLOCK an entry is in: bit 31 of Entry::ring_pos (kWindowBit), the rest its slot there.
// Readers never read ring_pos, so the bit costs no byte and no ordering. An entry keeps its
// CLOCK and slot when a set replaces it. Positions freed by purges are reused first; a CLOCK
// whose holes outnumber its entries is compacted (in order) by the next add.
//
// Admission: a window candidate displaces the main victim only if the sketch has seen it more
// often (two more if the victim is established: kEstablishedCount); a candidate seen at least
// kAdmitWarmCount times is also let in with probability 1/kAdmitChanceInverse whatever the victim's
// count, so keys forced to collide with the main entries in the sketch (hash flooding) cannot keep
// every newcomer out. The sketch's seed and that coin are per shard and random.
//
// Why CLOCK: a hit writes at most one byte of its own entry and never a shared list head, which
// is what lets reads stay lock-free; docs/performance.md has the replay figures against LRU.
//
// [1] Einziger, Friedman, Manes, "TinyLFU: A Highly Efficient Cache Admission Policy",
//     ACM Transactions on Storage 13(4), 2017.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/l1/entry.hpp"
#include "engine/l1/frequency_sketch.hpp"
#include "engine/l1/window_sizer.hpp"

namespace tiercache::engine {

// Positions the hand may pass in one victim search. After a scan every count may be set; stopping
// here keeps an insert O(1) and evicts the entry under the hand instead.
inline constexpr std::size_t kMaxHandSweep = 64;
// Bit 31 of Entry::ring_pos: the entry is in the window CLOCK. kNotInRing has it set too, so
// test an entry's ring with in_window() only while it is in the ring.
inline constexpr std::uint32_t kWindowBit = std::uint32_t{1} << 31;
// Main CLOCK slots looked at for an expired entry each time a candidate loses its contest: a
// whole pass in half as many contests as the main CLOCK has slots.
inline constexpr std::size_t kScoutSteps = 2;
// A victim the sketch has seen this often is established: a candidate must count at least two
// more to displace it. Counted at the candidate's own sighting, one more is what a key as
// frequent as the victim but seen last shows (the victim's sighting for the same period may still
// be ahead, and a halving between the two sightings widens it): in a loop longer than the cache
// every newcomer would beat the least recently seen resident, and the main CLOCK would churn.
// Below this count (a victim seen once since the last halving) one more is evidence.
inline constexpr unsigned kEstablishedCount = 2;
// A candidate the sketch has seen this often is warm: it may win against any victim by chance.
inline constexpr unsigned kAdmitWarmCount = 6;
// A warm candidate that the sketch ranks no higher than the victim still gets in 1 time in this
// many (a power of two: a mask, not a division).
inline constexpr std::uint32_t kAdmitChanceInverse = 128;

class ClockRing {
 public:
  // A random seed for the sketch and the admission coin.
  ClockRing();
  // A chosen seed, for tests that must repeat.
  explicit ClockRing(std::uint64_t seed) noexcept;

  // A loaded value (one with a load time) within this long past its expiry may still be served
  // (stale-while-revalidate): the hand does not take it as expired yet.
  void set_stale_grace(std::uint64_t ms) noexcept { stale_grace_ms_ = ms; }
  // Sizes the ring, the sketch and the ghosts for `entries`; the sketch and the ghosts are resized
  // by add() once the ring holds twice as many.
  void reserve(std::size_t entries);
  // What add() needs (the sketch and ghosts resized, a CLOCK compacted, a slot reserved), done
  // before the change the add is part of is made or announced: may throw bad_alloc, changing
  // nothing an entry or a reader sees.
  void prepare_add();
  // A new key: into the window. Allocates nothing (and cannot throw) if prepare_add() was
  // called since the ring last changed.
  void add(Entry* e);
  // `fresh` takes `old`'s CLOCK, position and hit count.
  void replace(Entry* old, Entry* fresh) noexcept;
  // A set rewrote `e` in place: the sketch learns of it as of a replace.
  void rewritten(const Entry* e) noexcept;
  void remove(Entry* e) noexcept;

  struct Victim {
    Entry* entry;  // nullptr only when the ring is empty
    bool expired;
  };
  // The entry to evict: the first expired or zero-count entry from a hand on, decrementing counts
  // as it passes (after kMaxHandSweep positions, the entry under the hand). While the window is
  // over its share, its candidate meets the main victim and the sketch picks the one to go; an
  // admitted candidate takes the victim's slot at once. `keep` is never chosen (the entry that
  // just made room necessary). The caller removes the victim before it calls the ring again.
  // Allocates only when a candidate moves into a main CLOCK with no hole, and never throws: out
  // of memory, the candidate meets the main victim instead of moving.
  Victim next_victim(std::uint64_t now_ms, const Entry* keep) noexcept;

  template <class F>
  void for_each(F&& f) const {
    for (const Entry* e : window_.slots)
      if (e != nullptr) f(e);
    for (const Entry* e : main_.slots)
      if (e != nullptr) f(e);
  }
  // Walks both CLOCKs: every non-null slot's entry knows its CLOCK and position. For tests.
  bool positions_consistent() const noexcept;

  std::size_t window_entries() const noexcept { return window_.live; }
  std::size_t main_entries() const noexcept { return main_.live; }
  const FrequencySketch& sketch() const noexcept { return sketch_; }
  const WindowSizer& sizer() const noexcept { return sizer_; }
  // Contests a window candidate won (it took the main victim's place) and lost (it left).
  std::uint64_t admitted() const noexcept { return admitted_; }
  std::uint64_t rejected() const noexcept { return rejected_; }

 private:
  struct Clock {
    std::vector<Entry*> slots;
    std::vector<std::uint32_t> holes;
    std::size_t hand = 0;
    std::size_t live = 0;
    std::uint32_t tag = 0;  // kWindowBit or 0, or'ed into its entries' ring_pos
  };
  static void put(Clock& c, Entry* e);
  // Room for one more put() into `c` without allocating. May throw bad_alloc.
  static void reserve_slot(Clock& c);
  static void compact(Clock& c) noexcept;
  static void take_out(Clock& c, Entry* e) noexcept;
  Clock& clock_of(const Entry* e) noexcept;
  // The first expired or zero-count entry of `c` from its hand, harvesting counts into the
  // sketch; nullptr if `c` holds nothing but `keep`.
  Victim sweep(Clock& c, std::uint64_t now_ms, const Entry* keep) noexcept;
  bool admit(const Entry* candidate, const Entry* victim) noexcept;
  // An expired entry among the next kScoutSteps slots of the main CLOCK from scout_, or nullptr.
  // The main hand stays on a victim while it wins, so without this an expired entry elsewhere in
  // the main CLOCK would keep its space until a candidate won.
  Entry* expired_past_hand(std::uint64_t now_ms, const Entry* keep) noexcept;
  // Expired and past any stale grace: the ring evicts it before anything else.
  bool expired_out(const Entry& e, std::uint64_t now_ms) const noexcept {
    return e.is_expired(now_ms) && !in_stale_grace(e, now_ms);
  }
  bool in_stale_grace(const Entry& e, std::uint64_t now_ms) const noexcept {
    return stale_grace_ms_ != 0 && e.holds_value() && e.load_time_code() != 0 &&
           now_ms - e.expires_at_ms.load(kRelaxed) < stale_grace_ms_;
  }
  // `v`, remembered as a ghost of the window (`window`) or the main CLOCK unless it expired.
  Victim evicted(Victim v, bool window) noexcept {
    if (v.entry != nullptr && !v.expired) sizer_.record_eviction(v.entry->hash, window);
    return v;
  }

  Clock window_;
  Clock main_;
  FrequencySketch sketch_;
  WindowSizer sizer_;
  std::size_t scout_ = 0;  // the main CLOCK's next slot expired_past_hand() looks at
  std::uint64_t coin_;     // xorshift64 state for the admission coin
  std::uint64_t stale_grace_ms_ = 0;
  std::uint64_t admitted_ = 0;
  std::uint64_t rejected_ = 0;
};

}  // namespace tiercache::engine
