// examples/catalog/service_metrics.cpp — reading the counters out of Prometheus text.
#include "examples/catalog/service_metrics.hpp"

#include <charconv>
#include <cmath>
#include <limits>

namespace catalog {
namespace {

double ratio(std::uint64_t hits, std::uint64_t misses) {
  const std::uint64_t all = hits + misses;
  return all == 0 ? std::numeric_limits<double>::quiet_NaN()
                  : static_cast<double>(hits) / static_cast<double>(all);
}

double mean(double sum, std::uint64_t count) {
  return count == 0 ? std::numeric_limits<double>::quiet_NaN() : sum / static_cast<double>(count);
}

// A sample's value: counts are written as integers, but the format allows floats ("1e+06").
bool parse_value(std::string_view text, double& out) {
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc{} && end == text.data() + text.size() && out >= 0;
}

}  // namespace

ServiceMetrics& ServiceMetrics::operator+=(const ServiceMetrics& other) {
  cached = cached || other.cached;
  l1_hits += other.l1_hits;
  l1_misses += other.l1_misses;
  l2_hits += other.l2_hits;
  l2_misses += other.l2_misses;
  origin_reads += other.origin_reads;
  origin_updates += other.origin_updates;
  origin_read_seconds += other.origin_read_seconds;
  l2_reads += other.l2_reads;
  l2_read_seconds += other.l2_read_seconds;
  return *this;
}

ServiceMetrics ServiceMetrics::since(const ServiceMetrics& earlier) const {
  return {.cached = cached,
          .l1_hits = l1_hits - earlier.l1_hits,
          .l1_misses = l1_misses - earlier.l1_misses,
          .l2_hits = l2_hits - earlier.l2_hits,
          .l2_misses = l2_misses - earlier.l2_misses,
          .origin_reads = origin_reads - earlier.origin_reads,
          .origin_updates = origin_updates - earlier.origin_updates,
          .origin_read_seconds = origin_read_seconds - earlier.origin_read_seconds,
          .l2_reads = l2_reads - earlier.l2_reads,
          .l2_read_seconds = l2_read_seconds - earlier.l2_read_seconds};
}

double ServiceMetrics::l1_hit_ratio() const {
  return ratio(l1_hits, l1_misses);
}

double ServiceMetrics::l2_hit_ratio() const {
  return ratio(l2_hits, l2_misses);
}

double ServiceMetrics::origin_read_mean_seconds() const {
  return mean(origin_read_seconds, origin_reads);
}

double ServiceMetrics::l2_read_mean_seconds() const {
  return mean(l2_read_seconds, l2_reads);
}

std::expected<ServiceMetrics, std::string> parse_service_metrics(std::string_view text) {
  ServiceMetrics m;
  bool has_origin = false;
  while (!text.empty()) {
    const std::size_t eol = text.find('\n');
    const std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    if (line.empty() || line.front() == '#') continue;
    const std::size_t name_end = line.find_first_of("{ ");
    const std::string_view name = line.substr(0, name_end);
    const bool l1 = line.find("tier=\"l1\"") != std::string_view::npos;
    const bool l2 = line.find("tier=\"l2\"") != std::string_view::npos;
    std::uint64_t* count = nullptr;
    double* seconds = nullptr;
    if (name == "tiercache_hits_total") {
      count = l1 ? &m.l1_hits : l2 ? &m.l2_hits : nullptr;
    } else if (name == "tiercache_misses_total") {
      count = l1 ? &m.l1_misses : l2 ? &m.l2_misses : nullptr;
    } else if (name == "tiercache_l2_read_duration_seconds_count") {
      count = &m.l2_reads;
    } else if (name == "tiercache_l2_read_duration_seconds_sum") {
      seconds = &m.l2_read_seconds;
    } else if (name == "catalog_origin_reads_total") {
      count = &m.origin_reads;
      has_origin = true;
    } else if (name == "catalog_origin_updates_total") {
      count = &m.origin_updates;
    } else if (name == "catalog_origin_read_seconds_total") {
      seconds = &m.origin_read_seconds;
    }
    if (count == nullptr && seconds == nullptr) continue;
    m.cached = m.cached || name.starts_with("tiercache_");
    const std::size_t value_at = line.rfind(' ');
    double value = 0;
    if (value_at == std::string_view::npos || !parse_value(line.substr(value_at + 1), value))
      return std::unexpected("metrics: cannot read the value of \"" + std::string(line) + "\"");
    if (count != nullptr) *count = static_cast<std::uint64_t>(std::llround(value));
    if (seconds != nullptr) *seconds = value;
  }
  if (!has_origin)
    return std::unexpected(std::string(
        "metrics: no catalog_origin_reads_total; is this a catalog service's /metrics?"));
  return m;
}

}  // namespace catalog
