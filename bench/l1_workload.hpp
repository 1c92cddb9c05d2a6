// bench/l1_workload.hpp — L1Workload: the keys, values and per-thread request sequences every L1
// figure replays. Built once, before any clock runs, so each target sees the same requests and
// no figure pays for key generation.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tiercache::bench {

struct L1WorkloadShape {
  std::uint32_t keys = 0;
  double zipf_theta = 0;
  std::size_t value_bytes = 0;
  unsigned threads = 0;
  // Share of requests in the mixed sequences that are a set() of an existing key.
  double write_fraction = 0;
  // Length of each thread's sequence; a run longer than that wraps around.
  std::size_t requests_per_thread = 0;
};

// A request is a key index; this bit set makes it a set() of that key instead of a get().
inline constexpr std::uint32_t kWriteBit = std::uint32_t{1} << 31;

struct L1Workload {
  std::vector<std::string> keys;      // "key:<n>"
  std::array<std::string, 2> values;  // keys start with [0]; sets alternate [1], [0], ...
  std::vector<std::vector<std::uint32_t>> read_only;  // per thread: Zipf key indices
  std::vector<std::vector<std::uint32_t>> mixed;      // the same indices, some marked kWriteBit
  std::vector<std::vector<std::uint32_t>> hot_key;    // per thread: the hottest key, repeated

  static L1Workload build(const L1WorkloadShape& shape);
};

}  // namespace tiercache::bench
