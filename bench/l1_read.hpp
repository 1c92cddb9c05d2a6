// bench/l1_read.hpp — the L1 figures of design.md section 7: read throughput against the peers
// (and its sweep over thread counts), cache-resident read throughput, hit latency, hot key and
// memory per entry.
#pragma once

#include "bench/bench_settings.hpp"

namespace tiercache::bench {

// Prints one line per figure and records each (bench/figures_file.hpp); writes the sweep and the
// latency CDFs for the plots (bench/plot_data.hpp). Returns false, having said why on stderr, if
// a target misbehaved (a failed open or set, a peer missing a key it holds): figures from a
// broken run mean nothing.
bool run_l1_read_figures(const BenchSettings& settings);

}  // namespace tiercache::bench
