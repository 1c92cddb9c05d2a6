// examples/catalog/plots.hpp — draw_plots: the demo's PNGs, drawn by gnuplot (gnuplot-nox) from
// the load generator's per-second samples:
//   throughput.png    requests/s over time, each phase (cached, uncached)
//   hit_ratio.png     L1 and L2 hit ratios over time, the cached phase
//   origin_load.png   SQLite reads/s over time, each phase (log scale: they differ by 100x)
//   latency_p99.png   the clients' p99 over time, each phase
#pragma once

#include <expected>
#include <string>
#include <vector>

#include "examples/catalog/load_generator.hpp"

namespace catalog {

struct PlotSeries {
  std::string phase;  // "cached" or "uncached"; also the data file's name
  std::vector<LoadSample> samples;
};

// Writes <dir>/<phase>.dat for each series and <dir>/plots.gp, then runs gnuplot on it (its
// messages go to <dir>/gnuplot.log) with no signal blocked, so that Ctrl-C reaches it. Answers
// the PNGs' paths, or why they could not be drawn. `caption` goes under each title.
std::expected<std::vector<std::string>, std::string> draw_plots(
    const std::string& dir, const std::vector<PlotSeries>& series, const std::string& caption);

}  // namespace catalog
