// bench/l2_coherence.cpp — see l2_coherence.hpp.
//
// Lag: for each of kLagWrites writes, B reads the key twice (so L1 holds it), A sets it with a
// sync writer (set() returns once Redis acknowledged it), then B polls the key. The lag is from
// A's acknowledgement to the start of B's first get that no longer answers the old value (that
// get then reads Redis; its own round trip is not part of the lag). A run where a write did not
// drop a value B held is void: the figure would time something else.
//
// Messages per write: A writes kLagWrites keys B never read, then flushes; B's invalidation
// messages over those writes. bcast hears every write under the prefix (Redis batches the keys of
// one event-loop pass into one message, so pipelined writes cost less than one message each);
// tracked hears only keys B read, so none.
//
// Tracking cost: the L1 figures' 90/10 shape (Zipf keys, 10% sets) on a cache with Redis as L2,
// invalidation bcast against off; once with one cache (the mechanism's own cost: the epoch check
// on every read, the subscriber), once with two caches sharing the keys, one thread each (the
// cost of being coherent: each cache's sets drop the other's copies, so more reads go to Redis).
#include "bench/l2_coherence.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "bench/figures_file.hpp"
#include "bench/l1_workload.hpp"
#include "bench/l2_figures.hpp"
#include "bench/latency_samples.hpp"
#include "bench/timed_run.hpp"
#include "tiercache/cache.hpp"
#include "tiercache/context.hpp"

namespace tiercache::bench {
namespace {

using Clock = std::chrono::steady_clock;

// design.md section 7: B stops serving the old value within p99 <= 50 ms.
constexpr double kMaxLagP99Us = 50'000;
constexpr std::size_t kLagWrites = 10'000;
constexpr std::size_t kSmokeLagWrites = 300;
// Keys the lag writes cycle through.
constexpr std::size_t kLagKeys = 1'000;
// Longest B polls for one write before the run is void: far above any lag seen.
constexpr auto kLagGiveUp = std::chrono::seconds(5);
// The 90/10 shape of the L1 figures, smaller: every key's first read and every set reach Redis.
constexpr std::uint32_t kMixedKeys = 100'000;
constexpr std::uint32_t kSmokeMixedKeys = 5'000;
constexpr double kZipfTheta = 0.99;
constexpr std::size_t kMixedRequestsPerThread = std::size_t{1} << 20;
constexpr std::size_t kSmokeMixedRequestsPerThread = std::size_t{1} << 16;
constexpr unsigned kMixedThreads = 2;
// L1 room per key in the 90/10 runs: every key fits.
constexpr std::size_t kCacheBytesPerKey = 256;

std::optional<Cache> open_cache(const test::RedisServer& server, InvalidationMode mode,
                                WriteMode write_mode, std::size_t l1_bytes = 0) {
  Options o;
  o.redis.url = server.url();
  o.redis.invalidation = mode;
  o.writer.mode = write_mode;
  // Writes wait for room rather than fail: populating 1M keys outruns any queue.
  o.writer.when_full = tiercache::QueueFullPolicy::wait;
  if (l1_bytes != 0) o.l1.max_bytes = l1_bytes;
  auto cache = Cache::open(o);
  if (!cache) {
    std::fprintf(stderr, "coherence: Cache::open: %s\n", cache.error().detail.c_str());
    return std::nullopt;
  }
  if (!cache->stats().l2_coherent) {
    std::fprintf(stderr, "coherence: %s: not coherent after open: %s\n", to_string(mode),
                 cache->stats().l2_last_error.c_str());
    return std::nullopt;
  }
  return std::move(*cache);
}

std::uint64_t ns_between(Clock::time_point from, Clock::time_point to) {
  return static_cast<std::uint64_t>(std::max<std::int64_t>(
      0, std::chrono::duration_cast<std::chrono::nanoseconds>(to - from).count()));
}

// The key settle() writes; measure_lag() creates it first.
const std::string kMarker = numbered_key("marker", 0);
// Reads of the marker settle() makes to get it into B's L1: a read that a message overtook
// answers but does not cache, so it may take more than one.
constexpr int kMaxMarkerReads = 100;

// Returns once B has applied every invalidation message sent before the call: B holds the marker
// in L1, `a` (a sync writer) changes it, and B's messages arrive in the order Redis sent them, so
// once B no longer answers the old value it has applied every earlier message. Costs B one
// message. False (said on stderr) if B never sees it.
bool settle(Cache& a, Cache& b, std::size_t& round) {
  const Context ctx = Context::background();
  for (int reads = 0;; ++reads) {
    const std::uint64_t hits = b.stats().l1_hits;
    if (!b.get(ctx, kMarker) || reads == kMaxMarkerReads) {
      std::fprintf(stderr, "coherence: B cannot read the marker into L1\n");
      return false;
    }
    if (b.stats().l1_hits > hits) break;
  }
  const std::string next = std::to_string(++round);
  if (!a.set(ctx, kMarker, next)) return false;
  const auto set_at = Clock::now();
  while (b.get(ctx, kMarker) != next) {
    if (Clock::now() - set_at > kLagGiveUp) {
      std::fprintf(stderr, "coherence: B never heard the marker write\n");
      return false;
    }
    std::this_thread::yield();
  }
  return true;
}

struct LagRun {
  LatencyPercentiles lag;
  LatencyPercentiles from_call;   // from A's set() call instead: its round trip included
  double messages_per_write = 0;  // to keys B never read
  double messages_per_held = 0;   // to keys B held
};

std::optional<LagRun> measure_lag(const test::RedisServer& server, InvalidationMode mode,
                                  std::size_t writes) {
  if (!empty_redis(server)) return std::nullopt;
  auto a = open_cache(server, mode, WriteMode::sync);
  auto b = open_cache(server, mode, WriteMode::async);
  if (!a || !b) return std::nullopt;
  const Context ctx = Context::background();
  std::vector<std::string> keys;
  for (std::size_t i = 0; i < kLagKeys; ++i) keys.push_back(numbered_key("lag", i));
  for (const std::string& key : keys)
    if (!a->set(ctx, key, "0")) {
      std::fprintf(stderr, "coherence: lag: A's first set of %s failed\n", key.c_str());
      return std::nullopt;
    }
  std::size_t round = 0;
  if (!a->set(ctx, kMarker, "0") || !settle(*a, *b, round)) return std::nullopt;

  const CacheStats b_before = b->stats();
  std::vector<std::uint64_t> lags;
  std::vector<std::uint64_t> from_call;
  lags.reserve(writes);
  from_call.reserve(writes);
  for (std::size_t i = 0; i < writes; ++i) {
    const std::string& key = keys[i % keys.size()];
    const Result<std::string> old_value = b->get(ctx, key);
    if (!old_value || !b->get(ctx, key)) {
      std::fprintf(stderr, "coherence: lag: B's read of %s failed\n", key.c_str());
      return std::nullopt;
    }
    const std::string new_value = std::to_string(i + 1);
    const auto called = Clock::now();
    if (const Result<void> set = a->set(ctx, key, new_value); !set) {
      std::fprintf(stderr, "coherence: lag: A's set: %s\n", set.error().detail.c_str());
      return std::nullopt;
    }
    const auto acked = Clock::now();
    for (;;) {
      const auto poll = Clock::now();
      const Result<std::string> seen = b->get(ctx, key);
      if (seen && *seen == new_value) {
        // Often before the acknowledgement reached A's caller: 0 then.
        lags.push_back(ns_between(acked, poll));
        from_call.push_back(ns_between(called, poll));
        break;
      }
      if (poll - acked > kLagGiveUp) {
        std::fprintf(stderr, "coherence: lag, %s: B still answers the old value of %s\n",
                     to_string(mode), key.c_str());
        return std::nullopt;
      }
      // B's I/O thread needs a core to apply the message; this one only polls.
      std::this_thread::yield();
    }
  }
  if (!settle(*a, *b, round)) return std::nullopt;
  const CacheStats b_after = b->stats();
  const std::uint64_t dropped = b_after.invalidated_keys - b_before.invalidated_keys;
  if (dropped != writes + 1) {  // + the marker
    std::fprintf(stderr,
                 "coherence: lag, %s: %llu of %zu writes dropped a value B held; run void\n",
                 to_string(mode), static_cast<unsigned long long>(dropped), writes);
    return std::nullopt;
  }
  LagRun run;
  run.lag = percentiles_of(lags);
  run.from_call = percentiles_of(from_call);
  run.messages_per_held =
      static_cast<double>(b_after.invalidations - b_before.invalidations - 1) / writes;

  // Writes to keys B never read, pipelined by an async writer as a service's writes would be.
  auto writer = open_cache(server, mode, WriteMode::async);
  if (!writer) return std::nullopt;
  const std::uint64_t heard_before = b->stats().invalidations;
  for (std::size_t i = 0; i < writes; ++i)
    if (!writer->set(ctx, numbered_key("unread", i), "v")) {
      std::fprintf(stderr, "coherence: unread writes: a set was refused\n");
      return std::nullopt;
    }
  if (const Result<void> flushed = writer->flush(ctx); !flushed) {
    std::fprintf(stderr, "coherence: unread writes: flush: %s\n", flushed.error().detail.c_str());
    return std::nullopt;
  }
  if (!settle(*a, *b, round)) return std::nullopt;
  // The marker itself is one message.
  run.messages_per_write =
      static_cast<double>(b->stats().invalidations - heard_before - 1) / writes;
  return run;
}

struct MixedRun {
  double ops_per_s = 0;
  double hit_ratio = 0;
};

// The 90/10 sequences on `caches` (thread t uses caches[t % caches.size()]).
std::optional<MixedRun> measure_mixed(const test::RedisServer& server, InvalidationMode mode,
                                      unsigned instances, const L1Workload& w,
                                      const L1WorkloadShape& shape, const RunTimes& times) {
  if (!empty_redis(server)) return std::nullopt;
  std::vector<Cache> caches;
  for (unsigned i = 0; i < instances; ++i) {
    auto c = open_cache(server, mode, WriteMode::async, shape.keys * kCacheBytesPerKey);
    if (!c) return std::nullopt;
    caches.push_back(std::move(*c));
  }
  const Context ctx = Context::background();
  for (const std::string& key : w.keys)
    if (!caches[0].set(ctx, key, w.values[0])) {
      std::fprintf(stderr, "coherence: 90/10: populating: a set was refused\n");
      return std::nullopt;
    }
  if (!caches[0].flush(ctx)) return std::nullopt;
  const auto body = [&](unsigned t, RunGate& gate) {
    Cache& cache = caches[t % caches.size()];
    const std::vector<std::uint32_t>& requests = w.mixed[t];
    ThreadTally tally;
    gate.arrive_and_wait_for_go();
    std::size_t i = 0;
    std::size_t next_value = 1;
    while (!gate.should_stop()) {
      const std::uint32_t r = requests[i];
      i = i + 1 == requests.size() ? 0 : i + 1;
      const std::string& key = w.keys[r & ~kWriteBit];
      if ((r & kWriteBit) != 0) {
        if (!cache.set(ctx, key, w.values[next_value])) ++tally.failed_sets;
        next_value ^= 1;
      } else {
        ++tally.gets;
        const Result<std::string> v = cache.get(ctx, key);
        if (v) {
          ++tally.hits;
          tally.sink += v->size();
        }
      }
      ++tally.requests;
    }
    return tally;
  };
  run_timed(kMixedThreads, times.warmup, body);
  std::uint64_t l1_hits_before = 0, l1_misses_before = 0;
  for (const Cache& c : caches) {
    l1_hits_before += c.stats().l1_hits;
    l1_misses_before += c.stats().l1_misses;
  }
  const RunResult r = run_timed(kMixedThreads, times.measured, body);
  std::uint64_t l1_hits = 0, l1_misses = 0;
  for (const Cache& c : caches) {
    l1_hits += c.stats().l1_hits;
    l1_misses += c.stats().l1_misses;
  }
  l1_hits -= l1_hits_before;
  l1_misses -= l1_misses_before;
  if (r.total.hits != r.total.gets) {
    std::fprintf(stderr, "coherence: 90/10, %s x%u: %llu of %llu gets failed; run void\n",
                 to_string(mode), instances,
                 static_cast<unsigned long long>(r.total.gets - r.total.hits),
                 static_cast<unsigned long long>(r.total.gets));
    return std::nullopt;
  }
  for (Cache& c : caches)
    if (!c.flush(ctx)) return std::nullopt;
  return MixedRun{.ops_per_s = r.mops * 1e6,
                  .hit_ratio = l1_hits + l1_misses == 0
                                   ? 0
                                   : static_cast<double>(l1_hits) / (l1_hits + l1_misses)};
}

double us(std::uint64_t ns) {
  return static_cast<double>(ns) / 1e3;
}

}  // namespace

bool run_l2_coherence_figures(const test::RedisServer& server, const BenchSettings& settings) {
  const bool full = settings.size == BenchSize::full;
  const std::size_t writes = full ? kLagWrites : kSmokeLagWrites;
  const std::optional<LagRun> bcast = measure_lag(server, InvalidationMode::bcast, writes);
  if (!bcast) return false;
  const std::optional<LagRun> tracked = measure_lag(server, InvalidationMode::tracked, writes);
  if (!tracked) return false;
  const bool lag_met =
      us(bcast->lag.p99_ns) <= kMaxLagP99Us && us(tracked->lag.p99_ns) <= kMaxLagP99Us;
  std::printf(
      "%-20s bcast p50=%.1fus p99=%.1fus max=%.1fus  tracked p50=%.1fus p99=%.1fus "
      "max=%.1fus  target: p99 <= 50 ms  met=%s  writes=%zu  (from A's set() call, its round "
      "trip included: bcast p50=%.1fus p99=%.1fus, tracked p50=%.1fus p99=%.1fus)\n",
      "invalidation_lag", us(bcast->lag.p50_ns), us(bcast->lag.p99_ns), us(bcast->lag.max_ns),
      us(tracked->lag.p50_ns), us(tracked->lag.p99_ns), us(tracked->lag.max_ns),
      lag_met ? "yes" : "no", writes, us(bcast->from_call.p50_ns), us(bcast->from_call.p99_ns),
      us(tracked->from_call.p50_ns), us(tracked->from_call.p99_ns));
  std::printf(
      "%-20s bcast: %.3f per write to a key B holds, %.3f to keys B never read (pipelined)  "
      "tracked: %.3f, %.3f\n",
      "invalidations/write", bcast->messages_per_held, bcast->messages_per_write,
      tracked->messages_per_held, tracked->messages_per_write);

  const L1WorkloadShape shape{
      .keys = full ? kMixedKeys : kSmokeMixedKeys,
      .zipf_theta = kZipfTheta,
      .value_bytes = kL2ValueBytes,
      .threads = kMixedThreads,
      .write_fraction = 0.1,
      .requests_per_thread = full ? kMixedRequestsPerThread : kSmokeMixedRequestsPerThread};
  const L1Workload w = L1Workload::build(shape);
  const auto on = measure_mixed(server, InvalidationMode::bcast, 1, w, shape, settings.times);
  const auto off = measure_mixed(server, InvalidationMode::off, 1, w, shape, settings.times);
  const auto two_on = measure_mixed(server, InvalidationMode::bcast, 2, w, shape, settings.times);
  const auto two_off = measure_mixed(server, InvalidationMode::off, 2, w, shape, settings.times);
  if (!on || !off || !two_on || !two_off) return false;
  std::printf(
      "%-20s one cache: on=%.0f off=%.0f ops/s (%.2fx)  two caches: on=%.0f off=%.0f ops/s "
      "(%.2fx, L1 hit ratio %.3f vs %.3f)  keys=%u threads=%u\n",
      "tracking_cost_rw90", on->ops_per_s, off->ops_per_s, on->ops_per_s / off->ops_per_s,
      two_on->ops_per_s, two_off->ops_per_s, two_on->ops_per_s / two_off->ops_per_s,
      two_on->hit_ratio, two_off->hit_ratio, shape.keys, kMixedThreads);

  return record_figure({.name = "invalidation_lag_p50_us",
                        .unit = "us",
                        .value = us(bcast->lag.p50_ns),
                        .peers = {{"tracked", us(tracked->lag.p50_ns)}},
                        .target = "none",
                        .met = false}) &&
         record_figure({.name = "invalidation_lag_p99_us",
                        .unit = "us",
                        .value = us(bcast->lag.p99_ns),
                        .peers = {{"tracked", us(tracked->lag.p99_ns)}},
                        .target = "<= 50000 us in both modes",
                        .met = lag_met}) &&
         record_figure({.name = "invalidations_per_write",
                        .unit = "messages to a cache per write of another's (keys it never read)",
                        .value = bcast->messages_per_write,
                        .peers = {{"tracked", tracked->messages_per_write},
                                  {"bcast_key_held", bcast->messages_per_held},
                                  {"tracked_key_held", tracked->messages_per_held}},
                        .target = "none",
                        .met = false}) &&
         record_figure({.name = "tracking_cost_rw90",
                        .unit = "ops/s",
                        .value = on->ops_per_s,
                        .peers = {{"tracking_off", off->ops_per_s},
                                  {"two_caches_tracking_on", two_on->ops_per_s},
                                  {"two_caches_tracking_off", two_off->ops_per_s}},
                        .target = "none (ratio to tracking_off)",
                        .met = false}) &&
         empty_redis(server);
}

}  // namespace tiercache::bench
