// bench/l2_write.hpp — the L2 write figures: async set throughput and caller latency against
// redis-benchmark and a hiredis client, and sync set throughput as callers are added.
#pragma once

#include "bench/timed_run.hpp"
#include "tests/support/redis_server.hpp"

namespace tiercache::bench {

// Prints l2_async_set and l2_sync_set. False (said on stderr) if a run was void.
bool run_l2_write_figures(const test::RedisServer& server, const RunTimes& times);

}  // namespace tiercache::bench
