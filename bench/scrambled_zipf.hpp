// bench/scrambled_zipf.hpp — ScrambledZipf: key indices in [0, n) with Zipf skew, the ranks
// scattered over the key space so the hot keys land in unrelated shards and cache lines.
//
// Ranks come from Gray et al.'s inversion [1], as in YCSB's ZipfianGenerator: one zeta sum at
// construction (O(n)), O(1) per draw. The scramble is a fixed random permutation rather than
// YCSB's hash-mod-n, so every key stays reachable and the rank frequencies stay exactly Zipf.
//
// [1] J. Gray et al., "Quickly Generating Billion-Record Synthetic Databases", SIGMOD 1994.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
#include <random>
#include <vector>

namespace tiercache::bench {

class ScrambledZipf {
 public:
  // `theta` in (0, 1); 0.99 is the skew YCSB and Caffeine's GetPutBenchmark use.
  ScrambledZipf(std::uint32_t n, double theta, std::uint64_t permutation_seed)
      : n_(n), theta_(theta), permutation_(n) {
    double zeta_n = 0;
    for (std::uint32_t i = 1; i <= n; ++i) zeta_n += 1.0 / std::pow(i, theta);
    const double zeta_2 = 1.0 + 1.0 / std::pow(2.0, theta);
    zeta_n_ = zeta_n;
    alpha_ = 1.0 / (1.0 - theta);
    eta_ = (1.0 - std::pow(2.0 / n, 1.0 - theta)) / (1.0 - zeta_2 / zeta_n);
    std::iota(permutation_.begin(), permutation_.end(), 0u);
    std::shuffle(permutation_.begin(), permutation_.end(), std::mt19937_64(permutation_seed));
  }

  template <class Rng>
  std::uint32_t next(Rng& rng) const {
    return permutation_[rank(rng)];
  }
  // The key index rank 0 maps to: the most requested key.
  std::uint32_t hottest() const { return permutation_[0]; }

 private:
  template <class Rng>
  std::uint32_t rank(Rng& rng) const {
    const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    const double uz = u * zeta_n_;
    if (uz < 1.0) return 0;
    if (uz < 1.0 + std::pow(0.5, theta_)) return 1;
    const auto r = static_cast<std::uint32_t>(n_ * std::pow(eta_ * u - eta_ + 1.0, alpha_));
    return std::min(r, n_ - 1);
  }

  std::uint32_t n_;
  double theta_;
  double zeta_n_;
  double alpha_;
  double eta_;
  std::vector<std::uint32_t> permutation_;
};

}  // namespace tiercache::bench
