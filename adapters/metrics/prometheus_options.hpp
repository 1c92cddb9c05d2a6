// adapters/metrics/prometheus_options.hpp — the check to_prometheus() makes of its options,
// shared with make_metrics_endpoint(), which makes it once at bind time so that a bad prefix or
// label fails there rather than at every scrape.
#pragma once

#include "tiercache/error.hpp"
#include "tiercache/prometheus.hpp"

namespace tiercache::metrics {

// invalid_argument naming the bad prefix or label (rules in tiercache/prometheus.hpp), or a
// label name given twice.
[[nodiscard]] Result<void> check_prometheus_options(const PrometheusOptions& options);

}  // namespace tiercache::metrics
