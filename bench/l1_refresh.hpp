// bench/l1_refresh.hpp — what early refresh does for the origin and the callers (issue 11):
// get_or_load on a Zipf 0.99 key set with short TTLs, early refresh on and off in one run.
#pragma once

#include "bench/bench_settings.hpp"

namespace tiercache::bench {

// Prints and records origin_loads_per_s_refresh (peer no_refresh) and get_or_load_p99_us_refresh
// (peer no_refresh). False (said on stderr) if a call failed.
bool run_l1_refresh_figures(const BenchSettings& settings);

}  // namespace tiercache::bench
