// bench/l2_write.hpp — the L2 write figures: async set throughput and caller latency against
// redis-benchmark and a hiredis client, and sync set throughput as callers are added.
#pragma once

#include "bench/bench_settings.hpp"
#include "tests/support/redis_server.hpp"

namespace tiercache::bench {

// Prints l2_async_set and l2_sync_set and records l2_async_set and l2_async_set_caller_p99_ns.
// False (said on stderr) if a run was void or a figure could not be recorded.
bool run_l2_write_figures(const test::RedisServer& server, const BenchSettings& settings);

}  // namespace tiercache::bench
