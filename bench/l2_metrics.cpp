// bench/l2_metrics.cpp — metrics_cost_set: l2_async_set's shape (bench/l2_write.cpp: one thread
// sets distinct keys with 100-byte values, the clock runs from the first set until flush() says
// Redis acknowledged every one) on two caches: one with Options.metrics at its defaults
// (latencies on: one set in sample_every timed, and the writer's batches), one with latencies
// off. Counters are kept either way. Each cache has its own key prefix, so neither hears the
// other's writes as invalidations.
//
// Rounds alternate on, off, on, off, ..., each pass from an empty Redis; each figure is the
// median of its rounds. As in bench/l1_metrics.cpp, each round opens both caches afresh, the
// other one first each time, over an even number of rounds. Each cache first sets every key
// once (a warm-up: its measured pass then replaces L1 entries in a grown heap, as
// l2_async_set's does). Target: on >= 0.95x off. Unlike l2_async_set, no call is timed by the
// bench itself: two clock reads per set would dilute what the figure is after.
#include "bench/l2_metrics.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "bench/figures_file.hpp"
#include "bench/l2_figures.hpp"
#include "bench/l2_other_load.hpp"
#include "tiercache/cache.hpp"
#include "tiercache/context.hpp"
#include "tiercache/metrics.hpp"

namespace tiercache::bench {
namespace {

using Clock = std::chrono::steady_clock;

// As l2_async_set: distinct keys, so no write is coalesced away and every one reaches Redis.
constexpr std::size_t kSets = 200'000;
constexpr std::size_t kSmokeSets = 20'000;
// Rounds of each of on and off, even (a round is ~1.5 s: two warm-ups, two passes); BENCH_SMOKE
// runs two of each.
constexpr int kRounds = 6;
constexpr int kSmokeRounds = 2;
// Issue 13: metrics may cost a set at most 5 % of its throughput.
constexpr double kMinOnToOff = 0.95;
// As l2_async_set's writer: a full queue makes the caller wait, so every set reaches Redis.
constexpr WriterOptions kAsyncWriter = {.mode = WriteMode::async,
                                        .when_full = QueueFullPolicy::wait};

struct Variant {
  const char* name;
  const char* key_prefix;  // of the same length for both, so their commands are the same size
  bool latencies;
};
constexpr Variant kOn{.name = "latencies on", .key_prefix = "metrics1:", .latencies = true};
constexpr Variant kOff{.name = "latencies off", .key_prefix = "metrics0:", .latencies = false};

std::optional<Cache> open_cache(const test::RedisServer& server, const Variant& v) {
  auto cache = Cache::open({.redis = {.url = server.url(), .key_prefix = v.key_prefix},
                            .writer = kAsyncWriter,
                            .metrics = {.latencies = v.latencies}});
  if (!cache) {
    std::fprintf(stderr, "l2_metrics: %s: Cache::open: %s\n", v.name, cache.error().detail.c_str());
    return std::nullopt;
  }
  return std::move(*cache);
}

// Sets every key, then flushes; nullopt (said on stderr) if a set or the flush failed.
std::optional<double> set_all(Cache& cache, const Variant& v, const std::vector<std::string>& keys,
                              const std::string& value) {
  const Context ctx = Context::background();
  std::size_t failed = 0;
  const auto start = Clock::now();
  for (const std::string& key : keys)
    if (!cache.set(ctx, key, value)) ++failed;
  const Result<void> flushed = cache.flush(ctx);
  const std::chrono::duration<double> took = Clock::now() - start;
  if (failed == 0 && flushed) return keys.size() / took.count();
  std::fprintf(stderr, "l2_metrics: %s: %zu sets failed; flush: %s; run void\n", v.name, failed,
               flushed ? "ok" : flushed.error().detail.c_str());
  return std::nullopt;
}

// One measured pass from an empty Redis: ops/s, or nullopt (said on stderr) if a write was
// refused, dropped, coalesced or failed, or Redis does not hold every key afterwards.
std::optional<double> measure_pass(const test::RedisServer& server, Cache& cache, const Variant& v,
                                   const std::vector<std::string>& keys, const std::string& value) {
  if (!empty_redis(server)) return std::nullopt;
  const CacheStats before = cache.stats();
  const std::optional<double> ops_per_s = set_all(cache, v, keys, value);
  if (!ops_per_s) return std::nullopt;
  const CacheStats after = cache.stats();
  const auto sent = after.writes_sent - before.writes_sent;
  const auto bad = (after.writes_coalesced - before.writes_coalesced) +
                   (after.write_errors.total() - before.write_errors.total()) +
                   (after.writes_refused - before.writes_refused) +
                   (after.writes_dropped - before.writes_dropped);
  const std::optional<std::size_t> in_redis = redis_key_count(server);
  if (sent == keys.size() && bad == 0 && in_redis == keys.size()) return ops_per_s;
  std::fprintf(stderr,
               "l2_metrics: %s: %llu writes sent of %zu, %llu coalesced, errors, refused or "
               "dropped; Redis holds %zu keys; run void\n",
               v.name, static_cast<unsigned long long>(sent), keys.size(),
               static_cast<unsigned long long>(bad), in_redis.value_or(0));
  return std::nullopt;
}

// The histograms hold what the option says: with latencies on, some sets and every write batch
// were timed; with them off, nothing was.
bool check_histograms(Cache& cache, const Variant& v) {
  const Metrics m = cache.metrics();
  const std::uint64_t sets =
      m.calls[static_cast<std::size_t>(Op::set)][static_cast<std::size_t>(Tier::l1)].count();
  const std::uint64_t batches = m.write_batches.count();
  if (v.latencies ? sets != 0 && batches != 0 : sets == 0 && batches == 0) return true;
  std::fprintf(stderr, "l2_metrics: %s: %llu sets and %llu write batches timed; run void\n", v.name,
               static_cast<unsigned long long>(sets), static_cast<unsigned long long>(batches));
  return false;
}

// Of an even count, the mean of the middle two.
double median(std::vector<double> values) {
  std::sort(values.begin(), values.end());
  const std::size_t mid = values.size() / 2;
  return values.size() % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

// A cache of `v` that has set every key once; nullopt (said on stderr) if not.
std::optional<Cache> open_warm(const test::RedisServer& server, const Variant& v,
                               const std::vector<std::string>& keys, const std::string& value) {
  std::optional<Cache> cache = open_cache(server, v);
  if (!cache || !set_all(*cache, v, keys, value)) return std::nullopt;
  return cache;
}

}  // namespace

bool run_l2_metrics_figure(const test::RedisServer& server, const BenchSettings& settings) {
  const bool full = settings.size == BenchSize::full;
  const std::size_t n = full ? kSets : kSmokeSets;
  const int rounds = full ? kRounds : kSmokeRounds;
  const std::string value(kL2ValueBytes, 'x');
  std::vector<std::string> keys;
  keys.reserve(n);
  for (std::size_t i = 0; i < n; ++i) keys.push_back(numbered_key("key", i));

  const char* figure = "metrics_cost_set";
  const OtherLoad load(server.pid());
  std::vector<double> on_runs;
  std::vector<double> off_runs;
  for (int round = 0; round < rounds; ++round) {
    const bool on_first = round % 2 == 0;
    std::optional<Cache> first = open_warm(server, on_first ? kOn : kOff, keys, value);
    std::optional<Cache> second = open_warm(server, on_first ? kOff : kOn, keys, value);
    if (!first || !second) return false;
    Cache& on = on_first ? *first : *second;
    Cache& off = on_first ? *second : *first;
    const std::optional<double> on_ops = measure_pass(server, on, kOn, keys, value);
    if (!on_ops) return false;
    const std::optional<double> off_ops = measure_pass(server, off, kOff, keys, value);
    if (!off_ops || !check_histograms(on, kOn) || !check_histograms(off, kOff)) return false;
    on_runs.push_back(*on_ops);
    off_runs.push_back(*off_ops);
  }

  const double on_median = median(on_runs);
  const double off_median = median(off_runs);
  const double ratio = on_median / off_median;
  const bool met = ratio >= kMinOnToOff;
  std::string per_round;
  for (int round = 0; round < rounds; ++round) {
    char text[32];
    std::snprintf(text, sizeof text, "%s%.3f", round == 0 ? "" : ",",
                  on_runs[round] / off_runs[round]);
    per_round += text;
  }
  std::printf(
      "%-20s ops/s  metrics_on=%.0f  metrics_off=%.0f  ratio=%.3f  target: >=%.2fx off  "
      "met=%s  per_round=%s  async set, sets=%zu value_bytes=%zu when_full=wait "
      "sample_every=%u  medians of %d rounds  other_load=%.2f\n",
      figure, on_median, off_median, ratio, kMinOnToOff, met ? "yes" : "no", per_round.c_str(), n,
      kL2ValueBytes, MetricsOptions{}.sample_every, rounds, other_load_of(figure, load));
  return empty_redis(server) && record_figure({.name = figure,
                                               .unit = "ops/s",
                                               .value = on_median,
                                               .peers = {{"metrics_off_set", off_median}},
                                               .target = ">= 0.95x metrics_off_set",
                                               .met = met});
}

}  // namespace tiercache::bench
