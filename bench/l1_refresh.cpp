// bench/l1_refresh.cpp — origin_loads_per_s_refresh and get_or_load_p99_us_refresh. Two threads
// get_or_load keys drawn Zipf 0.99 from 100 (L1 only, room for all), every value cached for
// 500 ms, from an origin that takes 2 ms a load (a sleep: the origin's time, not the cores'):
// at most 200 loads a second against millions of hits, so the callers mostly read.
// Measured twice in one run: with early refresh (beta 1, one refresh thread) and without:
// loader calls per second (the origin's load) and the 99th and 99.9th percentiles of a call's
// latency (a caller that waited for a load). Keys read in the last moments before expiry are
// refreshed in the background instead of missed; keys read rarer than that miss either way.
#include "bench/l1_refresh.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench/figures_file.hpp"
#include "bench/latency_samples.hpp"
#include "bench/scrambled_zipf.hpp"
#include "tiercache/tiercache.hpp"

namespace tiercache::bench {
namespace {

constexpr std::uint32_t kKeys = 100;
constexpr std::uint32_t kSmokeKeys = 20;
constexpr unsigned kThreads = 2;
constexpr auto kTtl = std::chrono::milliseconds(500);
constexpr auto kLoadTime = std::chrono::milliseconds(2);
constexpr std::uint64_t kPermutationSeed = 11;

using Clock = std::chrono::steady_clock;

struct RefreshRun {
  double loads_per_s = 0;
  double p99_us = 0;
  double p999_us = 0;
  std::uint64_t refreshes = 0;
  std::size_t waited = 0;  // calls that took a load time or more: they waited for the origin
  std::size_t calls = 0;
};

std::optional<RefreshRun> measure(double beta, const std::vector<std::string>& keys,
                                  const RunTimes& times) {
  auto cache = Cache::open(
      {.default_ttl = kTtl, .early_refresh_beta = beta, .refresh_threads = beta > 0 ? 1u : 0u});
  if (!cache) {
    std::fprintf(stderr, "l1_refresh: Cache::open: %s\n", cache.error().detail.c_str());
    return std::nullopt;
  }
  std::atomic<std::uint64_t> loads{0};
  const std::string value(100, 'v');
  const Loader origin = [&](const Context&, std::string_view) -> Result<Loaded> {
    loads.fetch_add(1, std::memory_order_relaxed);
    std::this_thread::sleep_for(kLoadTime);
    return Loaded(value);
  };
  const ScrambledZipf zipf(static_cast<std::uint32_t>(keys.size()), 0.99, kPermutationSeed);
  std::atomic<int> phase{0};  // 0 warm-up, 1 measured, 2 stop
  std::atomic<bool> failed{false};
  std::vector<std::vector<std::uint64_t>> latencies(kThreads);
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(t + 1);
      const Context ctx = Context::background();
      for (int p; (p = phase.load(std::memory_order_relaxed)) != 2;) {
        const std::string& key = keys[zipf.next(rng)];
        const Clock::time_point start = Clock::now();
        const Result<std::string> r = cache->get_or_load(ctx, key, origin);
        const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start);
        if (!r) failed = true;
        if (p == 1) latencies[t].push_back(static_cast<std::uint64_t>(ns.count()));
      }
    });
  std::this_thread::sleep_for(times.warmup);
  const std::uint64_t loads_before = loads.load();
  const std::uint64_t refreshes_before = cache->stats().refreshes;
  phase = 1;
  const Clock::time_point start = Clock::now();
  std::this_thread::sleep_for(times.measured);
  const std::uint64_t loads_after = loads.load();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const std::uint64_t refreshes = cache->stats().refreshes - refreshes_before;
  phase = 2;
  for (auto& t : threads) t.join();
  if (failed) {
    std::fprintf(stderr, "l1_refresh: a get_or_load failed\n");
    return std::nullopt;
  }
  std::vector<std::uint64_t> all;
  for (const auto& l : latencies) all.insert(all.end(), l.begin(), l.end());
  const LatencyPercentiles p = percentiles_of(all);
  const auto load_ns = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(kLoadTime).count());
  // Sorted by percentiles_of: the calls of a load time or more are the tail.
  const std::size_t waited =
      static_cast<std::size_t>(all.end() - std::lower_bound(all.begin(), all.end(), load_ns));
  return RefreshRun{.loads_per_s = static_cast<double>(loads_after - loads_before) / seconds,
                    .p99_us = static_cast<double>(p.p99_ns) / 1000,
                    .p999_us = static_cast<double>(p.p999_ns) / 1000,
                    .refreshes = refreshes,
                    .waited = waited,
                    .calls = all.size()};
}

}  // namespace

bool run_l1_refresh_figures(const BenchSettings& settings) {
  const std::uint32_t n = settings.size == BenchSize::full ? kKeys : kSmokeKeys;
  std::vector<std::string> keys;
  for (std::uint32_t i = 0; i < n; ++i) keys.push_back("key:" + std::to_string(i));
  const auto on = measure(1.0, keys, settings.times);
  const auto off = measure(0.0, keys, settings.times);
  if (!on || !off) return false;
  std::printf(
      "%-20s loads_per_s=%.0f (refreshes %llu)  no_refresh=%.0f  p99_us=%.2f no_refresh=%.2f  "
      "p999_us=%.1f no_refresh=%.1f  calls_that_waited=%zu of %zu, no_refresh=%zu of %zu  "
      "keys=%u ttl_ms=%lld load_ms=%lld threads=%u refresh_threads=1\n",
      "origin_loads_refresh", on->loads_per_s, static_cast<unsigned long long>(on->refreshes),
      off->loads_per_s, on->p99_us, off->p99_us, on->p999_us, off->p999_us, on->waited, on->calls,
      off->waited, off->calls, n, static_cast<long long>(kTtl.count()),
      static_cast<long long>(kLoadTime.count()), kThreads);
  return record_figure({.name = "origin_loads_per_s_refresh",
                        .unit = "loader calls per second",
                        .value = on->loads_per_s,
                        .peers = {{"no_refresh", off->loads_per_s}},
                        .target = "none (issue 11 asks for the figure beside no_refresh)"}) &&
         record_figure({.name = "get_or_load_p99_us_refresh",
                        .unit = "us, 99th percentile of a get_or_load",
                        .value = on->p99_us,
                        .peers = {{"no_refresh", off->p99_us}},
                        .target = "none (issue 11 asks for the figure beside no_refresh)"});
}

}  // namespace tiercache::bench
