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

// Two caches measured in turn, step by step (which goes first alternates), so that both see the
// same machine: a figure and its peer taken one after the other differ by what else the machine
// ran meanwhile. Mean µs per step of each.
struct PairedMeans {
  double a_us = 0, b_us = 0;
};

// Gets every key once from each of two caches with an empty L1, in turn key by key: µs per get;
// nullopt (said) unless each was an L2 hit with a value of kL2ValueBytes.
std::optional<PairedMeans> l2_hit_gets(Cache& a, Cache& b, const std::vector<std::string>& keys,
                                       const char* who);

// Splits `keys` into batches of `batch_keys` and reads each batch with one get_many from each of
// two caches with an empty L1, in turn batch by batch: µs per batch; nullopt (said) unless every
// key of every batch was an L2 hit with a value of kL2ValueBytes.
std::optional<PairedMeans> get_many_batches(Cache& a, Cache& b,
                                            const std::vector<std::string>& keys,
                                            std::size_t batch_keys, const char* who);

}  // namespace tiercache::bench
