#include "bench/gbench/workload.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <random>

#include "bench/scrambled_zipf.hpp"

namespace tiercache::gbench {
namespace {

// Fixed seeds, bench/l1_workload.cpp's: every run and every target replays the same requests.
constexpr std::uint64_t kPermutationSeed = 0x9e3779b97f4a7c15;
constexpr std::uint64_t kThreadSeedBase = 0x5851f42d4c957f2d;

// Zipf by inversion of the exact CDF (binary search, O(log n) per draw, 8 bytes per key), for
// theta >= 1: ScrambledZipf's closed form (Gray et al.) only holds for theta < 1; at 1.2 it gives
// rank 2 about 20 % more than its share. Ranks are scattered by the same permutation as
// ScrambledZipf's (iota shuffled by mt19937_64(kPermutationSeed)), so the hot keys are the same.
class ExactZipf {
 public:
  ExactZipf(std::uint32_t n, double theta, std::uint64_t permutation_seed)
      : cdf_(n), permutation_(n) {
    double sum = 0;
    for (std::uint32_t i = 0; i < n; ++i) {
      sum += 1.0 / std::pow(static_cast<double>(i) + 1.0, theta);
      cdf_[i] = sum;
    }
    for (double& c : cdf_) c /= sum;
    std::iota(permutation_.begin(), permutation_.end(), 0u);
    std::shuffle(permutation_.begin(), permutation_.end(), std::mt19937_64(permutation_seed));
  }

  template <class Rng>
  std::uint32_t next(Rng& rng) const {
    const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    const auto rank =
        static_cast<std::size_t>(std::lower_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin());
    return permutation_[std::min(rank, cdf_.size() - 1)];
  }

 private:
  std::vector<double> cdf_;
  std::vector<std::uint32_t> permutation_;
};

template <class Draw>
std::shared_ptr<Sequences> fill(Draw&& draw) {
  auto s = std::make_shared<Sequences>();
  for (unsigned t = 0; t < kMaxThreads; ++t) {
    std::mt19937_64 rng(kThreadSeedBase + t);
    s->per_thread[t].resize(kSequenceLength);
    for (std::uint32_t& index : s->per_thread[t]) index = draw(rng);
  }
  return s;
}

std::shared_ptr<Sequences> build_sequences(std::uint32_t keys, Dist dist) {
  switch (dist) {
    case Dist::uniform: {
      std::uniform_int_distribution<std::uint32_t> pick(0, keys - 1);
      return fill([&](std::mt19937_64& rng) { return pick(rng); });
    }
    case Dist::zipf_0_8:
    case Dist::zipf_0_99: {
      const bench::ScrambledZipf zipf(keys, dist == Dist::zipf_0_8 ? 0.8 : 0.99, kPermutationSeed);
      return fill([&](std::mt19937_64& rng) { return zipf.next(rng); });
    }
    case Dist::zipf_1_2: {
      const ExactZipf zipf(keys, 1.2, kPermutationSeed);
      return fill([&](std::mt19937_64& rng) { return zipf.next(rng); });
    }
    case Dist::hot: {
      const std::uint32_t hottest = bench::ScrambledZipf(keys, 0.99, kPermutationSeed).hottest();
      return fill([&](std::mt19937_64&) { return hottest; });
    }
  }
  return nullptr;
}

std::mutex workloads_mutex;
std::shared_ptr<const KeySet> current_keys;
std::uint32_t sequences_keys = 0;
std::map<Dist, std::shared_ptr<const Sequences>> current_sequences;

}  // namespace

std::string_view dist_name(Dist dist) {
  switch (dist) {
    case Dist::uniform:
      return "uniform";
    case Dist::zipf_0_8:
      return "zipf0.8";
    case Dist::zipf_0_99:
      return "zipf0.99";
    case Dist::zipf_1_2:
      return "zipf1.2";
    case Dist::hot:
      return "hot";
  }
  return "?";
}

std::shared_ptr<const KeySet> key_set(std::uint32_t count) {
  const std::lock_guard lock(workloads_mutex);
  if (current_keys == nullptr || current_keys->keys.size() != count) {
    current_keys.reset();
    auto set = std::make_shared<KeySet>();
    set->keys.reserve(count);
    for (std::uint32_t i = 0; i < count; ++i) set->keys.push_back("key:" + std::to_string(i));
    current_keys = std::move(set);
  }
  return current_keys;
}

std::shared_ptr<const Sequences> sequences(std::uint32_t keys, Dist dist) {
  const std::lock_guard lock(workloads_mutex);
  if (sequences_keys != keys) {
    current_sequences.clear();
    sequences_keys = keys;
  }
  auto& s = current_sequences[dist];
  if (s == nullptr) s = build_sequences(keys, dist);
  return s;
}

void release_workloads() {
  const std::lock_guard lock(workloads_mutex);
  current_keys.reset();
  current_sequences.clear();
  sequences_keys = 0;
}

Mix::Mix(double write_fraction) {
  if (write_fraction >= 1.0) {
    all_writes_ = true;
  } else if (write_fraction > 0) {
    threshold_ = static_cast<std::uint64_t>(std::ldexp(write_fraction, 64));
  }
}

std::string count_name(std::uint64_t n) {
  if (n >= 1'000'000 && n % 1'000'000 == 0) return std::to_string(n / 1'000'000) + "M";
  if (n >= 1'000 && n % 1'000 == 0) return std::to_string(n / 1'000) + "K";
  return std::to_string(n);
}

}  // namespace tiercache::gbench
