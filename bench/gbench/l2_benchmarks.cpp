// bench/gbench/l2_benchmarks.cpp — the L2 grid: tiercache with Redis as L2 against a plain
// hiredis client (one round trip per call), a hand-pipelined hiredis loop (256 commands per round
// trip) and redis-benchmark -c 1 -P 256, all on one redis-server (test::RedisServer) started by
// the first L2 benchmark that runs and killed by release_l2_fixtures() (or, if the binary dies,
// by the server's PDEATHSIG). Every value is 100 bytes.
//
// Writes go to kSetKeys keys "gb:set:<n>" in batches of kBatchKeys; the batch benchmarks (async
// set + flush, pipelined SET) time whole batches, so an item is one acknowledged write. Reads go
// to kGetKeys keys "gb:get:<n>", filled once before the first read. tiercache's reads use an L1
// of kGetL1Entries entries while each thread walks its own stretch of the keys in order, so every
// get misses L1 and is served by Redis (l2_hit_ratio, from stats(), confirms it): the steady state
// of a working set far beyond L1, with the L1 insert and eviction each L2 hit costs.
#include <benchmark/benchmark.h>
#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <exception>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "bench/gbench/register.hpp"
#include "bench/gbench/workload.hpp"
#include "bench/peers/hiredis_client.hpp"
#include "bench/peers/redis_benchmark.hpp"
#include "tests/support/redis_server.hpp"
#include "tiercache/cache.hpp"
#include "tiercache/context.hpp"

namespace tiercache::gbench {
namespace {

constexpr std::size_t kValueBytes = 100;
// Keys the write benchmarks cycle through, in batches timed whole.
constexpr std::size_t kSetKeys = 100'000;
constexpr std::size_t kBatchKeys = 10'000;
constexpr std::size_t kBatches = kSetKeys / kBatchKeys;
// Keys the read benchmarks read, each thread its own stretch, in order.
constexpr std::size_t kGetKeys = 200'000;
// Commands per round trip of the pipelined peers and of the fill.
constexpr std::size_t kPipelineDepth = 256;
// tiercache's L1 for the read benchmarks: far below kGetKeys / kMaxThreads, so no key is still
// in L1 when its thread comes back to it.
constexpr std::size_t kGetL1Entries = 1024;
constexpr std::size_t kGetL1Bytes = std::size_t{4} << 20;
// redis-benchmark's run: requests per iteration, over the set keys.
constexpr std::size_t kRedisBenchmarkRequests = 200'000;
// A local server answers at once; this only bounds a broken one.
constexpr timeval kConnectTimeout = {.tv_sec = 2, .tv_usec = 0};

std::string numbered_key(const char* prefix, std::size_t n) {
  char key[32];
  std::snprintf(key, sizeof key, "gb:%s:%07zu", prefix, n);
  return key;
}

struct L2Env {
  test::RedisServer server;
  std::vector<std::vector<std::string>> set_batches;  // kBatches x kBatchKeys
  std::vector<std::string> get_keys;                  // kGetKeys, all in Redis
  std::string value = std::string(kValueBytes, 'v');
};

std::mutex env_mutex;
std::unique_ptr<L2Env> env;
std::string env_error;  // why the server could not start; then no L2 benchmark runs

// The server and its keys, started and filled on first use; nullptr (see env_error) if not.
L2Env* l2_env() {
  const std::lock_guard lock(env_mutex);
  if (env != nullptr || !env_error.empty()) return env.get();
  try {
    auto e = std::make_unique<L2Env>();
    for (std::size_t b = 0; b < kBatches; ++b) {
      auto& batch = e->set_batches.emplace_back();
      for (std::size_t i = 0; i < kBatchKeys; ++i)
        batch.push_back(numbered_key("set", b * kBatchKeys + i));
    }
    for (std::size_t i = 0; i < kGetKeys; ++i) e->get_keys.push_back(numbered_key("get", i));
    bench::HiredisClient filler(e->server.host(), e->server.port());
    if (!filler.is_connected() || !filler.set_pipelined(e->get_keys, e->value, kPipelineDepth)) {
      env_error = "filling Redis: " + filler.error();
      return nullptr;
    }
    env = std::move(e);
  } catch (const std::exception& ex) {
    env_error = ex.what();
  }
  return env.get();
}

// The one tiercache instance of the L2 benchmarks, by configuration.
FixtureSlot& cache_slot() {
  static FixtureSlot slot;
  return slot;
}

std::shared_ptr<Cache> acquire_cache(const std::string& name, const L2Env& e,
                                     const Options& options) {
  return cache_slot().acquire<Cache>(name, [&]() -> std::shared_ptr<Cache> {
    Options o = options;
    o.redis.url = e.server.url();
    auto cache = Cache::open(o);
    if (!cache) {
      std::fprintf(stderr, "gbench: Cache::open: %s\n", cache.error().detail.c_str());
      return nullptr;
    }
    return std::make_shared<Cache>(std::move(*cache));
  });
}

// Each benchmark's start: the environment, or a skip saying why not.
L2Env* env_or_skip(benchmark::State& state) {
  L2Env* e = l2_env();
  if (e == nullptr) state.SkipWithError(("redis-server: " + env_error).c_str());
  return e;
}

// Where each thread index of one benchmark resumes its keys: a run starting over at the first key
// would re-read what the previous run (gbench runs each benchmark several times while it sizes
// the iteration count) just left in L1. One per benchmark function (a function-local static).
using ResumeAt = std::array<std::atomic<std::uint64_t>, kMaxThreads>;

std::atomic<std::uint64_t>& resume_of(ResumeAt& resume_at, const benchmark::State& state) {
  return resume_at[static_cast<unsigned>(state.thread_index()) % kMaxThreads];
}

void finish(benchmark::State& state, std::int64_t items, std::uint64_t failed) {
  state.SetItemsProcessed(items);
  state.SetBytesProcessed(items * static_cast<std::int64_t>(kValueBytes));
  if (failed != 0) state.SkipWithError("an operation failed");
}

// ---- writes ----

// tiercache async set of a whole batch, then flush(): acknowledged writes per second.
void tiercache_async_set_flush(benchmark::State& state) {
  L2Env* e = env_or_skip(state);
  if (e == nullptr) return;
  const auto cache = acquire_cache(
      "async", *e, {.writer = {.mode = WriteMode::async, .when_full = QueueFullPolicy::wait}});
  if (cache == nullptr) return state.SkipWithError("Cache::open failed");
  const Context ctx = Context::background();
  std::uint64_t failed = 0;
  std::size_t b = 0;
  for (auto _ : state) {
    for (const std::string& key : e->set_batches[b++ % kBatches])
      failed += !cache->set(ctx, key, e->value).has_value();
    failed += !cache->flush(ctx).has_value();
  }
  finish(state, state.iterations() * static_cast<std::int64_t>(kBatchKeys), failed);
}

// The same batches as SETs, kPipelineDepth per round trip on one hiredis connection.
void hiredis_pipelined_set(benchmark::State& state) {
  L2Env* e = env_or_skip(state);
  if (e == nullptr) return;
  bench::HiredisClient client(e->server.host(), e->server.port());
  std::uint64_t failed = !client.is_connected();
  std::size_t b = 0;
  if (failed == 0)
    for (auto _ : state)
      failed += !client.set_pipelined(e->set_batches[b++ % kBatches], e->value, kPipelineDepth);
  finish(state, state.iterations() * static_cast<std::int64_t>(kBatchKeys), failed);
}

// redis-benchmark -t set -c 1 -P 256 over kSetKeys random keys of its own naming; its own rate
// gives the iteration's (manual) time.
void redis_benchmark_c1_p256(benchmark::State& state) {
  L2Env* e = env_or_skip(state);
  if (e == nullptr) return;
  const bench::RedisBenchmarkSetRun run{.port = e->server.port(),
                                        .clients = 1,
                                        .pipeline = kPipelineDepth,
                                        .requests = kRedisBenchmarkRequests,
                                        .value_bytes = kValueBytes,
                                        .keyspace = kSetKeys};
  std::uint64_t failed = 0;
  for (auto _ : state) {
    const std::optional<double> rate = bench::run_redis_benchmark_set(run);
    if (!rate) {
      ++failed;
      state.SetIterationTime(1);
      continue;
    }
    state.SetIterationTime(static_cast<double>(kRedisBenchmarkRequests) / *rate);
  }
  state.SetLabel(bench::redis_benchmark_command(run));
  finish(state, state.iterations() * static_cast<std::int64_t>(kRedisBenchmarkRequests), failed);
}

// The key thread `t` writes at its position p: the threads' stretches do not overlap.
const std::string& set_key(const L2Env& e, int thread, std::uint64_t p) {
  const std::size_t n =
      (static_cast<std::size_t>(thread) * (kSetKeys / kMaxThreads) + p) % kSetKeys;
  return e.set_batches[n / kBatchKeys][n % kBatchKeys];
}

// tiercache sync set: each call returns once Redis acknowledged it (group commit across threads).
void tiercache_sync_set(benchmark::State& state) {
  L2Env* e = env_or_skip(state);
  if (e == nullptr) return;
  const auto cache = acquire_cache("sync", *e, {.writer = {.mode = WriteMode::sync}});
  if (cache == nullptr) return state.SkipWithError("Cache::open failed");
  const Context ctx = Context::background();
  std::uint64_t failed = 0;
  static ResumeAt resume_at;
  std::atomic<std::uint64_t>& resume = resume_of(resume_at, state);
  std::uint64_t p = resume.load(std::memory_order_relaxed);
  for (auto _ : state)
    failed += !cache->set(ctx, set_key(*e, state.thread_index(), p++), e->value).has_value();
  resume.store(p, std::memory_order_relaxed);
  finish(state, state.iterations(), failed);
}

// One SET per round trip, a connection per thread.
void hiredis_per_call_set(benchmark::State& state) {
  L2Env* e = env_or_skip(state);
  if (e == nullptr) return;
  bench::HiredisClient client(e->server.host(), e->server.port());
  std::uint64_t failed = !client.is_connected();
  static ResumeAt resume_at;
  std::atomic<std::uint64_t>& resume = resume_of(resume_at, state);
  std::uint64_t p = resume.load(std::memory_order_relaxed);
  if (failed == 0)
    for (auto _ : state) failed += !client.set(set_key(*e, state.thread_index(), p++), e->value);
  resume.store(p, std::memory_order_relaxed);
  finish(state, state.iterations(), failed);
}

// ---- reads ----

const std::string& get_key(const L2Env& e, int thread, std::uint64_t p) {
  return e.get_keys[(static_cast<std::size_t>(thread) * (kGetKeys / kMaxThreads) + p) % kGetKeys];
}

// tiercache get that misses L1 and hits Redis.
void tiercache_l2_hit_get(benchmark::State& state) {
  L2Env* e = env_or_skip(state);
  if (e == nullptr) return;
  const auto cache =
      acquire_cache("get", *e, {.l1 = {.max_bytes = kGetL1Bytes, .max_entries = kGetL1Entries}});
  if (cache == nullptr) return state.SkipWithError("Cache::open failed");
  const Context ctx = Context::background();
  std::uint64_t failed = 0;
  static ResumeAt resume_at;
  std::atomic<std::uint64_t>& resume = resume_of(resume_at, state);
  std::uint64_t p = resume.load(std::memory_order_relaxed);
  // Every thread's snapshots bracket every thread's loop (the loop starts and ends at a barrier),
  // so each thread's difference is the whole run's.
  const CacheStats before = cache->stats();
  for (auto _ : state) {
    Result<std::string> value = cache->get(ctx, get_key(*e, state.thread_index(), p++));
    failed += !value.has_value() || value->size() != kValueBytes;
    benchmark::DoNotOptimize(value);
  }
  const CacheStats after = cache->stats();
  const auto gets =
      static_cast<double>((after.l1_hits - before.l1_hits) + (after.l1_misses - before.l1_misses));
  if (gets > 0) {
    state.counters["hit_ratio"] =
        benchmark::Counter(static_cast<double>(after.l1_hits - before.l1_hits) / gets,
                           benchmark::Counter::kAvgThreads);
    state.counters["l2_hit_ratio"] =
        benchmark::Counter(static_cast<double>(after.l2_hits - before.l2_hits) / gets,
                           benchmark::Counter::kAvgThreads);
  }
  resume.store(p, std::memory_order_relaxed);
  finish(state, state.iterations(), failed);
}

// One GET per round trip, a connection per thread.
void hiredis_per_call_get(benchmark::State& state) {
  L2Env* e = env_or_skip(state);
  if (e == nullptr) return;
  bench::HiredisClient client(e->server.host(), e->server.port());
  std::uint64_t failed = !client.is_connected();
  static ResumeAt resume_at;
  std::atomic<std::uint64_t>& resume = resume_of(resume_at, state);
  std::uint64_t p = resume.load(std::memory_order_relaxed);
  if (failed == 0)
    for (auto _ : state)
      failed += client.get(get_key(*e, state.thread_index(), p++)) !=
                static_cast<std::int64_t>(kValueBytes);
  resume.store(p, std::memory_order_relaxed);
  finish(state, state.iterations(), failed);
}

// kBatchKeys GETs per iteration, kPipelineDepth per round trip, replies read and checked.
void hiredis_pipelined_get(benchmark::State& state) {
  L2Env* e = env_or_skip(state);
  if (e == nullptr) return;
  redisContext* c =
      redisConnectWithTimeout(e->server.host().c_str(), e->server.port(), kConnectTimeout);
  std::uint64_t failed = c == nullptr || c->err != 0;
  std::size_t next = 0;
  if (failed == 0)
    for (auto _ : state) {
      for (std::size_t done = 0; done < kBatchKeys; done += kPipelineDepth) {
        const std::size_t depth = std::min(kPipelineDepth, kBatchKeys - done);
        for (std::size_t i = 0; i < depth; ++i) {
          const std::string& key = e->get_keys[(next + i) % kGetKeys];
          redisAppendCommand(c, "GET %b", key.data(), key.size());
        }
        next += depth;
        for (std::size_t i = 0; i < depth; ++i) {
          void* reply = nullptr;
          if (redisGetReply(c, &reply) != REDIS_OK) {
            ++failed;
            break;
          }
          const auto* r = static_cast<redisReply*>(reply);
          failed += r->type != REDIS_REPLY_STRING || r->len != kValueBytes;
          freeReplyObject(reply);
        }
        if (c->err != 0) break;
      }
      if (c->err != 0) break;
    }
  if (c != nullptr) redisFree(c);
  finish(state, state.iterations() * static_cast<std::int64_t>(kBatchKeys), failed);
}

}  // namespace

void register_l2_benchmarks() {
  const auto scaling = [](benchmark::internal::Benchmark* b) {
    b->UseRealTime()->Threads(1)->Threads(2)->Threads(4);
  };
  benchmark::RegisterBenchmark("L2/set_batch_flush/v100/tiercache_async", tiercache_async_set_flush)
      ->UseRealTime();
  benchmark::RegisterBenchmark("L2/set_batch_flush/v100/hiredis_pipelined_p256",
                               hiredis_pipelined_set)
      ->UseRealTime();
  benchmark::RegisterBenchmark("L2/set_batch_flush/v100/redis_benchmark_c1_p256",
                               redis_benchmark_c1_p256)
      ->UseManualTime()
      ->Iterations(1);
  scaling(benchmark::RegisterBenchmark("L2/set/v100/tiercache_sync", tiercache_sync_set));
  scaling(benchmark::RegisterBenchmark("L2/set/v100/hiredis_per_call", hiredis_per_call_set));
  scaling(benchmark::RegisterBenchmark("L2/get_l2_hit/v100/tiercache", tiercache_l2_hit_get));
  scaling(
      benchmark::RegisterBenchmark("L2/get_l2_hit/v100/hiredis_per_call", hiredis_per_call_get));
  benchmark::RegisterBenchmark("L2/get_l2_hit/v100/hiredis_pipelined_p256", hiredis_pipelined_get)
      ->UseRealTime();
}

void release_l2_fixtures() {
  cache_slot().release();
  const std::lock_guard lock(env_mutex);
  env.reset();
}

}  // namespace tiercache::gbench
