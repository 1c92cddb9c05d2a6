// bench/l2_figures.hpp — the L2 figures: tiercache with Redis as L2 against redis-benchmark and a
// plain hiredis client, all against one redis-server the bench starts (free loopback port, no
// persistence) and emptied between measurements, so each starts from the same state.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "bench/bench_settings.hpp"
#include "tests/support/redis_server.hpp"
#include "tiercache/cache.hpp"
#include "tiercache/options.hpp"

namespace tiercache::bench {

// Every value the L2 figures store, as design.md section 7 sets it.
inline constexpr std::size_t kL2ValueBytes = 100;

// Starts the server, then prints and records one line per figure (bench/l2_write.hpp,
// bench/l2_metrics.hpp, bench/l2_burst.hpp, bench/l2_read.hpp, bench/l2_many.hpp,
// bench/l2_coalesce.hpp, bench/l2_coherence.hpp, bench/l2_memcached.hpp, bench/l2_cluster.hpp).
// Returns false, having
// said why on stderr, if the server, a peer or tiercache misbehaved.
bool run_l2_figures(const BenchSettings& settings);
// The same for bench/l2_memcached.hpp's figures alone (BENCH_ONLY=memcached).
bool run_l2_memcached_only(const BenchSettings& settings);
// The same for bench/l2_cluster.hpp's figures alone (BENCH_ONLY=cluster).
bool run_l2_cluster_only(const BenchSettings& settings);
// The same for bench/l2_metrics.hpp's figure alone (BENCH_ONLY=metrics runs it after
// bench/l1_metrics.hpp's).
bool run_l2_metrics_only(const BenchSettings& settings);

// A cache with `server` as L2 and `writer` as its writer options; nullopt (said on stderr) if
// open() failed.
std::optional<Cache> open_l2_cache(const test::RedisServer& server, const WriterOptions& writer);

// FLUSHALL; false (said on stderr) if the server did not answer +OK.
bool empty_redis(const test::RedisServer& server);
// DBSIZE, or nullopt (said on stderr).
std::optional<std::size_t> redis_key_count(const test::RedisServer& server);

// "key:%012zu", the shape (and length, 16 bytes) of redis-benchmark's random keys.
std::string numbered_key(const char* prefix, std::size_t n);

}  // namespace tiercache::bench
