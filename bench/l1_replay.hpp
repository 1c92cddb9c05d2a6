// bench/l1_replay.hpp — how an L1 figure drives a target: measure() runs replay() of an
// L1Workload's request sequences on timed threads (bench/timed_run.hpp), after a warm-up, and
// the cache-resident shape and cache sizing the figures share. Shared by bench/l1_read.cpp and
// bench/l1_metrics.cpp, so a figure's peers and its metrics-off run replay with the same loop.
//
// A target has a ThreadScope type (constructed on each replaying thread), get(key) and
// set(key, value) (and get_into(key) for ReadPath::get_into); get's result is empty on a miss
// and converts to a string_view on a hit.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bench/l1_workload.hpp"
#include "bench/tiercache_target.hpp"
#include "bench/timed_run.hpp"
#include "tiercache/cache.hpp"
#include "tiercache/options.hpp"

namespace tiercache::bench {

// Threads of every L1 figure but the sweep, as design.md section 7 sets them.
inline constexpr unsigned kFigureThreads = 2;
// Key popularity and value size of every L1 workload (design.md section 7).
inline constexpr double kZipfTheta = 0.99;
inline constexpr std::size_t kValueBytes = 100;
// Caffeine's GetPutBenchmark shape (2^15 keys, Zipf 0.99, 2 threads, sequences of 2^20) with
// 100-byte values: read-only, and with 25 % writes. Caffeine runs the same sequences in its JVM
// and returns its value by reference; tiercache's get copies it out, get_into into a buffer.
inline constexpr L1WorkloadShape kResidentShape{.keys = std::uint32_t{1} << 15,
                                                .zipf_theta = kZipfTheta,
                                                .value_bytes = kValueBytes,
                                                .threads = kFigureThreads,
                                                .write_fraction = 0.25,
                                                .requests_per_thread = std::size_t{1} << 20};
// Requests between two looks at the stop flag, so the look stays off the profile.
inline constexpr std::size_t kRequestsPerStopCheck = 256;
// tiercache's byte budget per key: ~1.4x key + value + overhead (~180 B), headroom enough for
// the shards' uneven shares that nothing is evicted, as a user would size it.
inline constexpr std::size_t kCacheBytesPerKey = 256;
// One get in this many is timed for the latency figure: timing every get would double its cost.
inline constexpr std::uint64_t kLatencySampleEvery = 64;

using Sequences = std::vector<std::vector<std::uint32_t>>;

enum class ReadPath {
  get,        // a new std::string per hit, as Cache::get and every peer return
  get_into,   // into the thread's buffer, no allocation
  get_timed,  // get, with one call in kLatencySampleEvery timed
};

template <ReadPath kPath, class Target>
auto read_value(Target& target, const std::string& key) {
  if constexpr (kPath == ReadPath::get_into)
    return target.get_into(key);
  else
    return target.get(key);
}

// Counts a get's outcome; folding in the first byte makes the copy impossible to optimise away.
template <class Value>
void tally_read(const Value& value, ThreadTally& tally) {
  if (!value) return;
  const std::string_view bytes = *value;
  ++tally.hits;
  tally.sink += bytes.size() + (bytes.empty() ? 0 : static_cast<unsigned char>(bytes.front()));
}

// Replays `requests`, wrapping, until the gate closes. Under get_timed, `latencies_ns` receives
// the sampled latencies, up to its reserved capacity.
template <ReadPath kPath, class Target>
ThreadTally replay(Target& target, const L1Workload& w, std::span<const std::uint32_t> requests,
                   RunGate& gate, std::vector<std::uint64_t>* latencies_ns = nullptr) {
  using Clock = std::chrono::steady_clock;
  [[maybe_unused]] const typename Target::ThreadScope scope;
  ThreadTally tally;
  std::uint64_t sets = 0;
  std::size_t next = 0;
  gate.arrive_and_wait_for_go();
  while (!gate.should_stop()) {
    for (std::size_t i = 0; i < kRequestsPerStopCheck; ++i) {
      const std::uint32_t request = requests[next];
      next = next + 1 == requests.size() ? 0 : next + 1;
      const std::string& key = w.keys[request & ~kWriteBit];
      if (request & kWriteBit) {
        if (!target.set(key, w.values[++sets % w.values.size()])) ++tally.failed_sets;
        continue;
      }
      ++tally.gets;
      if constexpr (kPath == ReadPath::get_timed) {
        if (tally.gets % kLatencySampleEvery == 0 &&
            latencies_ns->size() < latencies_ns->capacity()) {
          const auto start = Clock::now();
          const auto value = target.get(key);
          const auto end = Clock::now();
          latencies_ns->push_back(
              std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count());
          tally_read(value, tally);
          continue;
        }
      }
      tally_read(read_value<kPath>(target, key), tally);
    }
    tally.requests += kRequestsPerStopCheck;
  }
  return tally;
}

// A warm-up run, then the measured run, of `requests` (one sequence per thread).
template <ReadPath kPath = ReadPath::get, class Target>
RunResult measure(Target& target, const L1Workload& w, const Sequences& requests,
                  const RunTimes& times, unsigned threads = kFigureThreads) {
  const auto body = [&](unsigned t, RunGate& gate) {
    return replay<kPath>(target, w, requests[t], gate);
  };
  run_timed(threads, times.warmup, body);
  return run_timed(threads, times.measured, body);
}

// Sets every key of `w` to its first value.
template <class Target>
bool populate(Target& target, const L1Workload& w) {
  [[maybe_unused]] const typename Target::ThreadScope scope;
  for (const auto& key : w.keys)
    if (!target.set(key, w.values[0])) return false;
  return true;
}

// The run with the median throughput of a figure's rounds.
inline RunResult median_run(std::vector<RunResult> runs) {
  std::sort(runs.begin(), runs.end(),
            [](const RunResult& x, const RunResult& y) { return x.mops < y.mops; });
  return runs[runs.size() / 2];
}

// A cache sized as a user would size it for `shape`: every key fits. `metrics` as given (the
// defaults: latencies on). nullopt, said on stderr, if open() failed.
inline std::optional<Cache> open_cache(const L1WorkloadShape& shape, const L1Workload& w,
                                       const MetricsOptions& metrics = {}) {
  auto cache =
      Cache::open({.l1 = {.max_bytes = shape.keys * kCacheBytesPerKey,
                          .expected_entry_bytes = w.keys.back().size() + shape.value_bytes},
                   .metrics = metrics});
  if (!cache) {
    std::fprintf(stderr, "l1: Cache::open: %s\n", cache.error().detail.c_str());
    return std::nullopt;
  }
  return std::move(*cache);
}

// Populates, and warns if the cache holds fewer than all keys (its misses would flatter it).
inline bool populate_tiercache(Cache& cache, TiercacheTarget& target, const L1Workload& w) {
  if (!populate(target, w)) {
    std::fprintf(stderr, "l1: tiercache: a set failed while populating\n");
    return false;
  }
  if (const std::size_t entries = cache.stats().entries; entries != w.keys.size())
    std::fprintf(stderr,
                 "l1: warning: tiercache holds %zu of %zu keys after populating, with "
                 "max_bytes at %zu per key; its misses flatter its figures\n",
                 entries, w.keys.size(), kCacheBytesPerKey);
  return true;
}

}  // namespace tiercache::bench
