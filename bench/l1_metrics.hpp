// bench/l1_metrics.hpp — what the latency histograms cost an L1 hit (issue 13): read-only
// throughput with Options.metrics at its defaults against the same with latencies off.
#pragma once

#include "bench/bench_settings.hpp"

namespace tiercache::bench {

// Prints and records metrics_cost_ro (peer metrics_off). False (said on stderr) if a run was
// void or the figure could not be recorded.
bool run_l1_metrics_figure(const BenchSettings& settings);

}  // namespace tiercache::bench
