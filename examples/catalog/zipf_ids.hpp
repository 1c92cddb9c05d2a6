// examples/catalog/zipf_ids.hpp — ZipfIds: product ids drawn with Zipf-skewed popularity [1], as
// a shop's traffic is: product 1 the most wanted, then 2, and so on.
//
// pick() draws rank r with probability proportional to 1 / (r + 1)^s, by binary search of the
// cumulative distribution (17 steps for 100k ids). Read-only once built, so threads share one.
//
// [1] G. K. Zipf, "Human Behavior and the Principle of Least Effort", 1949; s = 0.99 is the skew
//     YCSB and Caffeine's benchmarks use.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace catalog {

class ZipfIds {
 public:
  // Ids 1..count (count >= 1), skew `exponent` (>= 0; 0 is uniform).
  ZipfIds(std::int64_t count, double exponent) {
    cdf_.reserve(static_cast<std::size_t>(count));
    double sum = 0;
    for (std::int64_t rank = 0; rank < count; ++rank) {
      sum += 1.0 / std::pow(static_cast<double>(rank + 1), exponent);
      cdf_.push_back(sum);
    }
    for (double& c : cdf_) c /= sum;
  }

  std::int64_t pick(std::mt19937_64& rng) const {
    const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    const auto rank = std::upper_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin();
    // Rounding can leave cdf_.back() a hair under 1.
    return std::min<std::int64_t>(rank, static_cast<std::int64_t>(cdf_.size()) - 1) + 1;
  }

  // The share of draws that fall on ids 1..n.
  double share_of_first(std::int64_t n) const {
    if (n <= 0) return 0;
    return cdf_[static_cast<std::size_t>(std::min<std::int64_t>(n, std::ssize(cdf_)) - 1)];
  }

 private:
  std::vector<double> cdf_;
};

}  // namespace catalog
