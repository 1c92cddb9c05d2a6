// bench/latency_samples.hpp — percentiles of the per-call latencies a figure sampled.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace tiercache::bench {

struct LatencyPercentiles {
  std::uint64_t p50_ns = 0;
  std::uint64_t p99_ns = 0;
  std::uint64_t p999_ns = 0;
  std::uint64_t max_ns = 0;
  std::size_t samples = 0;
};

// Sorts `ns` in place. All zero when there are no samples.
inline LatencyPercentiles percentiles_of(std::vector<std::uint64_t>& ns) {
  if (ns.empty()) return {};
  std::sort(ns.begin(), ns.end());
  const auto at = [&](double q) {
    return ns[std::min(ns.size() - 1, static_cast<std::size_t>(q * ns.size()))];
  };
  return {.p50_ns = at(0.50),
          .p99_ns = at(0.99),
          .p999_ns = at(0.999),
          .max_ns = ns.back(),
          .samples = ns.size()};
}

}  // namespace tiercache::bench
