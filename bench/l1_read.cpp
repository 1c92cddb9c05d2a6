// bench/l1_read.cpp — tiercache's L1 against a raw libcds map, tbb::concurrent_hash_map and a
// hand-written mutex LRU: the same requests, in one run, one target at a time (each built,
// populated, measured and freed before the next, so none runs in another's memory footprint).
//
// Every target is populated with every key first, so every get hits: a miss is cheaper than a
// hit, and the printed hit ratio shows none flattered tiercache. Peers hold every key by
// construction; a peer that misses means the bench is broken, and the run fails.
#include "bench/l1_read.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <initializer_list>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bench/l1_workload.hpp"
#include "bench/peers/libcds_map.hpp"
#include "bench/peers/mutex_lru.hpp"
#include "bench/peers/tbb_map.hpp"
#include "bench/tiercache_target.hpp"
#include "tiercache/cache.hpp"

namespace tiercache::bench {
namespace {

// The workload of design.md section 7. Sequences are 4x the key count, so a wrap repeats no
// short pattern a cache could learn.
constexpr L1WorkloadShape kShape{.keys = 1'000'000,
                                 .zipf_theta = 0.99,
                                 .value_bytes = 100,
                                 .threads = 2,
                                 .write_fraction = 0.10,
                                 .requests_per_thread = std::size_t{1} << 22};
// Requests between two looks at the stop flag, so the look stays off the profile.
constexpr std::size_t kRequestsPerStopCheck = 256;
// tiercache's byte budget per key: ~1.4x key + value + overhead (~180 B), headroom enough for
// the shards' uneven shares that nothing is evicted, as a user would size it.
constexpr std::size_t kCacheBytesPerKey = 256;
// One get in this many is timed for the latency figure: timing every get would double its cost.
constexpr std::uint64_t kLatencySampleEvery = 64;
// Latency samples each thread keeps (8 MiB): several seconds' worth at one get in 64.
constexpr std::size_t kMaxLatencySamples = std::size_t{1} << 20;
// Targets, from design.md section 7.
constexpr double kMinRatioToRaw = 0.8;
constexpr double kMinRatioToLru = 3.0;
constexpr double kMinRatioToTbb = 1.0;
constexpr double kMinHotKeyRatio = 0.8;
constexpr double kMaxHitP99Ns = 1000;
constexpr std::size_t kMaxOverheadBytesPerEntry = 64;
// Below this share of the cores the workers did not have the machine to themselves.
constexpr double kMinCpuShare = 0.9;

using Clock = std::chrono::steady_clock;
using Sequences = std::vector<std::vector<std::uint32_t>>;

enum class ReadPath {
  get,        // a new std::string per hit, as Cache::get and every peer return
  get_into,   // into the thread's buffer, no allocation
  get_timed,  // get, with one call in kLatencySampleEvery timed
};

struct Throughput {
  RunResult read_only;
  RunResult mixed;
};

struct HitLatency {
  double cpu_share = 0;  // as in RunResult
  std::uint64_t p50_ns = 0;
  std::uint64_t p99_ns = 0;
  std::uint64_t p999_ns = 0;
  std::size_t samples = 0;
};

struct TiercacheFigures {
  Throughput get;
  RunResult read_only_get_into;
  RunResult hot_key;
  HitLatency latency;
  std::size_t entries = 0;
  std::size_t stats_overhead_bytes = 0;
  double rss_overhead_bytes = 0;
  std::string options;
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

template <ReadPath kPath = ReadPath::get, class Target>
RunResult measure(Target& target, const L1Workload& w, const Sequences& requests,
                  const RunTimes& times) {
  const auto body = [&](unsigned t, RunGate& gate) {
    return replay<kPath>(target, w, requests[t], gate);
  };
  run_timed(kShape.threads, times.warmup, body);
  return run_timed(kShape.threads, times.measured, body);
}

template <class Target>
bool populate(Target& target, const L1Workload& w) {
  [[maybe_unused]] const typename Target::ThreadScope scope;
  for (const auto& key : w.keys)
    if (!target.set(key, w.values[0])) return false;
  return true;
}

HitLatency measure_hit_latency(TiercacheTarget& target, const L1Workload& w,
                               const RunTimes& times) {
  std::vector<std::vector<std::uint64_t>> latencies(kShape.threads);
  const auto body = [&](unsigned t, RunGate& gate) {
    latencies[t].clear();
    latencies[t].reserve(kMaxLatencySamples);
    return replay<ReadPath::get_timed>(target, w, w.read_only[t], gate, &latencies[t]);
  };
  run_timed(kShape.threads, times.warmup, body);
  const double cpu_share = run_timed(kShape.threads, times.measured, body).cpu_share;

  std::vector<std::uint64_t> all;
  for (const auto& mine : latencies) all.insert(all.end(), mine.begin(), mine.end());
  if (all.empty()) return {.cpu_share = cpu_share};
  std::sort(all.begin(), all.end());
  const auto at = [&](double q) {
    return all[std::min(all.size() - 1, static_cast<std::size_t>(q * all.size()))];
  };
  return {.cpu_share = cpu_share,
          .p50_ns = at(0.50),
          .p99_ns = at(0.99),
          .p999_ns = at(0.999),
          .samples = all.size()};
}

std::size_t resident_bytes() {
  std::ifstream statm("/proc/self/statm");
  std::size_t total_pages = 0;
  std::size_t resident_pages = 0;
  statm >> total_pages >> resident_pages;
  return resident_pages * static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
}

// Whether a target can miss a key it was populated with: tiercache may evict, a peer never does.
enum class Misses { possible, impossible };

// A failed set, or a miss where none is possible, means the bench itself is broken.
bool check_run(const char* target, const char* figure, const RunResult& r, Misses misses) {
  const bool misses_ok = misses == Misses::possible || r.total.hits == r.total.gets;
  if (r.total.failed_sets == 0 && misses_ok) return true;
  std::fprintf(stderr, "l1_read: %s, %s: %llu of %llu gets missed, %llu sets failed; run void\n",
               target, figure, static_cast<unsigned long long>(r.total.gets - r.total.hits),
               static_cast<unsigned long long>(r.total.gets),
               static_cast<unsigned long long>(r.total.failed_sets));
  return false;
}

std::optional<TiercacheFigures> measure_tiercache(const L1Workload& w, const RunTimes& times) {
  const std::size_t resident_before = resident_bytes();
  auto cache =
      Cache::open({.l1 = {.max_bytes = kShape.keys * kCacheBytesPerKey,
                          .expected_entry_bytes = w.keys.back().size() + kShape.value_bytes}});
  if (!cache) {
    std::fprintf(stderr, "l1_read: Cache::open: %s\n", cache.error().detail.c_str());
    return std::nullopt;
  }
  TiercacheTarget target(*cache);
  if (!populate(target, w)) {
    std::fprintf(stderr, "l1_read: tiercache: a set failed while populating\n");
    return std::nullopt;
  }
  TiercacheFigures f;
  const CacheStats stats = cache->stats();
  std::size_t payload_bytes = 0;
  for (const auto& key : w.keys) payload_bytes += key.size() + kShape.value_bytes;
  f.entries = stats.entries;
  f.stats_overhead_bytes = stats.overhead_bytes_per_entry;
  f.rss_overhead_bytes =
      (static_cast<double>(resident_bytes()) - resident_before - payload_bytes) / kShape.keys;
  f.options = to_string(cache->options());
  if (stats.entries != kShape.keys)
    std::fprintf(stderr,
                 "l1_read: warning: tiercache holds %zu of %u keys after populating, with "
                 "max_bytes at %zu per key; its misses flatter its figures\n",
                 stats.entries, kShape.keys, kCacheBytesPerKey);

  f.get.read_only = measure(target, w, w.read_only, times);
  f.read_only_get_into = measure<ReadPath::get_into>(target, w, w.read_only, times);
  f.hot_key = measure(target, w, w.hot_key, times);
  f.latency = measure_hit_latency(target, w, times);
  f.get.mixed = measure(target, w, w.mixed, times);
  const bool tally_ok = check_run("tiercache", "read-only", f.get.read_only, Misses::possible) &&
                        check_run("tiercache", "90/10", f.get.mixed, Misses::possible);
  if (!tally_ok) return std::nullopt;
  return f;
}

template <class Target>
std::optional<Throughput> measure_peer(const char* name, Target& target, const L1Workload& w,
                                       const RunTimes& times) {
  if (!populate(target, w)) {
    std::fprintf(stderr, "l1_read: %s: a set failed while populating\n", name);
    return std::nullopt;
  }
  Throughput t{.read_only = measure(target, w, w.read_only, times),
               .mixed = measure(target, w, w.mixed, times)};
  if (!check_run(name, "read-only", t.read_only, Misses::impossible) ||
      !check_run(name, "90/10", t.mixed, Misses::impossible))
    return std::nullopt;
  return t;
}

const char* yes_no(bool met) {
  return met ? "yes" : "no";
}

// The least CPU share among a figure's runs; below kMinCpuShare, says so on stderr too.
double cpu_share_of(const char* figure, std::initializer_list<double> shares) {
  const double least = std::min(shares);
  if (least < kMinCpuShare)
    std::fprintf(stderr,
                 "l1_read: %s: a run had %.2f of its cores; another process competed, so the "
                 "figure is low: rerun on an idle machine\n",
                 figure, least);
  return least;
}

void print_throughput(const char* figure, const RunResult& tiercache, const RunResult& raw,
                      const RunResult& tbb, const RunResult& lru) {
  const double to_raw = tiercache.mops / raw.mops;
  const double to_lru = tiercache.mops / lru.mops;
  const double to_tbb = tiercache.mops / tbb.mops;
  const double cpu_share =
      cpu_share_of(figure, {tiercache.cpu_share, raw.cpu_share, tbb.cpu_share, lru.cpu_share});
  std::printf(
      "%-20s Mops/s  tiercache=%.2f  libcds_raw=%.2f  tbb_chm=%.2f  mutex_lru=%.2f  "
      "ratio_raw=%.2f ratio_lru=%.2f ratio_tbb=%.2f  target: >=%.1fx raw, >=%.0fx lru, >=tbb  "
      "met=raw:%s,lru:%s,tbb:%s  hit_ratio=%.4f  cpu_share=%.2f\n",
      figure, tiercache.mops, raw.mops, tbb.mops, lru.mops, to_raw, to_lru, to_tbb, kMinRatioToRaw,
      kMinRatioToLru, yes_no(to_raw >= kMinRatioToRaw), yes_no(to_lru >= kMinRatioToLru),
      yes_no(to_tbb >= kMinRatioToTbb), tiercache.hit_ratio(), cpu_share);
}

void print_figures(const TiercacheFigures& tc, const Throughput& raw, const Throughput& tbb,
                   const Throughput& lru) {
  print_throughput("l1_read_ro", tc.get.read_only, raw.read_only, tbb.read_only, lru.read_only);
  print_throughput("l1_read_90_10", tc.get.mixed, raw.mixed, tbb.mixed, lru.mixed);

  const char* figure = "l1_read_ro_get_into";
  const double into_ratio = tc.read_only_get_into.mops / tc.get.read_only.mops;
  std::printf(
      "%-20s Mops/s  tiercache_get_into=%.2f  tiercache_get=%.2f  ratio_get=%.2f  "
      "hit_ratio=%.4f  cpu_share=%.2f\n",
      figure, tc.read_only_get_into.mops, tc.get.read_only.mops, into_ratio,
      tc.read_only_get_into.hit_ratio(),
      cpu_share_of(figure, {tc.read_only_get_into.cpu_share, tc.get.read_only.cpu_share}));

  figure = "l1_hit_p99_ns";
  std::printf(
      "%-20s tiercache=%llu  p50_ns=%llu  p999_ns=%llu  samples=%zu  target: <=%.0f  met=%s  "
      "cpu_share=%.2f\n",
      figure, static_cast<unsigned long long>(tc.latency.p99_ns),
      static_cast<unsigned long long>(tc.latency.p50_ns),
      static_cast<unsigned long long>(tc.latency.p999_ns), tc.latency.samples, kMaxHitP99Ns,
      yes_no(tc.latency.samples > 0 && tc.latency.p99_ns <= kMaxHitP99Ns),
      cpu_share_of(figure, {tc.latency.cpu_share}));

  figure = "hot_key_read";
  const double hot_ratio = tc.hot_key.mops / tc.get.read_only.mops;
  std::printf(
      "%-20s Mops/s  tiercache=%.2f  uniform=%.2f  ratio=%.2f  target: >=%.1fx  met=%s  "
      "hit_ratio=%.4f  cpu_share=%.2f\n",
      figure, tc.hot_key.mops, tc.get.read_only.mops, hot_ratio, kMinHotKeyRatio,
      yes_no(hot_ratio >= kMinHotKeyRatio), tc.hot_key.hit_ratio(),
      cpu_share_of(figure, {tc.hot_key.cpu_share, tc.get.read_only.cpu_share}));

  std::printf(
      "%-20s entries=%zu  overhead_bytes_per_entry: stats=%zu rss=%.0f  target: <=%zu  "
      "met=stats:%s,rss:%s\n",
      "l1_memory", tc.entries, tc.stats_overhead_bytes, tc.rss_overhead_bytes,
      kMaxOverheadBytesPerEntry, yes_no(tc.stats_overhead_bytes <= kMaxOverheadBytesPerEntry),
      yes_no(tc.rss_overhead_bytes <= kMaxOverheadBytesPerEntry));
}

}  // namespace

bool run_l1_read_figures(const RunTimes& times) {
  const L1Workload w = L1Workload::build(kShape);
  std::printf(
      "%-20s keys=%u value_bytes=%zu zipf=%.2f threads=%u write_fraction=%.2f "
      "seconds=%.2f warmup=%.2f\n",
      "l1_config", kShape.keys, kShape.value_bytes, kShape.zipf_theta, kShape.threads,
      kShape.write_fraction, times.measured.count(), times.warmup.count());

  const auto tiercache = measure_tiercache(w, times);
  if (!tiercache) return false;
  std::printf("%-20s %s\n", "l1_cache", tiercache->options.c_str());
  std::optional<Throughput> raw;
  std::optional<Throughput> tbb;
  std::optional<Throughput> lru;
  {
    LibcdsMap map(kShape.keys);
    raw = measure_peer("libcds_raw", map, w, times);
  }
  {
    TbbMap map(kShape.keys);
    tbb = measure_peer("tbb_chm", map, w, times);
  }
  {
    // Room for twice the keys, so the LRU never evicts and every get hits.
    MutexLru lru_cache(2 * std::size_t{kShape.keys});
    lru = measure_peer("mutex_lru", lru_cache, w, times);
  }
  if (!raw || !tbb || !lru) return false;
  print_figures(*tiercache, *raw, *tbb, *lru);
  return true;
}

}  // namespace tiercache::bench
