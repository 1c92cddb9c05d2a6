// bench/l2_write.cpp — tiercache's write path to Redis.
//
// Async: one thread sets distinct keys (nothing for the writer to coalesce); the clock runs from
// the first set until flush() says Redis acknowledged every one. A warm-up pass sets the same keys
// first, so the measured pass replaces L1 entries in a grown heap instead of faulting in fresh
// pages; Redis is emptied after it. The peers, on the same server and each from an empty
// database: redis-benchmark's pipelined SET and a hiredis client's SET per call.
// Sync: callers that each wait for their own acknowledgement; the writer's group commit should
// batch more of them as callers are added.
#include "bench/l2_write.hpp"

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "bench/figures_file.hpp"
#include "bench/l2_figures.hpp"
#include "bench/l2_other_load.hpp"
#include "bench/latency_samples.hpp"
#include "bench/peers/hiredis_client.hpp"
#include "bench/peers/redis_benchmark.hpp"
#include "tiercache/cache.hpp"
#include "tiercache/context.hpp"

namespace tiercache::bench {
namespace {

using Clock = std::chrono::steady_clock;

// Distinct keys, so no write is coalesced away and every one reaches Redis.
constexpr std::size_t kAsyncSets = 200'000;
constexpr std::size_t kSmokeAsyncSets = 20'000;
// redis-benchmark as design.md section 7 runs it: one connection, 256 commands per round trip.
constexpr unsigned kRedisBenchmarkClients = 1;
constexpr unsigned kRedisBenchmarkPipeline = 256;
// A round trip per SET is far slower than a pipeline: fewer of them keep the figure short.
constexpr std::size_t kHiredisSets = 20'000;
constexpr std::size_t kSmokeHiredisSets = 2'000;
// Targets, from design.md section 7.
constexpr double kMinRatioToRedisBenchmark = 1.0;
constexpr double kMaxCallerP99Ns = 2000;
// The async figure's writer: the default queue, but a full one makes the caller wait for room
// rather than refuse the write (the default policy), so every set reaches Redis.
constexpr WriterOptions kAsyncWriter = {.mode = WriteMode::async,
                                        .when_full = QueueFullPolicy::wait};
// Callers of the sync figure, each waiting for its own acknowledgement.
constexpr std::array<unsigned, 3> kSyncThreads = {2, 8, 32};
// Longest sync-figure key: "sync:<threads>:<run>:<thread>:" and a 12-digit count.
constexpr std::size_t kMaxSyncKeyBytes = 64;

struct AsyncFigure {
  double ops_per_s = 0;
  double enqueue_seconds = 0;  // first set until the last set returned
  double total_seconds = 0;    // first set until flush returned
  LatencyPercentiles caller;
  double avg_batch = 0;  // writes per pipeline the writer sent
};

struct SyncFigure {
  unsigned threads = 0;
  double ops_per_s = 0;
  double avg_batch = 0;
};

const char* yes_no(bool met) {
  return met ? "yes" : "no";
}

double avg_batch(const CacheStats& before, const CacheStats& after) {
  const auto batches = after.write_batches - before.write_batches;
  return batches == 0 ? 0.0 : static_cast<double>(after.writes_sent - before.writes_sent) / batches;
}

// Every set of a measured run went out on its own and was acknowledged: none refused, dropped,
// coalesced, failed or still queued, and Redis holds `expected_keys`.
bool check_writes(const char* figure, const CacheStats& before, const CacheStats& after,
                  std::size_t expected_sent, std::optional<std::size_t> expected_keys,
                  const test::RedisServer& server) {
  const auto sent = after.writes_sent - before.writes_sent;
  const auto bad = (after.writes_coalesced - before.writes_coalesced) +
                   (after.write_errors.total() - before.write_errors.total()) +
                   (after.writes_refused - before.writes_refused) +
                   (after.writes_dropped - before.writes_dropped);
  if (sent != expected_sent || bad != 0) {
    std::fprintf(stderr,
                 "l2: %s: %llu writes sent of %zu, %llu coalesced, errors or refused; run void\n",
                 figure, static_cast<unsigned long long>(sent), expected_sent,
                 static_cast<unsigned long long>(bad));
    return false;
  }
  if (!expected_keys) return true;
  const std::optional<std::size_t> keys = redis_key_count(server);
  if (keys == expected_keys) return true;
  std::fprintf(stderr, "l2: %s: Redis holds %zu keys after flush, not %zu; run void\n", figure,
               keys.value_or(0), *expected_keys);
  return false;
}

std::optional<AsyncFigure> measure_async(const test::RedisServer& server,
                                         const std::vector<std::string>& keys,
                                         const std::string& value) {
  auto cache = open_l2_cache(server, kAsyncWriter);
  if (!cache) return std::nullopt;
  const Context ctx = Context::background();
  for (const std::string& key : keys)
    if (!cache->set(ctx, key, value)) {
      std::fprintf(stderr, "l2: async warm-up: a set failed\n");
      return std::nullopt;
    }
  if (auto flushed = cache->flush(ctx); !flushed) {
    std::fprintf(stderr, "l2: async warm-up: flush: %s\n", flushed.error().detail.c_str());
    return std::nullopt;
  }
  if (!empty_redis(server)) return std::nullopt;

  // Every set is timed (two clock reads, ~30 ns each): timing one set in n would alias with the
  // writer, which frees queue room batch_max_ops cells at a time, and miss or catch every wait.
  std::vector<std::uint64_t> samples;
  samples.reserve(keys.size());
  std::size_t failed = 0;
  const CacheStats before = cache->stats();
  const auto start = Clock::now();
  for (const std::string& key : keys) {
    const auto call = Clock::now();
    if (!cache->set(ctx, key, value)) ++failed;
    samples.push_back(
        std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - call).count());
  }
  const auto enqueued = Clock::now();
  const Result<void> flushed = cache->flush(ctx);
  const auto end = Clock::now();
  if (failed != 0 || !flushed) {
    std::fprintf(stderr, "l2: async: %zu sets failed; flush: %s; run void\n", failed,
                 flushed ? "ok" : flushed.error().detail.c_str());
    return std::nullopt;
  }
  const CacheStats after = cache->stats();
  if (!check_writes("async", before, after, keys.size(), keys.size(), server)) return std::nullopt;
  const std::chrono::duration<double> total = end - start;
  return AsyncFigure{.ops_per_s = keys.size() / total.count(),
                     .enqueue_seconds = std::chrono::duration<double>(enqueued - start).count(),
                     .total_seconds = total.count(),
                     .caller = percentiles_of(samples),
                     .avg_batch = avg_batch(before, after)};
}

std::optional<double> measure_hiredis_sets(const test::RedisServer& server,
                                           const std::vector<std::string>& keys,
                                           const std::string& value, std::size_t count) {
  HiredisClient client(server.host(), server.port());
  if (!client.is_connected()) {
    std::fprintf(stderr, "l2: hiredis: %s\n", client.error().c_str());
    return std::nullopt;
  }
  count = std::min(count, keys.size());
  const auto start = Clock::now();
  for (std::size_t i = 0; i < count; ++i)
    if (!client.set(keys[i], value)) {
      std::fprintf(stderr, "l2: hiredis: SET: %s\n", client.error().c_str());
      return std::nullopt;
    }
  return count / std::chrono::duration<double>(Clock::now() - start).count();
}

std::optional<SyncFigure> measure_sync(const test::RedisServer& server, unsigned threads,
                                       const std::string& value, const RunTimes& times) {
  if (!empty_redis(server)) return std::nullopt;
  auto cache = open_l2_cache(server, {.mode = WriteMode::sync});
  if (!cache) return std::nullopt;
  unsigned run = 0;
  const auto body = [&](unsigned t, RunGate& gate) {
    const Context ctx = Context::background();
    char key[kMaxSyncKeyBytes];
    ThreadTally tally;
    gate.arrive_and_wait_for_go();
    for (std::size_t i = 0; !gate.should_stop(); ++i) {
      std::snprintf(key, sizeof key, "sync:%u:%u:%u:%012zu", threads, run, t, i);
      if (cache->set(ctx, key, value)) {
        ++tally.requests;
      } else {
        ++tally.failed_sets;
      }
    }
    return tally;
  };
  run_timed(threads, times.warmup, body);
  ++run;
  const CacheStats before = cache->stats();
  const RunResult r = run_timed(threads, times.measured, body);
  const CacheStats after = cache->stats();
  if (r.total.failed_sets != 0) {
    std::fprintf(stderr, "l2: sync, %u threads: %llu sets failed; run void\n", threads,
                 static_cast<unsigned long long>(r.total.failed_sets));
    return std::nullopt;
  }
  if (!check_writes("sync", before, after, r.total.requests, std::nullopt, server))
    return std::nullopt;
  return SyncFigure{
      .threads = threads, .ops_per_s = r.mops * 1e6, .avg_batch = avg_batch(before, after)};
}

}  // namespace

bool run_l2_write_figures(const test::RedisServer& server, const BenchSettings& settings) {
  const RunTimes& times = settings.times;
  const bool full = settings.size == BenchSize::full;
  const std::size_t async_sets = full ? kAsyncSets : kSmokeAsyncSets;
  const std::string value(kL2ValueBytes, 'x');
  std::vector<std::string> keys;
  keys.reserve(async_sets);
  for (std::size_t i = 0; i < async_sets; ++i) keys.push_back(numbered_key("key", i));

  const char* figure = "l2_async_set";
  const OtherLoad async_load(server.pid());
  const RedisBenchmarkSetRun rb{.port = server.port(),
                                .clients = kRedisBenchmarkClients,
                                .pipeline = kRedisBenchmarkPipeline,
                                .requests = async_sets,
                                .value_bytes = kL2ValueBytes,
                                .keyspace = async_sets};
  if (!empty_redis(server)) return false;
  const std::optional<double> rb_ops = run_redis_benchmark_set(rb);
  if (!rb_ops) return false;
  const std::optional<AsyncFigure> tc = measure_async(server, keys, value);
  if (!tc || !empty_redis(server)) return false;
  const std::optional<double> hiredis_ops =
      measure_hiredis_sets(server, keys, value, full ? kHiredisSets : kSmokeHiredisSets);
  if (!hiredis_ops) return false;

  const double ratio_rb = tc->ops_per_s / *rb_ops;
  const bool p99_met = tc->caller.samples > 0 && tc->caller.p99_ns <= kMaxCallerP99Ns;
  std::printf(
      "%-20s ops/s  tiercache=%.0f  redis_benchmark_c%u_p%u=%.0f  hiredis_sync_per_call=%.0f  "
      "ratio_rb=%.2f ratio_hiredis=%.2f  target: >=%.1fx redis-benchmark, caller p99<=%.0fns  "
      "caller_p50_ns=%llu caller_p99_ns=%llu  met=rb:%s,p99:%s  caller_p999_ns=%llu "
      "caller_max_ns=%llu  sets=%zu queue_max_ops=%zu when_full=wait enqueue_s=%.3f "
      "until_flushed_s=%.3f avg_batch=%.0f  other_load=%.2f\n",
      figure, tc->ops_per_s, kRedisBenchmarkClients, kRedisBenchmarkPipeline, *rb_ops, *hiredis_ops,
      ratio_rb, tc->ops_per_s / *hiredis_ops, kMinRatioToRedisBenchmark, kMaxCallerP99Ns,
      static_cast<unsigned long long>(tc->caller.p50_ns),
      static_cast<unsigned long long>(tc->caller.p99_ns),
      yes_no(ratio_rb >= kMinRatioToRedisBenchmark), yes_no(p99_met),
      static_cast<unsigned long long>(tc->caller.p999_ns),
      static_cast<unsigned long long>(tc->caller.max_ns), async_sets, kAsyncWriter.queue_max_ops,
      tc->enqueue_seconds, tc->total_seconds, tc->avg_batch, other_load_of(figure, async_load));
  char rb_name[64];
  std::snprintf(rb_name, sizeof rb_name, "redis_benchmark_c%u_p%u", kRedisBenchmarkClients,
                kRedisBenchmarkPipeline);
  char rb_target[96];
  std::snprintf(rb_target, sizeof rb_target, ">= %.1fx %s", kMinRatioToRedisBenchmark, rb_name);
  const bool recorded =
      record_figure({.name = figure,
                     .unit = "ops/s",
                     .value = tc->ops_per_s,
                     .peers = {{rb_name, *rb_ops}, {"hiredis_sync_per_call", *hiredis_ops}},
                     .target = rb_target,
                     .met = ratio_rb >= kMinRatioToRedisBenchmark}) &&
      record_figure({.name = "l2_async_set_caller_p99_ns",
                     .unit = "ns",
                     .value = static_cast<double>(tc->caller.p99_ns),
                     .target = "<= 2000 ns",
                     .met = p99_met});
  if (!recorded) return false;

  figure = "l2_sync_set";
  const OtherLoad sync_load(server.pid());
  std::vector<SyncFigure> sync;
  for (const unsigned threads : kSyncThreads) {
    const std::optional<SyncFigure> f = measure_sync(server, threads, value, times);
    if (!f) return false;
    sync.push_back(*f);
  }
  std::printf("%-20s ops/s  threads=", figure);
  for (const SyncFigure& f : sync) std::printf("%u: %.0f  ", f.threads, f.ops_per_s);
  std::printf("ratio_%u_to_%u=%.2f  avg_batch=", sync.back().threads, sync.front().threads,
              sync.back().ops_per_s / sync.front().ops_per_s);
  for (const SyncFigure& f : sync)
    std::printf("%u:%.1f%s", f.threads, f.avg_batch, &f == &sync.back() ? "" : ",");
  std::printf("  hiredis_sync_per_call_1_thread=%.0f  seconds=%.2f  other_load=%.2f\n",
              *hiredis_ops, times.measured.count(), other_load_of(figure, sync_load));
  return empty_redis(server);
}

}  // namespace tiercache::bench
