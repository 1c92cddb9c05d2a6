// bench/l2_metrics.hpp — what the latency histograms cost an async set with Redis as L2
// (issue 13): throughput with Options.metrics at its defaults against the same with latencies
// off, on the redis-server of the other L2 figures.
#pragma once

#include "bench/bench_settings.hpp"
#include "tests/support/redis_server.hpp"

namespace tiercache::bench {

// Prints and records metrics_cost_set (peer metrics_off_set). False (said on stderr) if a run
// was void or the figure could not be recorded.
bool run_l2_metrics_figure(const test::RedisServer& server, const BenchSettings& settings);

}  // namespace tiercache::bench
