// examples/catalog/latency_histogram.hpp — LatencyHistogram: request latencies in log-linear
// buckets, 16 per power of two, so that a percentile read at a bucket's upper edge is at most
// 1/16 (6.25 %) above the true value, in a fixed 8 KiB whatever the run's length.
//
// Not thread-safe: each load generator thread records into its own, merged after the run (or,
// once a second, under that thread's lock).
#pragma once

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdint>

namespace catalog {

class LatencyHistogram {
 public:
  void record(std::chrono::nanoseconds latency) {
    const auto ns = static_cast<std::uint64_t>(std::max<std::int64_t>(latency.count(), 0));
    ++counts_[bucket_of(ns)];
    ++count_;
    max_ns_ = std::max(max_ns_, ns);
  }

  void merge(const LatencyHistogram& other) {
    for (std::size_t b = 0; b < counts_.size(); ++b) counts_[b] += other.counts_[b];
    count_ += other.count_;
    max_ns_ = std::max(max_ns_, other.max_ns_);
  }

  void clear() { *this = LatencyHistogram(); }

  std::uint64_t count() const { return count_; }
  std::chrono::nanoseconds max() const { return std::chrono::nanoseconds(max_ns_); }

  // The smallest recorded latency that `quantile` (in (0, 1]) of the requests did not exceed,
  // read at its bucket's upper edge; 0 when nothing was recorded.
  std::chrono::nanoseconds percentile(double quantile) const {
    const auto rank = static_cast<std::uint64_t>(std::ceil(quantile * static_cast<double>(count_)));
    std::uint64_t seen = 0;
    for (std::size_t b = 0; b < counts_.size(); ++b) {
      seen += counts_[b];
      if (seen >= std::max<std::uint64_t>(rank, 1))
        return std::chrono::nanoseconds(std::min(upper_edge(b), max_ns_));
    }
    return max();
  }

 private:
  static constexpr unsigned kSubBits = 4;
  static constexpr std::uint64_t kSubBuckets = std::uint64_t{1} << kSubBits;

  // Values below kSubBuckets get a bucket each; above, bucket width doubles every kSubBuckets.
  static std::size_t bucket_of(std::uint64_t ns) {
    if (ns < kSubBuckets) return static_cast<std::size_t>(ns);
    const unsigned shift = static_cast<unsigned>(std::bit_width(ns)) - 1 - kSubBits;
    return static_cast<std::size_t>((shift + 1) * kSubBuckets + (ns >> shift) - kSubBuckets);
  }

  static std::uint64_t upper_edge(std::size_t bucket) {
    if (bucket < kSubBuckets) return bucket;
    const std::uint64_t shift = bucket / kSubBuckets - 1;
    const std::uint64_t lowest = (kSubBuckets + bucket % kSubBuckets) << shift;
    return lowest + ((std::uint64_t{1} << shift) - 1);
  }

  std::array<std::uint64_t, (64 - kSubBits + 1) * kSubBuckets> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t max_ns_ = 0;
};

}  // namespace catalog
