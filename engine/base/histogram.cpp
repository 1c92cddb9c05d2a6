// engine/base/histogram.cpp — the public Histogram, and the per-thread cells' share of a snapshot.
#include "tiercache/histogram.hpp"

#include <algorithm>
#include <cmath>

#include "engine/base/striped_histograms.hpp"

namespace tiercache {

void Histogram::add_bucket(std::size_t i, std::uint64_t n) {
  // Past the last bucket: ignored rather than written past the counts (a public call).
  if (n == 0 || i >= kBuckets) return;
  if (counts_.empty()) counts_.assign(kBuckets, 0);
  counts_[i] += n;
  count_ += n;
}

void Histogram::record(std::uint64_t value, std::uint64_t n) {
  add_bucket(bucket_of(value), n);
  sum_ += value * n;
}

void Histogram::merge(const Histogram& other) {
  for (std::size_t i = 0; i < other.counts_.size(); ++i) add_bucket(i, other.counts_[i]);
  sum_ += other.sum_;
}

std::uint64_t Histogram::count_at_most(std::uint64_t value) const noexcept {
  if (counts_.empty()) return 0;
  const std::size_t last = bucket_of(value);
  std::uint64_t n = 0;
  for (std::size_t i = 0; i <= last; ++i) n += counts_[i];
  return n;
}

std::uint64_t Histogram::quantile(double q) const noexcept {
  if (count_ == 0) return 0;
  q = q >= 0 ? std::min(q, 1.0) : 0.0;  // NaN as 0
  // The rank of the value asked for, 1-based: the q-th fraction of the values, at least the first.
  const auto rank = std::max<std::uint64_t>(
      1, static_cast<std::uint64_t>(std::ceil(q * static_cast<double>(count_))));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < kBuckets; ++i) {
    seen += counts_[i];
    if (seen >= rank) {
      // Below kSubBuckets a bucket holds one value (bucket 0 holds 0 too, answered as 1); above,
      // the midpoint of (lower, upper] is within half a bucket's width of any value in it.
      const std::uint64_t lo = lower_bound(i);
      const std::uint64_t hi = upper_bound(i);
      return i < kSubBuckets ? hi : lo + (hi - lo + 1) / 2;
    }
  }
  return upper_bound(kBuckets - 1);
}

}  // namespace tiercache

namespace tiercache::engine {

void HistogramCells::add_to(Histogram& out) const {
  for (std::size_t i = 0; i < counts_.size(); ++i) out.add_bucket(i, counts_[i].load(kRelaxed));
  out.add_sum(sum_.load(kRelaxed));
}

}  // namespace tiercache::engine
