// bench/l2_memcached.hpp — memcached as L2 (tiercache/memcached.hpp) against Redis as L2 and a
// plain libmemcached client, on a memcached the bench starts and the redis-server of the other
// L2 figures, in the same run.
#pragma once

#include "bench/bench_settings.hpp"
#include "tests/support/redis_server.hpp"

namespace tiercache::bench {

// Prints and records memcached_async_set (peers redis_async_set, libmemcached_loop) and
// memcached_l2_hit_get_us (peer redis_l2_hit_get_us). No targets. False (said on stderr) if a
// run was void or a figure could not be recorded.
bool run_l2_memcached_figures(const test::RedisServer& redis, BenchSize size);

}  // namespace tiercache::bench
