// bench/l2_cluster.cpp — the cluster backend's write and read paths beside one Redis, and its
// recovery from a master's death.
//
// Async set: one thread sets distinct keys (100-byte values) into a new cache whose writer waits
// for room rather than refusing; the clock runs from the first set until flush() says L2 took
// every one. The cluster splits each batch into a pipeline per master.
// L2 hit: L2 is filled, then a new cache (empty L1) on each gets each key once, the cluster's
// and one Redis's in turn key by key (bench/l2_runs.hpp says why); mean µs per get.
// get_many: the same keys in batches of 100 (each batch spread over the 3 masters by its keys'
// slots), one get_many per batch from new caches, in turn batch by batch; mean µs per batch.
// Failover: the master serving a key is killed (SIGKILL); the figure is the time from the kill
// until a sync set of that key returns success, which includes the cluster's own failure
// detection (cluster-node-timeout 1000 ms) and election.
#include "bench/l2_cluster.hpp"

#include <chrono>
#include <cstdio>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/figures_file.hpp"
#include "bench/l2_figures.hpp"
#include "bench/l2_runs.hpp"
#include "tests/support/redis_cluster.hpp"
#include "tiercache/cache.hpp"

namespace tiercache::bench {
namespace {

using Clock = std::chrono::steady_clock;

constexpr std::size_t kAsyncSets = 100'000;
constexpr std::size_t kSmokeAsyncSets = 2'000;
constexpr std::size_t kReadKeys = 20'000;
constexpr std::size_t kSmokeReadKeys = 1'000;
constexpr std::size_t kGetManyKeys = 100;
constexpr WriterOptions kAsyncWriter = {.mode = WriteMode::async,
                                        .when_full = QueueFullPolicy::wait};
// Bound on the failover measurement's one call.
constexpr auto kRecoveryBound = std::chrono::seconds(30);

std::optional<Cache> open_cluster_cache(const test::RedisCluster& cluster,
                                        const WriterOptions& writer) {
  Options options;
  options.redis.cluster_nodes = cluster.seeds();
  options.writer = writer;
  auto cache = Cache::open(options);
  if (!cache) {
    std::fprintf(stderr, "cluster: Cache::open: %s\n", cache.error().detail.c_str());
    return std::nullopt;
  }
  return std::move(*cache);
}

// Kills the master of `key` and times a sync set of it: ms, or nullopt (said).
std::optional<double> failover_recovery_ms(test::RedisCluster& cluster) {
  auto cache = open_cluster_cache(cluster, {.mode = WriteMode::sync});
  if (!cache) return std::nullopt;
  const std::string key = "failover-probe";
  if (!cache->set(Context::background(), key, "before")) {
    std::fprintf(stderr, "cluster_failover_recovery_ms: set before the kill failed\n");
    return std::nullopt;
  }
  cluster.node(cluster.master_of(cluster.slot_of(key))).kill();
  const auto killed_at = Clock::now();
  const Result<void> r =
      cache->set(Context::background().with_timeout(kRecoveryBound), key, "after");
  const double ms = std::chrono::duration<double, std::milli>(Clock::now() - killed_at).count();
  if (!r) {
    std::fprintf(stderr, "cluster_failover_recovery_ms: no success within %llds: %s\n",
                 static_cast<long long>(kRecoveryBound.count()), r.error().detail.c_str());
    return std::nullopt;
  }
  return ms;
}

}  // namespace

bool run_l2_cluster_figures(const test::RedisServer& redis, BenchSize size) {
  try {
    const bool full = size == BenchSize::full;
    test::RedisCluster cluster({.masters = 3, .replicas_per_master = 1});
    const std::string value(kL2ValueBytes, 'x');
    std::vector<std::string> keys;
    for (std::size_t i = 0; i < (full ? kAsyncSets : kSmokeAsyncSets); ++i)
      keys.push_back(numbered_key("cl", i));
    std::vector<std::string> read_keys(keys.begin(),
                                       keys.begin() + (full ? kReadKeys : kSmokeReadKeys));

    std::optional<double> cluster_set, redis_set, recovery;
    std::optional<PairedMeans> gets, many;
    {
      auto cache = open_cluster_cache(cluster, kAsyncWriter);
      if (!cache || !(cluster_set = async_sets(*cache, keys, value, "cluster_async_set")))
        return false;
    }
    if (!empty_redis(redis)) return false;
    {
      auto cache = open_l2_cache(redis, kAsyncWriter);
      if (!cache || !(redis_set = async_sets(*cache, keys, value, "single_redis_async_set")))
        return false;
    }
    {
      auto cluster_cache = open_cluster_cache(cluster, {});
      auto redis_cache = open_l2_cache(redis, {});
      if (!cluster_cache || !redis_cache ||
          !(gets = l2_hit_gets(*cluster_cache, *redis_cache, read_keys, "cluster_l2_hit_get_us")))
        return false;
    }
    {
      auto cluster_cache = open_cluster_cache(cluster, {});
      auto redis_cache = open_l2_cache(redis, {});
      if (!cluster_cache || !redis_cache ||
          !(many = get_many_batches(*cluster_cache, *redis_cache, read_keys, kGetManyKeys,
                                    "cluster_get_many_100_us")))
        return false;
    }
    if (!(recovery = failover_recovery_ms(cluster))) return false;
    std::printf(
        "%-20s ops/s  tiercache_cluster=%.0f  single_redis_async_set=%.0f  ratio=%.2f  sets=%zu "
        "value_bytes=%zu masters=3  (no target)\n",
        "cluster_async_set", *cluster_set, *redis_set, *cluster_set / *redis_set, keys.size(),
        kL2ValueBytes);
    std::printf(
        "%-20s µs  tiercache_cluster=%.1f  single_redis_l2_hit_get_us=%.1f  ratio=%.2f  (lower is "
        "faster; no target)  keys=%zu\n",
        "cluster_l2_hit_get_us", gets->a_us, gets->b_us, gets->a_us / gets->b_us, read_keys.size());
    std::printf(
        "%-20s µs per batch  tiercache_cluster=%.1f  single_redis_get_many_100_us=%.1f  "
        "ratio=%.2f  (lower is faster; no target)  batches=%zu of %zu keys\n",
        "cluster_get_many_100_us", many->a_us, many->b_us, many->a_us / many->b_us,
        read_keys.size() / kGetManyKeys, kGetManyKeys);
    std::printf(
        "%-20s ms  tiercache_cluster=%.0f  (first successful sync set after SIGKILL of the "
        "key's master; cluster-node-timeout 1000 ms; no target)\n",
        "cluster_failover_recovery_ms", *recovery);
    return record_figure({.name = "cluster_async_set",
                          .unit = "ops/s",
                          .value = *cluster_set,
                          .peers = {{"single_redis_async_set", *redis_set}},
                          .target = "none (issue 15 sets none)"}) &&
           record_figure({.name = "cluster_l2_hit_get_us",
                          .unit = "µs",
                          .value = gets->a_us,
                          .peers = {{"single_redis_l2_hit_get_us", gets->b_us}},
                          .target = "none (issue 15 sets none; lower is faster)"}) &&
           record_figure({.name = "cluster_get_many_100_us",
                          .unit = "µs per batch of 100 keys",
                          .value = many->a_us,
                          .peers = {{"single_redis_get_many_100_us", many->b_us}},
                          .target = "none (issue 15 sets none; lower is faster)"}) &&
           record_figure({.name = "cluster_failover_recovery_ms",
                          .unit = "ms",
                          .value = *recovery,
                          .peers = {},
                          .target = "none (issue 15 sets none; lower is faster)"}) &&
           empty_redis(redis);
  } catch (const std::runtime_error& e) {
    // The fixture throws when a node cannot start or the cluster does not form.
    std::fprintf(stderr, "cluster: %s\n", e.what());
    return false;
  }
}

}  // namespace tiercache::bench
