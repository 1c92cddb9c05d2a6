#include "engine/l1/frequency_sketch.hpp"

#include <algorithm>
#include <bit>

namespace tiercache::engine {
namespace {

// Words in a block: one 64-byte cache line, so an increment or an estimate misses the CPU
// caches once, not four times.
constexpr std::size_t kBlockWords = 8;
constexpr std::size_t kCountersPerWord = 16;
// Every nibble's low 3 bits after a shift right by one: halves all 16 counters of a word.
constexpr std::uint64_t kHalveMask = 0x7777'7777'7777'7777ull;
// Hash bits above the block index: row i takes its word from bit kRowBits + i and its nibble
// from the 4 bits at kRowBits + 4 + 4i. The block index uses the low bits, far below these
// for any table that fits in memory (2^40 blocks).
constexpr unsigned kRowBits = 40;

// A bijective 64-bit mixer (the splitmix64 finalizer): every hash bit moves every output bit,
// so the seed changes which counters any two keys share.
std::uint64_t mix(std::uint64_t z) noexcept {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

void FrequencySketch::ensure_capacity(std::size_t entries) {
  entries = std::max<std::size_t>(entries, 1);
  if (entries <= capacity_entries_) return;
  const std::size_t words = std::max(
      kBlockWords,
      std::bit_ceil((entries * kSketchCountersPerEntry + kCountersPerWord - 1) / kCountersPerWord));
  table_.assign(words, 0);
  block_mask_ = words / kBlockWords - 1;
  capacity_entries_ = entries;
  sample_size_ = entries * kSketchSamplePerEntry;
  additions_ = 0;
}

FrequencySketch::Cells FrequencySketch::cells_of(std::uint64_t hash) const noexcept {
  const std::uint64_t h = mix(hash ^ seed_);
  const std::size_t block = (h & block_mask_) * kBlockWords;
  Cells c;
  // Unrolled: this runs on every set (a replace feeds the sketch), ~90 instructions rolled.
#pragma GCC unroll 4
  for (unsigned i = 0; i < 4; ++i) {
    c.word[i] = block + 2 * i + ((h >> (kRowBits + i)) & 1);
    c.shift[i] = static_cast<unsigned>((h >> (kRowBits + 4 + 4 * i)) & 15) * 4;
  }
  return c;
}

void FrequencySketch::increment(std::uint64_t hash) noexcept {
  if (table_.empty()) return;
  const Cells c = cells_of(hash);
  unsigned count[4];
  unsigned least = kSketchMaxCount;
#pragma GCC unroll 4
  for (unsigned i = 0; i < 4; ++i) {
    count[i] = static_cast<unsigned>(table_[c.word[i]] >> c.shift[i]) & 15;
    least = std::min(least, count[i]);
  }
  if (least == kSketchMaxCount) return;
#pragma GCC unroll 4
  for (unsigned i = 0; i < 4; ++i)
    if (count[i] == least) table_[c.word[i]] += std::uint64_t{1} << c.shift[i];
  if (++additions_ >= sample_size_) halve();
}

unsigned FrequencySketch::estimate(std::uint64_t hash) const noexcept {
  if (table_.empty()) return 0;
  const Cells c = cells_of(hash);
  unsigned least = kSketchMaxCount;
  for (unsigned i = 0; i < 4; ++i)
    least = std::min(least, static_cast<unsigned>(table_[c.word[i]] >> c.shift[i]) & 15);
  return least;
}

void FrequencySketch::halve() noexcept {
  for (std::uint64_t& w : table_) w = (w >> 1) & kHalveMask;
  additions_ /= 2;
  ++halvings_;
}

}  // namespace tiercache::engine
