#include "bench/l1_workload.hpp"

#include <random>

#include "bench/scrambled_zipf.hpp"

namespace tiercache::bench {
namespace {

// Fixed seeds: every run, and every target within a run, replays the same requests.
constexpr std::uint64_t kPermutationSeed = 0x9e3779b97f4a7c15;
constexpr std::uint64_t kThreadSeedBase = 0x5851f42d4c957f2d;
// Length of the hot-key sequence; any length works, it only holds one index.
constexpr std::size_t kHotKeyRequests = 4096;

}  // namespace

L1Workload L1Workload::build(const L1WorkloadShape& shape) {
  L1Workload w;
  w.keys.reserve(shape.keys);
  for (std::uint32_t i = 0; i < shape.keys; ++i) w.keys.push_back("key:" + std::to_string(i));
  w.values = {std::string(shape.value_bytes, 'a'), std::string(shape.value_bytes, 'b')};

  const ScrambledZipf zipf(shape.keys, shape.zipf_theta, kPermutationSeed);
  for (unsigned t = 0; t < shape.threads; ++t) {
    std::mt19937_64 rng(kThreadSeedBase + t);
    std::bernoulli_distribution is_write(shape.write_fraction);
    auto& reads = w.read_only.emplace_back(shape.requests_per_thread);
    auto& mixed = w.mixed.emplace_back(shape.requests_per_thread);
    for (std::size_t i = 0; i < shape.requests_per_thread; ++i) {
      reads[i] = zipf.next(rng);
      mixed[i] = is_write(rng) ? (reads[i] | kWriteBit) : reads[i];
    }
  }
  w.hot_key.assign(shape.threads, std::vector<std::uint32_t>(kHotKeyRequests, zipf.hottest()));
  return w;
}

}  // namespace tiercache::bench
