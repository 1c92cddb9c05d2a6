// bench/l1_coalesce.hpp — miss coalescing (design.md section 7): 64 threads, released together,
// get_or_load one cold key through a loader that takes 20 ms; exactly one loader call may run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

#include "bench/bench_settings.hpp"
#include "tiercache/cache.hpp"

namespace tiercache::bench {

// Threads that ask for the cold key at once, and rounds (a new cold key each) per figure.
inline constexpr unsigned kCoalesceThreads = 64;
inline constexpr unsigned kCoalesceRounds = 5;
inline constexpr unsigned kSmokeCoalesceRounds = 2;

struct CoalesceRound {
  std::uint64_t loader_calls = 0;  // counted by the loader itself
  std::uint64_t coalesced = 0;     // stats().coalesced: callers that waited on the leader's load
  std::uint64_t l1_hits = 0;       // callers that came after the load and hit L1
};

// One round on `key`, which must be absent from `cache` (and from its L2). nullopt (said on
// stderr) if a caller got an error or a value other than the loader's.
std::optional<CoalesceRound> coalesce_round(Cache& cache, const std::string& key);

// "coalesce:<prefix>:<round>": a key no other figure uses.
std::string cold_key(const char* prefix, unsigned round);

// Prints and records coalesced_loads, on a cache without L2. False (said on stderr) if void.
bool run_l1_coalesce_figure(const BenchSettings& settings);

}  // namespace tiercache::bench
