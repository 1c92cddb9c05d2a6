// examples/catalog/demo_report.hpp — the demo's final report: what ran, the cached and uncached
// phases side by side (req/s, latency, origin load, hit ratios), the coherence figures, each
// instance's cache, the checks, and where the plots are.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "examples/catalog/coherence_check.hpp"
#include "examples/catalog/load_generator.hpp"
#include "tiercache/stats.hpp"

namespace catalog {

struct PhaseOutcome {
  std::string phase;  // "cached", "uncached"
  LoadResult load;
};

struct InstanceOutcome {
  std::string name;
  tiercache::CacheStats stats;  // at the end of the cached phase
};

struct DemoReport {
  // (label, text) rows printed first: machine, Redis, database, service, load.
  std::vector<std::pair<std::string, std::string>> setup;
  std::vector<PhaseOutcome> phases;
  // Nothing when no probe was asked for.
  std::optional<CoherenceResult> coherence;
  std::string coherence_setup;
  unsigned coherence_probes = 0;  // asked for (--probes)
  // Every probe must have seen its value within this.
  std::chrono::milliseconds coherence_bound{0};
  std::vector<InstanceOutcome> instances;
  std::vector<std::string> plots;
  std::string plot_error;
  // The signal that cut the run short, or "".
  std::string stopped_by;
};

struct ReportText {
  std::string text;
  bool ok = false;  // every check held
};

ReportText format_report(const DemoReport& report);

}  // namespace catalog
