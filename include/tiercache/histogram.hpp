// tiercache/histogram.hpp — Histogram: how a set of values (durations in nanoseconds, batch
// sizes) is distributed, in fixed memory, with a bounded relative error.
//
// Log-linear buckets, as HdrHistogram's: values up to 16 have a bucket each, and every power of
// two above is split into 16 equal buckets, up to kMaxTracked (about 68.7 s in nanoseconds;
// larger values count in the last bucket, and in sum() as they are). A bucket holds the values
// in (lower_bound, upper_bound], so a power of two is always a bucket's upper bound: a count of
// the values at most 2^k is exact. quantile() answers a bucket's midpoint, so it is within
// kRelativeError of a value that was recorded.
//
// Histograms of the same kind merge exactly (merge()): a snapshot is the merge of every
// thread's own histogram.
//
// A bucket index is in [0, kBuckets); one past it is harmless: count_in() answers 0 and
// add_bucket() ignores it (neither reads nor writes past the counts).
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace tiercache {

class Histogram {
 public:
  static constexpr unsigned kSubBucketBits = 4;
  static constexpr std::uint64_t kSubBuckets = std::uint64_t{1} << kSubBucketBits;
  static constexpr unsigned kMaxTrackedBits = 36;
  static constexpr std::uint64_t kMaxTracked = std::uint64_t{1} << kMaxTrackedBits;
  static constexpr std::size_t kBuckets = kSubBuckets * (kMaxTrackedBits - kSubBucketBits + 1);
  // The most a quantile() answer is off from a recorded value, relative to that value.
  static constexpr double kRelativeError = 1.0 / (2 * kSubBuckets);

  // The bucket `value` counts in.
  static constexpr std::size_t bucket_of(std::uint64_t value) noexcept {
    // Buckets hold (lower, upper]: one less is the value placed on [lower, upper) boundaries.
    const std::uint64_t v = value == 0 ? 0 : (value > kMaxTracked ? kMaxTracked : value) - 1;
    if (v < kSubBuckets) return static_cast<std::size_t>(v);
    const unsigned shift = static_cast<unsigned>(std::bit_width(v)) - 1 - kSubBucketBits;
    return static_cast<std::size_t>(kSubBuckets * (shift + 1) + ((v >> shift) - kSubBuckets));
  }
  // The largest value bucket `i` holds, and the largest the one below it holds (0 for bucket 0,
  // which holds 0 and 1).
  static constexpr std::uint64_t upper_bound(std::size_t i) noexcept {
    if (i < kSubBuckets) return i + 1;
    const std::uint64_t shift = i / kSubBuckets - 1;
    return ((kSubBuckets + i % kSubBuckets + 1) << shift);
  }
  static constexpr std::uint64_t lower_bound(std::size_t i) noexcept {
    return i == 0 ? 0 : upper_bound(i - 1);
  }

  // Counts `value` `n` times.
  void record(std::uint64_t value, std::uint64_t n = 1);
  // Adds every count of `other`.
  void merge(const Histogram& other);
  // Adds `n` to bucket `i` and `sum` to the sum: how the engine builds a snapshot from its
  // per-thread cells. An `i` of kBuckets or more is ignored (count() is unchanged).
  void add_bucket(std::size_t i, std::uint64_t n);
  void add_sum(std::uint64_t sum) noexcept { sum_ += sum; }

  std::uint64_t count() const noexcept { return count_; }
  // The sum of the values recorded (not clamped to kMaxTracked).
  std::uint64_t sum() const noexcept { return sum_; }
  // The values counted in `bucket`; 0 for a bucket of kBuckets or more.
  std::uint64_t count_in(std::size_t bucket) const noexcept {
    return bucket < counts_.size() ? counts_[bucket] : 0;
  }
  // How many values were at most upper_bound(bucket_of(value)): exact when `value` is a bucket's
  // upper bound (every power of two is).
  std::uint64_t count_at_most(std::uint64_t value) const noexcept;
  // The value below which a fraction `q` (in [0, 1]) of the values fall, within kRelativeError;
  // 0 when empty.
  std::uint64_t quantile(double q) const noexcept;

 private:
  std::vector<std::uint64_t> counts_;  // kBuckets once anything is counted; empty until then
  std::uint64_t count_ = 0;
  std::uint64_t sum_ = 0;
};

}  // namespace tiercache
