// bench/l1_read.hpp — the L1 figures of design.md section 7: read throughput against the peers,
// hit latency, hot key and memory per entry.
#pragma once

#include "bench/timed_run.hpp"

namespace tiercache::bench {

// Prints one line per figure. Returns false, having said why on stderr, if a target misbehaved
// (a failed open or set, a peer missing a key it holds): figures from a broken run mean nothing.
bool run_l1_read_figures(const RunTimes& times);

}  // namespace tiercache::bench
