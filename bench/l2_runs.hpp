// bench/l2_runs.hpp — the measured loops the L2 figures of other backends share (Memcached,
// Redis Cluster, and their single-Redis peers): each checks its run and voids it if anything
// failed, saying why on stderr.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "tiercache/cache.hpp"

namespace tiercache::bench {

// Sets every key, then flushes: ops/s until L2 took them all; nullopt (said) if any failed.
std::optional<double> async_sets(Cache& cache, const std::vector<std::string>& keys,
                                 const std::string& value, const char* who);

// Gets every key once from a cache with an empty L1: µs per get; nullopt (said) unless each was
// an L2 hit with a value of kL2ValueBytes.
std::optional<double> l2_hit_gets(Cache& cache, const std::vector<std::string>& keys,
                                  const char* who);

// One get_many of each `batch_keys` keys in turn from caches with an empty L1, alternating
// between `a` and `b` batch by batch so that both see the same machine: mean µs per batch for
// each; nullopt (said) unless every key of every batch was an L2 hit with a value of
// kL2ValueBytes.
struct GetManyMeans {
  double a_us = 0, b_us = 0;
};
std::optional<GetManyMeans> get_many_batches(Cache& a, Cache& b,
                                             const std::vector<std::string>& keys,
                                             std::size_t batch_keys, const char* who);

}  // namespace tiercache::bench
