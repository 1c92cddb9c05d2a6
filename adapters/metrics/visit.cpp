// adapters/metrics/visit.cpp — every metric of a Metrics snapshot, named once: the table below is
// the one list the Prometheus exposition, the StatsD example and docs/metrics.md follow.
//
// Names carry no prefix and follow Prometheus's conventions (a counter ends in _total, a duration
// in _seconds); a family's samples are visited one after another. Every sample is visited
// whatever its value, zeros included, so a series never comes and goes between scrapes.
#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "tiercache/metrics.hpp"

namespace tiercache {

const char* to_string(Op op) noexcept {
  switch (op) {
    case Op::get:
      return "get";
    case Op::get_or_load:
      return "get_or_load";
    case Op::get_many:
      return "get_many";
    case Op::get_or_load_many:
      return "get_or_load_many";
    case Op::set:
      return "set";
    case Op::set_many:
      return "set_many";
    case Op::purge:
      return "purge";
    case Op::flush:
      return "flush";
  }
  return "unknown";
}

const char* to_string(Tier tier) noexcept {
  switch (tier) {
    case Tier::l1:
      return "l1";
    case Tier::l2:
      return "l2";
    case Tier::origin:
      return "origin";
  }
  return "unknown";
}

namespace {

// The `code` label of ErrorCounts slot i: the errc enumerator's name (tiercache/error.hpp).
// Slot 0 ("no error") is never visited.
constexpr std::array<std::string_view, std::tuple_size_v<decltype(ErrorCounts::by_code)>>
    kErrcNames = {"",           "not_found",        "backend_unavailable",
                  "timeout",    "cancelled",        "serialization",
                  "overloaded", "invalid_argument", "backend_error",
                  "closed",     "buffer_too_small"};
static_assert(kErrcNames.back() == "buffer_too_small" &&
                  kErrcNames.size() == static_cast<std::size_t>(errc::buffer_too_small) + 1,
              "one name per errc: a new enumerator needs its name here");

// The (call, tier) pairs that can occur, so no series stays 0 forever: flush only waits for L2,
// and only the loading calls reach the origin.
struct CallTier {
  Op op;
  Tier tier;
};
constexpr CallTier kCallTiers[] = {
    {Op::get, Tier::l1},
    {Op::get, Tier::l2},
    {Op::get_or_load, Tier::l1},
    {Op::get_or_load, Tier::l2},
    {Op::get_or_load, Tier::origin},
    {Op::get_many, Tier::l1},
    {Op::get_many, Tier::l2},
    {Op::get_or_load_many, Tier::l1},
    {Op::get_or_load_many, Tier::l2},
    {Op::get_or_load_many, Tier::origin},
    {Op::set, Tier::l1},
    {Op::set, Tier::l2},
    {Op::set_many, Tier::l1},
    {Op::set_many, Tier::l2},
    {Op::purge, Tier::l1},
    {Op::purge, Tier::l2},
    {Op::flush, Tier::l2},
};

// Nanoseconds to the seconds a _seconds name promises.
constexpr double kNanoseconds = 1e-9;

// One row per sample, or per family for the three that expand (by code, by call): exactly one
// source is set, of the family's type (checked below). Rows of one family are adjacent and share
// its MetricFamily.
struct Row {
  MetricFamily family;
  MetricLabel label{};  // a tier label, or none (empty name)
  std::uint64_t CacheStats::*count = nullptr;
  ErrorCounts CacheStats::*by_code = nullptr;
  std::size_t CacheStats::*size = nullptr;
  bool CacheStats::*flag = nullptr;
  Histogram Metrics::*histogram = nullptr;
  bool calls = false;  // Metrics::calls, one sample per kCallTiers pair
};

constexpr MetricFamily kHits{"hits_total",
                             "Keys a tier answered: L1 hits (every form of get, get_many and "
                             "get_or_load), and L1 misses L2 answered.",
                             MetricType::counter};
constexpr MetricFamily kMisses{"misses_total",
                               "Keys a tier did not answer: L1 misses (absent, expired or "
                               "loading), and L1 misses L2 did not have either.",
                               MetricType::counter};

constexpr MetricFamily counter(std::string_view name, std::string_view help) {
  return {name, help, MetricType::counter};
}
constexpr MetricFamily gauge(std::string_view name, std::string_view help) {
  return {name, help, MetricType::gauge};
}
constexpr MetricFamily histogram(std::string_view name, std::string_view help, double unit) {
  return {name, help, MetricType::histogram, unit};
}

constexpr Row kRows[] = {
    {.family = kHits, .label = {"tier", "l1"}, .count = &CacheStats::l1_hits},
    {.family = kHits, .label = {"tier", "l2"}, .count = &CacheStats::l2_hits},
    {.family = kMisses, .label = {"tier", "l1"}, .count = &CacheStats::l1_misses},
    {.family = kMisses, .label = {"tier", "l2"}, .count = &CacheStats::l2_misses},
    {.family = counter("negative_hits_total",
                       "Keys answered not_found by a cached \"no such key\": in L1, or a "
                       "marker in L2 (once per L2 read)."),
     .count = &CacheStats::negative_hits},
    {.family = counter("sets_total", "Values set (set, set_many) and taken by L1."),
     .count = &CacheStats::sets},
    {.family = counter("purges_total", "Purges taken by L1."), .count = &CacheStats::purges},
    {.family = counter("evictions_total", "L1 entries removed to make room."),
     .count = &CacheStats::evictions},
    {.family = counter("expirations_total", "Expired L1 entries reclaimed by the CLOCK sweep."),
     .count = &CacheStats::expirations},
    {.family = counter("loads_total",
                       "Keys loaded: each get_or_load loader call (early refreshes included), and "
                       "each key of a get_or_load_many batch loader's call."),
     .count = &CacheStats::loads},
    {.family =
         counter("negative_loads_total", "Loads that answered \"no such key\" (Loaded::absent)."),
     .count = &CacheStats::negative_loads},
    {.family = counter("load_failures_total",
                       "Loads that returned an error (other than not_found) or threw."),
     .count = &CacheStats::load_failures},
    {.family = counter("refreshes_total", "Early refreshes run (counted in loads_total too)."),
     .count = &CacheStats::refreshes},
    {.family = counter("refresh_failures_total",
                       "Early refreshes whose loader failed: the value stayed until it expired."),
     .count = &CacheStats::refresh_failures},
    {.family = counter("decode_failures_total",
                       "TypedCache values the codec could not decode: each answered "
                       "serialization and dropped from L1."),
     .count = &CacheStats::decode_failures},
    {.family =
         counter("coalesced_total", "L1 misses that waited on another caller's load or L2 read."),
     .count = &CacheStats::coalesced},
    {.family = counter("l2_errors_total",
                       "L2 reads that failed (down, timeout, error reply), per key, by error "
                       "code."),
     .by_code = &CacheStats::l2_errors},
    {.family = counter("l2_unreadable_values_total",
                       "Values L2 held that the backend could not read back, each answered as "
                       "a miss."),
     .count = &CacheStats::l2_unreadable_values},
    {.family = counter("l2_reconnects_total", "Connections to L2 re-established after a loss."),
     .count = &CacheStats::l2_reconnects},
    {.family = counter("invalidation_reconnects_total",
                       "Connections to L2 that changes are heard on, re-established after a "
                       "loss."),
     .count = &CacheStats::invalidation_reconnects},
    {.family = counter("l2_moved_redirects_total",
                       "Redis Cluster MOVED replies followed: sent to the slot's new master."),
     .count = &CacheStats::l2_moved_redirects},
    {.family = counter("l2_ask_redirects_total",
                       "Redis Cluster ASK replies followed: a key mid-migration, sent once to "
                       "the importing master."),
     .count = &CacheStats::l2_ask_redirects},
    {.family = counter("l2_cluster_retries_total",
                       "Redis Cluster TRYAGAIN and CLUSTERDOWN replies: sent again after a "
                       "backoff."),
     .count = &CacheStats::l2_cluster_retries},
    {.family = counter("l2_topology_refreshes_total",
                       "Redis Cluster slot maps fetched (every second, and after a MOVED or a "
                       "lost node)."),
     .count = &CacheStats::l2_topology_refreshes},
    {.family = counter("write_batches_total", "Pipelines of writes sent to L2."),
     .count = &CacheStats::write_batches},
    {.family = counter("writes_sent_total",
                       "Writes sent to L2 in those pipelines, after "
                       "coalescing."),
     .count = &CacheStats::writes_sent},
    {.family = counter("writes_coalesced_total",
                       "Writes made redundant by a later one to the same key, never sent."),
     .count = &CacheStats::writes_coalesced},
    {.family = counter("write_errors_total",
                       "Writes L2 refused, or given up (backend_error), by error code."),
     .by_code = &CacheStats::write_errors},
    {.family = counter("writes_retried_total", "Writes sent again after L2 was lost."),
     .count = &CacheStats::writes_retried},
    {.family = counter("writes_refused_total",
                       "Sets and purges refused with overloaded: the write queue was full."),
     .count = &CacheStats::writes_refused},
    {.family = counter("writes_dropped_total",
                       "Queued writes dropped for room (QueueFullPolicy::drop_oldest)."),
     .count = &CacheStats::writes_dropped},
    {.family = counter("invalidations_total",
                       "Invalidation messages heard from L2 (a FLUSHALL counts one)."),
     .count = &CacheStats::invalidations},
    {.family = counter("invalidated_keys_total", "L1 values invalidation messages dropped."),
     .count = &CacheStats::invalidated_keys},
    {.family = counter("fills_discarded_total",
                       "Values read while their key changed: answered, not cached."),
     .count = &CacheStats::fills_discarded},
    {.family = counter("flushes_heard_total",
                       "FLUSHALL or FLUSHDB heard from L2: every L1 value dropped."),
     .count = &CacheStats::flushes_heard},
    {.family = counter("epoch_bumps_total",
                       "Change stream from L2 lost or regained, or L2 flushed: older L1 values "
                       "are no longer trusted."),
     .count = &CacheStats::epoch_bumps},
    {.family = counter("stale_refused_total", "Misses that found an L1 value of an older epoch."),
     .count = &CacheStats::stale_refused},
    {.family = counter("stale_served_total",
                       "Values of an older epoch answered while L2 was down (stale_if_l2_down)."),
     .count = &CacheStats::stale_served},

    {.family = gauge("entries",
                     "Entries in L1: values and cached \"no such key\"s, not loads in progress."),
     .size = &CacheStats::entries},
    {.family = gauge("bytes", "Bytes charged for the L1 entries: key, value and overhead each."),
     .size = &CacheStats::bytes},
    {.family = gauge("max_bytes", "The bound on those bytes (Options.l1.max_bytes)."),
     .size = &CacheStats::max_bytes},
    {.family =
         gauge("overhead_bytes_per_entry", "Bytes one L1 entry costs beyond its key and value."),
     .size = &CacheStats::overhead_bytes_per_entry},
    {.family = gauge("retired_bytes",
                     "Bytes of replaced or removed L1 entries not yet freed, for every cache in "
                     "the process; outside max_bytes."),
     .size = &CacheStats::retired_bytes},
    {.family = gauge("write_queue_depth",
                     "Writes L2 has not acknowledged yet: queued, in flight or to be retried."),
     .size = &CacheStats::write_queue_depth},
    {.family = gauge("write_queue_bytes", "Key and value bytes of those writes."),
     .size = &CacheStats::write_queue_bytes},
    {.family = gauge("l2_up", "1 while L2 can be reached; 0 while it cannot (misses fail fast)."),
     .flag = &CacheStats::l2_available},
    {.family = gauge("l2_coherent",
                     "1 while changes in L2 are heard, so L1 values are trusted; 0 while not."),
     .flag = &CacheStats::l2_coherent},

    {.family = histogram("call_duration_seconds",
                         "Calls by call and the deepest tier they reached; of the calls L1 "
                         "answered alone, 1 in Options.metrics.sample_every is counted.",
                         kNanoseconds),
     .calls = true},
    {.family = histogram("l2_read_duration_seconds",
                         "L2 read round trips (a key, or a get_many's batch).", kNanoseconds),
     .histogram = &Metrics::l2_reads},
    {.family = histogram("load_duration_seconds",
                         "Loader calls (a batch loader's call for all its keys).", kNanoseconds),
     .histogram = &Metrics::loads},
    {.family = histogram("write_batch_duration_seconds",
                         "Write pipelines, from sent to their answer taken.", kNanoseconds),
     .histogram = &Metrics::write_batches},
    {.family = histogram("write_batch_size", "Writes in each pipeline sent to L2.", 1),
     .histogram = &Metrics::write_batch_sizes},
};

constexpr bool each_row_has_one_source_of_its_type() {
  for (const Row& row : kRows) {
    const int counters = (row.count != nullptr) + (row.by_code != nullptr);
    const int gauges = (row.size != nullptr) + (row.flag != nullptr);
    const int histograms = (row.histogram != nullptr) + row.calls;
    if (counters + gauges + histograms != 1) return false;
    const MetricType type = counters != 0 ? MetricType::counter
                            : gauges != 0 ? MetricType::gauge
                                          : MetricType::histogram;
    if (type != row.family.type) return false;
  }
  return true;
}
static_assert(each_row_has_one_source_of_its_type(), "a row reads one field, as its type says");

void visit_row(const Row& row, const Metrics& m, MetricsVisitor& visitor) {
  const std::span<const MetricLabel> own =
      row.label.name.empty() ? std::span<const MetricLabel>() : std::span(&row.label, 1);
  if (row.count != nullptr) return visitor.counter(row.family, own, m.stats.*row.count);
  if (row.size != nullptr)
    return visitor.gauge(row.family, own, static_cast<double>(m.stats.*row.size));
  if (row.flag != nullptr) return visitor.gauge(row.family, own, m.stats.*row.flag ? 1 : 0);
  if (row.histogram != nullptr) return visitor.histogram(row.family, own, m.*row.histogram);
  if (row.by_code != nullptr) {
    const ErrorCounts& counts = m.stats.*row.by_code;
    for (std::size_t slot = 1; slot < kErrcNames.size(); ++slot) {
      const MetricLabel code{"code", kErrcNames[slot]};
      visitor.counter(row.family, std::span(&code, 1), counts.by_code[slot]);
    }
    return;
  }
  if (!row.calls) return;
  for (const CallTier& pair : kCallTiers) {
    const MetricLabel labels[] = {{"op", to_string(pair.op)}, {"tier", to_string(pair.tier)}};
    visitor.histogram(
        row.family, labels,
        m.calls[static_cast<std::size_t>(pair.op)][static_cast<std::size_t>(pair.tier)]);
  }
}

}  // namespace

void visit(const Metrics& metrics, MetricsVisitor& visitor) {
  std::string_view begun;  // the family whose samples are being visited
  for (const Row& row : kRows) {
    if (row.family.name != begun) {
      visitor.begin_family(row.family);
      begun = row.family.name;
    }
    visit_row(row, metrics, visitor);
  }
}

}  // namespace tiercache
