// engine/l1/frequency_sketch.hpp — how often a shard has seen a key lately: a count-min sketch of
// 4-bit counters that ages, the popularity TinyLFU [1] compares when a new entry asks for a
// place in the main CLOCK. Touched only under the shard's writer lock, never by a read.
//
//   table_: u64 words in blocks of 8 (one cache line); a key hashes to one block,
//   row i (0..3) is one nibble in word 2i or 2i+1 of that block:
//     block b │ w0 w1 │ w2 w3 │ w4 w5 │ w6 w7 │   16 four-bit counters per word
//               row 0   row 1   row 2   row 3
//
// The estimate is the least of the key's four counters. An increment raises only the counters
// at that least value (conservative update), so keys sharing a counter inflate each other less
// in a table this small. After `sample_size()` increments every counter is halved, so a key
// popular long ago loses to one popular now; the counters' cap of 15 is what makes 4 bits enough.
//
// Collisions are what a flooding attacker needs: the key's 64-bit hash is mixed with a secret
// per-shard seed before it picks counters, so which keys share counters cannot be predicted
// from the key (the admission in clock_ring.cpp has the second defence, a random admit).
//
// [1] Einziger, Friedman, Manes, "TinyLFU: A Highly Efficient Cache Admission Policy",
//     ACM Transactions on Storage 13(4), 2017.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tiercache::engine {

// Counters per expected entry: 8 four-bit counters, 4 bytes per entry (4 rows share them).
// Replays, 8 runs, mean gap to the best (docs/performance.md): 4 bytes +0.57 points, 2 bytes
// +0.94, 8 bytes +1.19.
inline constexpr std::size_t kSketchCountersPerEntry = 8;
// Increments per expected entry between two halvings. TinyLFU's sample is W = 10 C accesses [1];
// this sketch hears of a hit only when the hand takes its count back, so it gets fewer increments
// than accesses and needs more of them for as long a memory. Replays, 8 runs: 15, +1.24 points
// (loops churn again); 20, +0.58; 25, +0.57; 30, +0.54; 40, +0.67.
inline constexpr std::size_t kSketchSamplePerEntry = 25;
// The largest count a counter holds.
inline constexpr unsigned kSketchMaxCount = 15;

class FrequencySketch {
 public:
  // `seed` picks which keys share counters; a shard draws it at random.
  explicit FrequencySketch(std::uint64_t seed) noexcept : seed_(seed) {}

  // Sizes the table for `entries` keys (at least one block) if it holds fewer counters than
  // they need; a resize starts from zero counts. Allocates.
  void ensure_capacity(std::size_t entries);
  // One more sighting of the key with this hash. No-op before ensure_capacity().
  void increment(std::uint64_t hash) noexcept;
  // Sightings of the key with this hash since about the last halving, at most kSketchMaxCount.
  unsigned estimate(std::uint64_t hash) const noexcept;

  // Keys the table is sized for; 0 before ensure_capacity().
  std::size_t capacity_entries() const noexcept { return capacity_entries_; }
  std::size_t table_bytes() const noexcept { return table_.size() * sizeof(std::uint64_t); }
  // Increments between halvings.
  std::size_t sample_size() const noexcept { return sample_size_; }
  // Halvings so far. For tests.
  std::uint64_t halvings() const noexcept { return halvings_; }

 private:
  struct Cells {
    std::size_t word[4];
    unsigned shift[4];
  };
  Cells cells_of(std::uint64_t hash) const noexcept;
  void halve() noexcept;

  std::uint64_t seed_;
  std::vector<std::uint64_t> table_;
  std::size_t block_mask_ = 0;
  std::size_t capacity_entries_ = 0;
  std::size_t sample_size_ = 0;
  std::size_t additions_ = 0;
  std::uint64_t halvings_ = 0;
};

}  // namespace tiercache::engine
