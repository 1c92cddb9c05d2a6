// bench/l2_coalesce.hpp — miss coalescing with Redis as L2 (design.md section 7): 64 threads
// get_or_load one cold key; exactly one loader call and one Redis GET may result.
#pragma once

#include "bench/bench_settings.hpp"
#include "tests/support/redis_server.hpp"

namespace tiercache::bench {

// Prints coalesced_loads_l2; records coalesced_loads_l2 and coalesced_redis_gets. False (said on
// stderr) if a round was void or the server's command counts could not be read.
bool run_l2_coalesce_figure(const test::RedisServer& server, BenchSize size);

}  // namespace tiercache::bench
