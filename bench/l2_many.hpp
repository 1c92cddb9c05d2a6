// bench/l2_many.hpp — get_many of 100 keys that only Redis holds, against 100 single gets and
// a hand-written hiredis MGET of the same keys, on the bench's redis-server.
#pragma once

#include "bench/bench_settings.hpp"
#include "tests/support/redis_server.hpp"

namespace tiercache::bench {

// Prints and records get_many_100_us (peers single_gets, hiredis_mget). False (said on stderr)
// if a call failed or answered a wrong value.
bool run_l2_many_figure(const test::RedisServer& server, BenchSize size);

}  // namespace tiercache::bench
