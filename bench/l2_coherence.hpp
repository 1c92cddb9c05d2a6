// bench/l2_coherence.hpp — what coherence across instances costs and how fast it is: cache A
// writes, cache B (which holds the key in L1) stops serving the old value, in both invalidation
// modes; the invalidation messages B receives per write of A's; and the 90/10 workload with
// Redis as L2, tracking on against off.
#pragma once

#include "bench/bench_settings.hpp"
#include "tests/support/redis_server.hpp"

namespace tiercache::bench {

// Prints and records invalidation_lag_p50_us, invalidation_lag_p99_us,
// invalidations_per_write and tracking_cost_rw90. False (said on stderr) if a run was void.
bool run_l2_coherence_figures(const test::RedisServer& server, const BenchSettings& settings);

}  // namespace tiercache::bench
