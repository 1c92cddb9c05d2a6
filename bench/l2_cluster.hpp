// bench/l2_cluster.hpp — Redis Cluster as L2 (3 masters, each with a replica, the bench starts
// them) beside one Redis in the same run: async set throughput, L2-hit get latency, and the
// time a sync set takes to succeed after the master serving its key is killed.
#pragma once

#include "bench/bench_settings.hpp"
#include "tests/support/redis_server.hpp"

namespace tiercache::bench {

// Prints and records cluster_async_set (peer single_redis_async_set), cluster_l2_hit_get_us
// (peer single_redis_l2_hit_get_us) and cluster_failover_recovery_ms. No targets. False (said on
// stderr) if a run was void or a figure could not be recorded.
bool run_l2_cluster_figures(const test::RedisServer& redis, BenchSize size);

}  // namespace tiercache::bench
