// bench/l2_memcached.cpp — the memcached backend's write and read paths, each beside the same
// work with Redis as L2 and, for writes, a plain loop of memcached_set on one memcached_st.
//
// Async set: one thread sets distinct keys (100-byte values) into a new cache whose writer waits
// for room rather than refusing; the clock runs from the first set until flush() says L2 took
// every one. The backend sends one command per write (memcached's text protocol gives no reply
// per write when pipelined through libmemcached), so the libmemcached loop is its floor.
// L2 hit: L2 is filled, then a new cache (empty L1) on each gets each key once, memcached's and
// Redis's in turn key by key (bench/l2_runs.hpp says why); mean µs per get.
#include "bench/l2_memcached.hpp"

#include <libmemcached-1.0/memcached.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "bench/figures_file.hpp"
#include "bench/l2_figures.hpp"
#include "bench/l2_runs.hpp"
#include "tests/support/memcached_server.hpp"
#include "tiercache/cache.hpp"
#include "tiercache/memcached.hpp"

namespace tiercache::bench {
namespace {

using Clock = std::chrono::steady_clock;

// Distinct keys set per async run: one round trip each to memcached keeps it near a second.
constexpr std::size_t kAsyncSets = 50'000;
constexpr std::size_t kSmokeAsyncSets = 2'000;
// Keys each L2-hit run reads once.
constexpr std::size_t kReadKeys = 20'000;
constexpr std::size_t kSmokeReadKeys = 1'000;
constexpr WriterOptions kAsyncWriter = {.mode = WriteMode::async,
                                        .when_full = QueueFullPolicy::wait};

std::optional<Cache> open_memcached_cache(const test::MemcachedServer& server,
                                          const WriterOptions& writer) {
  auto backend = make_memcached_backend({.servers = {server.address()}});
  if (!backend) {
    std::fprintf(stderr, "memcached: make_memcached_backend: %s\n", backend.error().detail.c_str());
    return std::nullopt;
  }
  auto cache = Cache::open({.backend = *backend, .writer = writer});
  if (!cache) {
    std::fprintf(stderr, "memcached: Cache::open: %s\n", cache.error().detail.c_str());
    return std::nullopt;
  }
  return std::move(*cache);
}

struct MemcFree {
  void operator()(memcached_st* m) const { memcached_free(m); }
};

// A plain client: memcached_set per key on one memcached_st. ops/s.
std::optional<double> libmemcached_loop(const test::MemcachedServer& server,
                                        const std::vector<std::string>& keys,
                                        const std::string& value) {
  std::unique_ptr<memcached_st, MemcFree> m(memcached_create(nullptr));
  if (!m || memcached_server_add(m.get(), "127.0.0.1", server.port()) != MEMCACHED_SUCCESS ||
      memcached_behavior_set(m.get(), MEMCACHED_BEHAVIOR_TCP_NODELAY, 1) != MEMCACHED_SUCCESS) {
    std::fprintf(stderr, "libmemcached_loop: setup failed\n");
    return std::nullopt;
  }
  const auto start = Clock::now();
  for (const std::string& key : keys) {
    const memcached_return_t rc =
        memcached_set(m.get(), key.data(), key.size(), value.data(), value.size(), 0, 0);
    if (rc != MEMCACHED_SUCCESS) {
      std::fprintf(stderr, "libmemcached_loop: %s\n", memcached_strerror(m.get(), rc));
      return std::nullopt;
    }
  }
  return keys.size() / std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

bool run_l2_memcached_figures(const test::RedisServer& redis, BenchSize size) {
  try {
    const bool full = size == BenchSize::full;
    const test::MemcachedServer server;
    const std::string value(kL2ValueBytes, 'x');
    std::vector<std::string> keys;
    for (std::size_t i = 0; i < (full ? kAsyncSets : kSmokeAsyncSets); ++i)
      keys.push_back(numbered_key("mc", i));
    std::vector<std::string> read_keys(keys.begin(),
                                       keys.begin() + (full ? kReadKeys : kSmokeReadKeys));

    std::optional<double> mc_set, redis_set, loop;
    std::optional<PairedMeans> gets;
    {
      auto cache = open_memcached_cache(server, kAsyncWriter);
      if (!cache || !(mc_set = async_sets(*cache, keys, value, "memcached_async_set")))
        return false;
    }
    if (!empty_redis(redis)) return false;
    {
      auto cache = open_l2_cache(redis, kAsyncWriter);
      if (!cache || !(redis_set = async_sets(*cache, keys, value, "redis_async_set"))) return false;
    }
    if (!(loop = libmemcached_loop(server, keys, value))) return false;
    {
      auto mc_cache = open_memcached_cache(server, {});
      auto redis_cache = open_l2_cache(redis, {});
      if (!mc_cache || !redis_cache ||
          !(gets = l2_hit_gets(*mc_cache, *redis_cache, read_keys, "memcached_l2_hit_get_us")))
        return false;
    }
    std::printf(
        "%-20s ops/s  tiercache_memcached=%.0f  redis_async_set=%.0f  libmemcached_loop=%.0f  "
        "ratio_redis=%.2f ratio_loop=%.2f  sets=%zu value_bytes=%zu  (no target)\n",
        "memcached_async_set", *mc_set, *redis_set, *loop, *mc_set / *redis_set, *mc_set / *loop,
        keys.size(), kL2ValueBytes);
    std::printf(
        "%-20s µs  tiercache_memcached=%.1f  redis_l2_hit_get_us=%.1f  ratio=%.2f  (lower is "
        "faster; no target)  keys=%zu\n",
        "memcached_l2_hit_get_us", gets->a_us, gets->b_us, gets->a_us / gets->b_us,
        read_keys.size());
    return record_figure({.name = "memcached_async_set",
                          .unit = "ops/s",
                          .value = *mc_set,
                          .peers = {{"redis_async_set", *redis_set}, {"libmemcached_loop", *loop}},
                          .target = "none (issue 12 sets none)"}) &&
           record_figure({.name = "memcached_l2_hit_get_us",
                          .unit = "µs",
                          .value = gets->a_us,
                          .peers = {{"redis_l2_hit_get_us", gets->b_us}},
                          .target = "none (issue 12 sets none; lower is faster)"}) &&
           empty_redis(redis);
  } catch (const std::runtime_error& e) {
    // The fixture throws when memcached cannot start or stops answering.
    std::fprintf(stderr, "memcached: %s\n", e.what());
    return false;
  }
}

}  // namespace tiercache::bench
