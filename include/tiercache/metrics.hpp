// tiercache/metrics.hpp — Metrics: a Cache's counters and latency histograms at one moment
// (Cache::metrics()), and a visitor that walks them as named metrics.
//
// Recording a latency writes only the calling thread's own histogram cells (~4 KiB per thread
// and histogram it records into, allocated at its first record, kept until the cache is
// destroyed, outside l1.max_bytes). A call answered by L1 alone takes ~60 ns, and reading the
// clock twice would cost most of that again, so such calls are timed one in
// Options.metrics.sample_every, each independently with that chance (their histograms count
// about that share); a call that goes past L1 (an L2 read, a loader, a wait for L2 to take a write
// or for room in the write queue) is always timed, from the moment it left L1 if it was not
// sampled. A TypedCache's visit callback runs inside its call's time. The counters in CacheStats
// are exact.
//
// visit() presents every metric as the Prometheus exposition (prometheus.hpp) names it, in
// families (one name, its help and type, then each labelled sample), so a visitor can forward
// them to any system; examples/metrics/statsd.cpp prints StatsD lines. docs/metrics.md lists
// them all and what to alert on.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "tiercache/histogram.hpp"
#include "tiercache/stats.hpp"

namespace tiercache {

// The calls whose durations are kept. get, get(out) and get_into are all `get`.
enum class Op : std::uint8_t {
  get,
  get_or_load,
  get_many,
  get_or_load_many,
  set,
  set_many,
  purge,
  flush,
};
inline constexpr std::size_t kOpCount = 8;

// The deepest tier a call had to reach: L1 alone; L2 (a read, or a wait on another caller's read
// or load, or for L2 to take a sync write); the origin (the call ran a loader).
enum class Tier : std::uint8_t { l1, l2, origin };
inline constexpr std::size_t kTierCount = 3;

// Their names as the metrics label them: "get", "get_or_load", ...; "l1", "l2", "origin".
const char* to_string(Op op) noexcept;
const char* to_string(Tier tier) noexcept;

struct Metrics {
  CacheStats stats;
  // Durations of calls in nanoseconds, by call and deepest tier: calls[op][tier]. Empty where
  // Options.metrics.latencies is off.
  std::array<std::array<Histogram, kTierCount>, kOpCount> calls;
  // One L2 read round trip (a key, or a get_many's batch), ns; not a read L2 refused at once
  // for being down.
  Histogram l2_reads;
  Histogram loads;  // one loader call (a BatchLoader's call for all its keys), ns
  // One writer pipeline, ns, from sent until settled: answered, or past batch_timeout.
  Histogram write_batches;
  // Writes in each pipeline, counted when it is sent (so ahead of write_batches while pipelines
  // are in flight).
  Histogram write_batch_sizes;
};

enum class MetricType : std::uint8_t { counter, gauge, histogram };

// One family of samples: its name (without a prefix; a counter's ends in _total), what it
// means, its type, and for a histogram the factor that turns its values into the unit the name
// ends in (1e-9: nanoseconds to _seconds).
struct MetricFamily {
  std::string_view name;
  std::string_view help;
  MetricType type;
  double unit = 1;
};

struct MetricLabel {
  std::string_view name;
  std::string_view value;
};

class MetricsVisitor {
 public:
  virtual ~MetricsVisitor() = default;
  // Every sample of a family follows its begin_family() call, before the next one.
  virtual void begin_family(const MetricFamily& family) = 0;
  virtual void counter(const MetricFamily& family, std::span<const MetricLabel> labels,
                       std::uint64_t value) = 0;
  virtual void gauge(const MetricFamily& family, std::span<const MetricLabel> labels,
                     double value) = 0;
  // Histograms that hold nothing are visited too, so a series does not come and go.
  virtual void histogram(const MetricFamily& family, std::span<const MetricLabel> labels,
                         const Histogram& histogram) = 0;
};

// Walks every metric of `metrics`, family by family, in a fixed order.
void visit(const Metrics& metrics, MetricsVisitor& visitor);

}  // namespace tiercache
