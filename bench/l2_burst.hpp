// bench/l2_burst.hpp — a burst of large async sets (issue 8, defect 3; design.md section 7:
// "1 MiB values drain at >= 0.8x redis-benchmark's MB/s"): 80 sets of 1 MiB, timed from the
// first set until flush() returns, against redis-benchmark -c 1 -P 16 -d 1048576 on the same
// server.
#pragma once

#include "bench/bench_settings.hpp"
#include "tests/support/redis_server.hpp"

namespace tiercache::bench {

// Prints and records burst_1mib_drain_mbps. False (said on stderr) if a burst did not drain
// whole or a peer could not run.
bool run_l2_burst_figure(const test::RedisServer& server, BenchSize size);

}  // namespace tiercache::bench
