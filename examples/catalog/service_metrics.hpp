// examples/catalog/service_metrics.hpp — ServiceMetrics: the few counters the load generator
// reads from a catalog service's /metrics (the Prometheus text CatalogService serves), summed
// over the services it drives, and the ratios it prints from two readings.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

namespace catalog {

struct ServiceMetrics {
  bool cached = false;          // the text had tiercache's metrics (an uncached service has none)
  std::uint64_t l1_hits = 0;    // tiercache_hits_total{tier="l1"}
  std::uint64_t l1_misses = 0;  // tiercache_misses_total{tier="l1"}
  std::uint64_t l2_hits = 0;    // tiercache_hits_total{tier="l2"}: L1 misses Redis answered
  std::uint64_t l2_misses = 0;  // tiercache_misses_total{tier="l2"}
  std::uint64_t origin_reads = 0;    // catalog_origin_reads_total
  std::uint64_t origin_updates = 0;  // catalog_origin_updates_total
  double origin_read_seconds = 0;    // catalog_origin_read_seconds_total
  // tiercache_l2_read_duration_seconds _count and _sum: Redis read round trips, their time.
  std::uint64_t l2_reads = 0;
  double l2_read_seconds = 0;

  ServiceMetrics& operator+=(const ServiceMetrics& other);
  // The change from `earlier` to this reading.
  ServiceMetrics since(const ServiceMetrics& earlier) const;
  // Hits over lookups, in [0, 1]; NaN when there were none (uncached, or nothing asked).
  double l1_hit_ratio() const;
  double l2_hit_ratio() const;
  // Mean time of one SELECT, of one Redis read round trip; NaN when there was none.
  double origin_read_mean_seconds() const;
  double l2_read_mean_seconds() const;
};

// The counters of one /metrics text; an error if catalog_origin_reads_total is missing (not a
// catalog service) or a value does not parse.
std::expected<ServiceMetrics, std::string> parse_service_metrics(std::string_view text);

}  // namespace catalog
