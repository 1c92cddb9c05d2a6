// tiercache/prometheus.hpp — Metrics as Prometheus text exposition (format 0.0.4).
//
// Every family has # HELP and # TYPE lines; histograms give _bucket (le in the family's unit:
// seconds for durations, powers of two), _sum and _count. Names are the prefix plus
// visit()'s names; constant labels (service, instance, ...) go on every sample.
#pragma once

#include <string>
#include <utility>
#include <vector>

#include "tiercache/error.hpp"
#include "tiercache/metrics.hpp"

namespace tiercache {

struct PrometheusOptions {
  // Before every name: [a-zA-Z_:][a-zA-Z0-9_:]*, or empty.
  std::string prefix = "tiercache_";
  // (name, value) on every sample. Names [a-zA-Z_][a-zA-Z0-9_]*, not starting "__", not a label
  // the metrics use themselves (tier, op, code, le); values any UTF-8.
  std::vector<std::pair<std::string, std::string>> const_labels;
};

// The exposition of `metrics`; invalid_argument (and no text) for a bad prefix or label.
[[nodiscard]] Result<std::string> to_prometheus(const Metrics& metrics,
                                                const PrometheusOptions& options = {});

// The media type to serve it with.
inline constexpr const char* kPrometheusContentType = "text/plain; version=0.0.4; charset=utf-8";

}  // namespace tiercache
