// bench/l2_read.hpp — the L2 read figures: a get that misses L1 and hits Redis, against a plain
// hiredis GET, and how such gets scale when several threads miss at once.
#pragma once

#include "tests/support/redis_server.hpp"

namespace tiercache::bench {

// Prints l2_hit_get_us and l2_hit_get_mt. False (said on stderr) if a run was void.
bool run_l2_read_figures(const test::RedisServer& server);

}  // namespace tiercache::bench
