// bench/l2_read.cpp — a get that misses L1 and hits Redis. Redis is filled first; each
// measurement opens a new cache, so L1 is empty and every get of a key (each read once) is an L1
// miss answered by L2, which stats().l2_hits must confirm. The peer is a hiredis client issuing
// one GET per call on the same keys. With several threads the misses are concurrent and share the
// cache's one read connection.
#include "bench/l2_read.hpp"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "bench/figures_file.hpp"
#include "bench/l2_figures.hpp"
#include "bench/l2_other_load.hpp"
#include "bench/latency_samples.hpp"
#include "bench/peers/hiredis_client.hpp"
#include "bench/plot_data.hpp"
#include "bench/timed_run.hpp"
#include "tiercache/cache.hpp"
#include "tiercache/context.hpp"

namespace tiercache::bench {
namespace {

using Clock = std::chrono::steady_clock;

// Keys each measurement reads once: one round trip each keeps this at ~1 s for one thread.
constexpr std::size_t kReadKeys = 20'000;
constexpr std::size_t kSmokeReadKeys = 2'000;
// Read before the measured keys: connections up, threads and heap warm.
constexpr std::size_t kReadWarmupKeys = 1'000;
constexpr std::size_t kSmokeReadWarmupKeys = 200;
// design.md section 7: an L2 hit costs at most this times a plain hiredis GET per call.
constexpr double kMaxRatioToHiredis = 1.2;
// Value size of the write stream that runs beside the reads in l2_hit_get_under_writes: large
// values make large pipelines, the case a shared connection would queue reads behind.
constexpr std::size_t kStreamValueBytes = 4096;
// Distinct keys the write stream cycles through.
constexpr std::size_t kStreamKeys = 10'000;
// Threads missing at once in the concurrent figure.
constexpr unsigned kManyReaders = 8;
// SETs per round trip while filling Redis.
constexpr std::size_t kFillPipelineDepth = 256;

struct GetRun {
  unsigned threads = 0;
  std::size_t keys = 0;
  double seconds = 0;  // all keys, first get until the last thread finished
  LatencyPercentiles latency;
  std::vector<std::uint64_t> sorted_ns;  // every get's latency, ascending
  std::uint64_t l2_hits = 0;
  double us_per_get() const { return seconds * 1e6 / keys; }
  double ops_per_s() const { return keys / seconds; }
};

double us(std::uint64_t ns) {
  return static_cast<double>(ns) / 1e3;
}

std::uint64_t ns_since(Clock::time_point start) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - start).count();
}

enum class Writes { none, streaming };

// A new cache reads `warm` once, then `threads` threads read `keys` once between them; with
// Writes::streaming one more thread keeps the cache's writer busy with large sets meanwhile.
std::optional<GetRun> measure_tiercache(const test::RedisServer& server,
                                        const std::vector<std::string>& keys,
                                        const std::vector<std::string>& warm, unsigned threads,
                                        Writes writes = Writes::none) {
  auto cache = open_l2_cache(server, {});
  if (!cache) return std::nullopt;
  const Context ctx = Context::background();
  for (const std::string& key : warm)
    if (!cache->get(ctx, key)) {
      std::fprintf(stderr, "l2: get warm-up: %s missed\n", key.c_str());
      return std::nullopt;
    }

  std::jthread stream;
  if (writes == Writes::streaming)
    stream = std::jthread([&](std::stop_token stop) {
      const std::string value(kStreamValueBytes, 'w');
      // Refusals (a full queue) are expected: the stream only has to keep the writer busy.
      for (std::size_t i = 0; !stop.stop_requested(); ++i)
        (void)cache->set(ctx, numbered_key("stream", i % kStreamKeys), value);
    });

  const CacheStats before = cache->stats();
  RunGate gate(threads);
  std::vector<std::vector<std::uint64_t>> latencies(threads);
  std::vector<std::size_t> wrong(threads);
  std::vector<std::jthread> workers;
  for (unsigned t = 0; t < threads; ++t)
    workers.emplace_back([&, t] {
      latencies[t].reserve(keys.size() / threads + 1);
      gate.arrive_and_wait_for_go();
      for (std::size_t i = t; i < keys.size(); i += threads) {
        const auto call = Clock::now();
        const Result<std::string> value = cache->get(ctx, keys[i]);
        latencies[t].push_back(ns_since(call));
        if (!value || value->size() != kL2ValueBytes) ++wrong[t];
      }
    });
  gate.wait_until_all_ready();
  const auto start = Clock::now();
  gate.open();
  workers.clear();
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const CacheStats after = cache->stats();
  stream = {};

  std::size_t wrong_total = 0;
  std::vector<std::uint64_t> all;
  for (unsigned t = 0; t < threads; ++t) {
    wrong_total += wrong[t];
    all.insert(all.end(), latencies[t].begin(), latencies[t].end());
  }
  const std::uint64_t l2_hits = after.l2_hits - before.l2_hits;
  const std::uint64_t l1_hits = after.l1_hits - before.l1_hits;
  if (wrong_total != 0 || l2_hits != keys.size() || l1_hits != 0) {
    std::fprintf(stderr,
                 "l2: get, %u threads: %zu gets failed or wrong, %llu L2 hits and %llu L1 hits "
                 "for %zu keys; run void\n",
                 threads, wrong_total, static_cast<unsigned long long>(l2_hits),
                 static_cast<unsigned long long>(l1_hits), keys.size());
    return std::nullopt;
  }
  GetRun run{.threads = threads, .keys = keys.size(), .seconds = seconds, .l2_hits = l2_hits};
  run.latency = percentiles_of(all);
  run.sorted_ns = std::move(all);
  return run;
}

std::optional<GetRun> measure_hiredis(const test::RedisServer& server,
                                      const std::vector<std::string>& keys,
                                      const std::vector<std::string>& warm) {
  HiredisClient client(server.host(), server.port());
  if (!client.is_connected()) {
    std::fprintf(stderr, "l2: hiredis: %s\n", client.error().c_str());
    return std::nullopt;
  }
  for (const std::string& key : warm)
    if (client.get(key) != static_cast<std::int64_t>(kL2ValueBytes)) {
      std::fprintf(stderr, "l2: hiredis: GET %s: %s\n", key.c_str(), client.error().c_str());
      return std::nullopt;
    }
  std::vector<std::uint64_t> latencies;
  latencies.reserve(keys.size());
  const auto start = Clock::now();
  for (const std::string& key : keys) {
    const auto call = Clock::now();
    const std::int64_t size = client.get(key);
    latencies.push_back(ns_since(call));
    if (size != static_cast<std::int64_t>(kL2ValueBytes)) {
      std::fprintf(stderr, "l2: hiredis: GET %s: %s\n", key.c_str(), client.error().c_str());
      return std::nullopt;
    }
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  GetRun run{.threads = 1, .keys = keys.size(), .seconds = seconds};
  run.latency = percentiles_of(latencies);
  run.sorted_ns = std::move(latencies);
  return run;
}

}  // namespace

bool run_l2_read_figures(const test::RedisServer& server, BenchSize size) {
  const bool full = size == BenchSize::full;
  std::vector<std::string> keys;
  std::vector<std::string> warm;
  for (std::size_t i = 0; i < (full ? kReadKeys : kSmokeReadKeys); ++i)
    keys.push_back(numbered_key("read", i));
  for (std::size_t i = 0; i < (full ? kReadWarmupKeys : kSmokeReadWarmupKeys); ++i)
    warm.push_back(numbered_key("rwarm", i));

  const OtherLoad load(server.pid());
  if (!empty_redis(server)) return false;
  {
    HiredisClient filler(server.host(), server.port());
    const std::string value(kL2ValueBytes, 'x');
    if (!filler.is_connected() || !filler.set_pipelined(keys, value, kFillPipelineDepth) ||
        !filler.set_pipelined(warm, value, kFillPipelineDepth)) {
      std::fprintf(stderr, "l2: filling Redis: %s\n", filler.error().c_str());
      return false;
    }
  }

  const std::optional<GetRun> one = measure_tiercache(server, keys, warm, 1);
  if (!one) return false;
  const std::optional<GetRun> many = measure_tiercache(server, keys, warm, kManyReaders);
  if (!many) return false;
  const std::optional<GetRun> hiredis = measure_hiredis(server, keys, warm);
  if (!hiredis) return false;
  const std::optional<GetRun> busy = measure_tiercache(server, keys, warm, 1, Writes::streaming);
  if (!busy) return false;
  const double cores = other_load_of("l2_hit_get", load);

  std::printf(
      "%-20s tiercache=%.1f  hiredis_sync_per_call=%.1f  ratio=%.2f  (lower is faster)  "
      "p50_us: tiercache=%.1f hiredis=%.1f  p99_us: tiercache=%.1f hiredis=%.1f  "
      "l2_hits=%llu/%zu  other_load=%.2f\n",
      "l2_hit_get_us", one->us_per_get(), hiredis->us_per_get(),
      one->us_per_get() / hiredis->us_per_get(), us(one->latency.p50_ns),
      us(hiredis->latency.p50_ns), us(one->latency.p99_ns), us(hiredis->latency.p99_ns),
      static_cast<unsigned long long>(one->l2_hits), keys.size(), cores);
  std::printf(
      "%-20s ops/s  threads=1: %.0f  %u: %.0f  ratio=%.2f  p99_us: 1=%.1f %u=%.1f  "
      "hiredis_sync_per_call_1_thread=%.0f  l2_hits=%llu/%zu  other_load=%.2f\n",
      "l2_hit_get_mt", one->ops_per_s(), many->threads, many->ops_per_s(),
      many->ops_per_s() / one->ops_per_s(), us(one->latency.p99_ns), many->threads,
      us(many->latency.p99_ns), hiredis->ops_per_s(),
      static_cast<unsigned long long>(many->l2_hits), keys.size(), cores);
  std::printf(
      "%-20s us  tiercache=%.1f  idle=%.1f  ratio=%.2f  (reads have their own connection: a "
      "write stream of %zu-byte sets runs meanwhile)  p99_us: busy=%.1f idle=%.1f  "
      "other_load=%.2f\n",
      "l2_hit_get_under_writes", busy->us_per_get(), one->us_per_get(),
      busy->us_per_get() / one->us_per_get(), kStreamValueBytes, us(busy->latency.p99_ns),
      us(one->latency.p99_ns), cores);
  constexpr double kNsPerUs = 1e3;
  const bool written =
      record_figure({.name = "l2_hit_get_us",
                     .unit = "µs",
                     .value = one->us_per_get(),
                     .peers = {{"hiredis_sync_per_call", hiredis->us_per_get()}},
                     .target = "<= 1.2x hiredis_sync_per_call (lower is faster)",
                     .met = one->us_per_get() <= kMaxRatioToHiredis * hiredis->us_per_get()}) &&
      write_plot_data("l2_hit_get_latency_tiercache.cdf", cdf_text(one->sorted_ns, kNsPerUs)) &&
      write_plot_data("l2_hit_get_latency_hiredis_sync_per_call.cdf",
                      cdf_text(hiredis->sorted_ns, kNsPerUs));
  return written && empty_redis(server);
}

}  // namespace tiercache::bench
