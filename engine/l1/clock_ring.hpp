// engine/l1/clock_ring.hpp — one shard's CLOCK: the ring of its value entries and the hand.
//
// Reads only bump an entry's hit count (Entry::record_hit); everything here runs under
// the shard's writer lock. An entry keeps its ring position when a set replaces it, so a
// rewritten key does not jump to the back. Positions freed by purges are reused first, so the
// ring holds at most as many holes as purges since the last insert.
//
// Why CLOCK: a hit writes at most one byte of its own entry and never a shared list head, which
// is what lets reads stay lock-free; docs/performance.md has the replay figures against LRU.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/l1/entry.hpp"

namespace tiercache::engine {

// Positions the hand may pass in one victim search. After a scan every count may be set; stopping
// here keeps an insert O(1) and evicts the entry under the hand instead.
inline constexpr std::size_t kMaxHandSweep = 64;

class ClockRing {
 public:
  void reserve(std::size_t entries) { slots_.reserve(entries); }
  void add(Entry* e);
  // `fresh` takes `old`'s position and hit count.
  void replace(Entry* old, Entry* fresh) noexcept;
  void remove(Entry* e) noexcept;

  struct Victim {
    Entry* entry;  // nullptr only when the ring is empty
    bool expired;
  };
  // The first expired or zero-count entry from the hand on, decrementing counts as it passes; after
  // kMaxHandSweep positions, the entry under the hand. `keep` is never chosen (the entry that
  // just made room necessary).
  Victim next_victim(std::uint64_t now_ms, const Entry* keep) noexcept;

  template <class F>
  void for_each(F&& f) const {
    for (const Entry* e : slots_)
      if (e != nullptr) f(e);
  }
  // Walks the ring: every non-null slot's entry knows its position. For tests.
  bool positions_consistent() const noexcept;

 private:
  std::vector<Entry*> slots_;
  std::vector<std::uint32_t> holes_;
  std::size_t hand_ = 0;
  std::size_t live_ = 0;
};

}  // namespace tiercache::engine
