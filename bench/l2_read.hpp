// bench/l2_read.hpp — the L2 read figures: a get that misses L1 and hits Redis, against a plain
// hiredis GET, and how such gets scale when several threads miss at once.
#pragma once

#include "bench/bench_settings.hpp"
#include "tests/support/redis_server.hpp"

namespace tiercache::bench {

// Prints l2_hit_get_us, l2_hit_get_mt and l2_hit_get_under_writes; records l2_hit_get_us and
// writes the latency CDFs of tiercache's and hiredis's gets for the plots. False (said on
// stderr) if a run was void or a figure could not be written.
bool run_l2_read_figures(const test::RedisServer& server, BenchSize size);

}  // namespace tiercache::bench
