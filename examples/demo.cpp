// examples/demo.cpp — the demo service: two service instances, each a Cache with its own small
// L1, share one Redis as L2. Worker threads, spread over the instances, read a Zipf-skewed key
// space through get_or_load in front of a slow origin, write and purge now and then, and report
// what the caches did: L1 and L2 hit ratios (a value one instance loaded is found in Redis by the
// other, without a loader call), origin loads against L1 misses, the writer's batches, evictions,
// expirations, memory per entry and the latency of every get_or_load.
//
// Environment: DEMO_THREADS workers (default 4; worker i uses instance i % 2), DEMO_SECONDS of
// run time (default 10), DEMO_REDIS_URL (redis://host:port/db) to use that Redis. Without it the
// demo starts a private redis-server with the tests' launcher, test::RedisServer
// (tests/support/redis_server.hpp): a free loopback port, a temp dir, no persistence, a process
// group of its own so that a terminal's Ctrl-C spares it; the demo stops it (SIGKILL) and removes
// the dir when it exits, on a signal or an error too. SIGINT or SIGTERM ends the run early, with
// the same report (one that arrives while the server starts takes effect once it is up). A progress
// line goes to stderr once a second (overwritten in place on a terminal); the report to stdout.
// Exit status: 0 when every call returned a value or the error its context asked for (timeout,
// cancelled) and every check held; 1 otherwise, or when Redis could not be started or reached;
// 2 for a bad environment variable.
// Never: waits without a deadline. The run ends by itself, so CI and pipes cannot hang on it.
//
// [1] G. K. Zipf, "Human Behavior and the Principle of Least Effort", 1949: rank r is drawn with
//     probability proportional to 1 / r^s; s = 0.99 is the skew YCSB and Caffeine's benchmarks use.
#include <signal.h>
#include <time.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <bit>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <expected>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "tests/support/redis_server.hpp"
#include "tiercache/tiercache.hpp"

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Distinct keys the workers draw from.
constexpr std::size_t kKeyCount = 100'000;
// Skew of the key popularity [1].
constexpr double kZipfExponent = 0.99;
// Bytes of the longest key, "item:99999".
constexpr std::size_t kKeyBytes = 10;
// Bytes of every value the origin returns.
constexpr std::size_t kValueBytes = 200;
// What one origin fetch costs, as a database query might.
constexpr auto kOriginLatency = 2ms;
// Deadline of each request; far above kOriginLatency plus an L2 round trip, so a timeout means
// something is stuck.
constexpr auto kRequestTimeout = 100ms;
// Service instances sharing the one Redis, each with its own L1.
constexpr unsigned kInstanceCount = 2;
// L1 budget of each instance: about 3.6k of the 100k entries fit, so the L1 hit ratio depends on
// the policy. Most misses still reach the origin (L2 answers ~20 % of them in a default run), so
// each instance (2 of the 4 workers) fills its L1 in ~4.5 s: evictions show in a default run.
constexpr std::size_t kL1MaxBytes = std::size_t{1} << 20;
// Short enough that entries loaded early in a default run expire before it ends (in L2 too: the
// writer sets each key's PX from its L1 deadline).
constexpr auto kDefaultTtl = 5s;
// Prepended to the demo's keys in Redis, so a shared DEMO_REDIS_URL server's own keys are safe.
constexpr const char* kRedisKeyPrefix = "tiercache-demo:";
// Requests out of every 100 that are a set / a purge instead of a get_or_load.
constexpr unsigned kSetPercent = 5;
constexpr unsigned kPurgePercent = 1;
// Defaults and bounds of the environment knobs.
constexpr unsigned kDefaultThreads = 4;
constexpr unsigned kMaxThreads = 1024;
constexpr unsigned kDefaultSeconds = 10;
constexpr unsigned kMaxSeconds = 7 * 24 * 3600;
// How often the progress line is refreshed.
constexpr auto kProgressPeriod = 1s;
// Keeps one worker's counters off another's cache line.
constexpr std::size_t kCacheLineBytes = 64;
// Seed of worker 0's generator; worker i uses kSeedBase + i, so runs draw the same keys.
constexpr std::uint64_t kSeedBase = 0x7133'cace;

// How long each instance may take to reach Redis before the run starts.
constexpr auto kL2ReadyTimeout = 2s;
// How long each instance may take to drain its queued writes to Redis after the run.
constexpr auto kFlushTimeout = 5s;

// Exit statuses, as the top comment lists them.
constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

struct DemoConfig {
  unsigned threads = kDefaultThreads;
  std::chrono::seconds run_time{kDefaultSeconds};
  // Empty: start a private redis-server.
  std::string redis_url;
};

// A whole number in [1, max] from the environment, or `fallback` when the variable is unset.
std::expected<unsigned, std::string> env_count(const char* name, unsigned fallback, unsigned max) {
  const char* text = std::getenv(name);
  if (text == nullptr || *text == '\0') return fallback;
  const std::string_view digits(text);
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc{} || end != digits.data() + digits.size() || value == 0 || value > max)
    return std::unexpected(std::string(name) + "=\"" + text +
                           "\": must be a whole number from 1 to " + std::to_string(max));
  return value;
}

std::expected<DemoConfig, std::string> config_from_env() {
  const auto threads = env_count("DEMO_THREADS", kDefaultThreads, kMaxThreads);
  if (!threads) return std::unexpected(threads.error());
  const auto seconds = env_count("DEMO_SECONDS", kDefaultSeconds, kMaxSeconds);
  if (!seconds) return std::unexpected(seconds.error());
  const char* url = std::getenv("DEMO_REDIS_URL");
  return DemoConfig{.threads = *threads,
                    .run_time = std::chrono::seconds(*seconds),
                    .redis_url = url == nullptr ? "" : url};
}

// `url` with any user and password replaced by "***", fit for a log.
std::string redacted_url(std::string_view url) {
  const std::size_t at = url.rfind('@');
  if (at == std::string_view::npos) return std::string(url);
  const std::size_t scheme_end = url.find("://");
  const std::size_t userinfo = scheme_end == std::string_view::npos ? 0 : scheme_end + 3;
  return std::string(url.substr(0, userinfo)) + "***" + std::string(url.substr(at));
}

// What each service instance runs: a small L1 of its own, Redis as the shared L2, writes behind.
tiercache::Options demo_options(const std::string& redis_url) {
  return {.l1 = {.max_bytes = kL1MaxBytes,
                 .max_value_bytes = kValueBytes,
                 .expected_entry_bytes = kKeyBytes + kValueBytes},
          .redis = {.url = redis_url, .key_prefix = kRedisKeyPrefix},
          .writer = {.mode = tiercache::WriteMode::async},
          .default_ttl = kDefaultTtl};
}

const char* signal_name(int signal) {
  return signal == SIGINT ? "SIGINT" : signal == SIGTERM ? "SIGTERM" : "a signal";
}

// Waits until `until` or SIGINT / SIGTERM, whichever comes first; returns the signal or 0. The
// signals are blocked in every thread (see main), so this is the only place they land.
int wait_for_signal(const sigset_t& signals, Clock::time_point until) {
  for (;;) {
    const auto left = std::max(until - Clock::now(), Clock::duration::zero());
    const auto whole = std::chrono::duration_cast<std::chrono::seconds>(left);
    const timespec timeout{.tv_sec = static_cast<time_t>(whole.count()),
                           .tv_nsec = static_cast<long>((left - whole).count())};
    const int signal = sigtimedwait(&signals, nullptr, &timeout);
    if (signal > 0) return signal;
    if (errno == EAGAIN) return 0;
    // EINTR: another signal interrupted the wait; wait out the rest.
  }
}

// The value of "name:value" in an INFO reply, or "" if absent.
std::string info_field(std::string_view info, std::string_view name) {
  const std::string line_start = "\n" + std::string(name) + ":";
  const std::string whole = "\n" + std::string(info);
  const std::size_t at = whole.find(line_start);
  if (at == std::string::npos) return {};
  const std::size_t from = at + line_start.size();
  return whole.substr(from, whole.find_first_of("\r\n", from) - from);
}

// "redis-server VERSION (pid P, 127.0.0.1:PORT)" for the banner. Throws as RedisServer::command.
std::string describe(const test::RedisServer& redis) {
  const std::string info = redis.command({"INFO", "server"});
  return "redis-server " + info_field(info, "redis_version") + " (pid " +
         std::to_string(redis.pid()) + ", " + redis.host() + ":" + std::to_string(redis.port()) +
         ")";
}

// Byte `i` of the value the origin holds for `key`: the key and a '|', repeated. A reader can
// check a value against its key without building the expected copy.
char origin_byte(std::string_view key, std::size_t i) {
  i %= key.size() + 1;
  return i < key.size() ? key[i] : '|';
}

std::string origin_value(std::string_view key) {
  std::string value(kValueBytes, '\0');
  for (std::size_t i = 0; i < value.size(); ++i) value[i] = origin_byte(key, i);
  return value;
}

bool is_origin_value(std::string_view key, std::string_view value) {
  if (value.size() != kValueBytes) return false;
  for (std::size_t i = 0; i < value.size(); ++i)
    if (value[i] != origin_byte(key, i)) return false;
  return true;
}

// The slow system behind the cache. Counts its calls, so the report can set them against
// CacheStats::loads and the misses.
class Origin {
 public:
  tiercache::Result<std::string> fetch(std::string_view key) {
    // relaxed: a tally, read after the workers are joined (join orders it).
    calls_.fetch_add(1, std::memory_order_relaxed);
    std::this_thread::sleep_for(kOriginLatency);
    return origin_value(key);
  }
  std::uint64_t calls() const { return calls_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> calls_{0};
};

// kKeyCount keys; pick() draws rank r with probability proportional to 1 / (r + 1)^s [1], by
// binary search of the cumulative distribution (17 steps for 100k keys). Read-only once built,
// so the workers share one.
class KeySpace {
 public:
  KeySpace() {
    keys_.reserve(kKeyCount);
    cdf_.reserve(kKeyCount);
    double sum = 0;
    for (std::size_t rank = 0; rank < kKeyCount; ++rank) {
      keys_.push_back("item:" + std::to_string(rank));
      sum += 1.0 / std::pow(static_cast<double>(rank + 1), kZipfExponent);
      cdf_.push_back(sum);
    }
    for (double& c : cdf_) c /= sum;
  }

  std::string_view pick(std::mt19937_64& rng) const {
    const double u = std::uniform_real_distribution<double>(0.0, 1.0)(rng);
    const auto rank = std::upper_bound(cdf_.begin(), cdf_.end(), u) - cdf_.begin();
    // Rounding can leave cdf_.back() a hair under 1.
    return keys_[std::min<std::size_t>(static_cast<std::size_t>(rank), kKeyCount - 1)];
  }

 private:
  std::vector<std::string> keys_;
  std::vector<double> cdf_;
};

// Latencies in log-linear buckets, 16 per power of two: a percentile read at a bucket's upper
// edge is at most 1/16 (6.25 %) above the true value, in a fixed 8 KiB whatever the run length.
class LatencyHistogram {
 public:
  void record(std::chrono::nanoseconds latency) {
    const auto ns = static_cast<std::uint64_t>(std::max<std::int64_t>(latency.count(), 0));
    ++counts_[bucket_of(ns)];
    ++count_;
    max_ns_ = std::max(max_ns_, ns);
  }

  void merge(const LatencyHistogram& other) {
    for (std::size_t b = 0; b < counts_.size(); ++b) counts_[b] += other.counts_[b];
    count_ += other.count_;
    max_ns_ = std::max(max_ns_, other.max_ns_);
  }

  std::uint64_t count() const { return count_; }
  std::chrono::nanoseconds max() const { return std::chrono::nanoseconds(max_ns_); }

  // The smallest recorded latency that `quantile` (in (0, 1]) of the calls did not exceed, read
  // at its bucket's upper edge.
  std::chrono::nanoseconds percentile(double quantile) const {
    const auto rank = static_cast<std::uint64_t>(std::ceil(quantile * static_cast<double>(count_)));
    std::uint64_t seen = 0;
    for (std::size_t b = 0; b < counts_.size(); ++b) {
      seen += counts_[b];
      if (seen >= std::max<std::uint64_t>(rank, 1))
        return std::chrono::nanoseconds(std::min(upper_edge(b), max_ns_));
    }
    return max();
  }

 private:
  static constexpr unsigned kSubBits = 4;
  static constexpr std::uint64_t kSubBuckets = std::uint64_t{1} << kSubBits;

  // Values below kSubBuckets get a bucket each; above, bucket width doubles every kSubBuckets.
  static std::size_t bucket_of(std::uint64_t ns) {
    if (ns < kSubBuckets) return static_cast<std::size_t>(ns);
    const unsigned shift = static_cast<unsigned>(std::bit_width(ns)) - 1 - kSubBits;
    return static_cast<std::size_t>((shift + 1) * kSubBuckets + (ns >> shift) - kSubBuckets);
  }

  static std::uint64_t upper_edge(std::size_t bucket) {
    if (bucket < kSubBuckets) return bucket;
    const std::uint64_t shift = bucket / kSubBuckets - 1;
    const std::uint64_t lowest = (kSubBuckets + bucket % kSubBuckets) << shift;
    return lowest + ((std::uint64_t{1} << shift) - 1);
  }

  std::array<std::uint64_t, (64 - kSubBits + 1) * kSubBuckets> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t max_ns_ = 0;
};

// Failed calls, by operation and error code, with the first detail seen of each.
class ErrorTally {
 public:
  struct Seen {
    std::uint64_t count = 0;
    std::string first_detail;
  };
  using Key = std::pair<std::string, std::error_code>;

  void add(std::string_view op, const tiercache::Error& error) {
    Seen& seen = seen_[Key(op, error.code)];
    if (seen.count++ == 0) seen.first_detail = error.detail;
  }

  void merge(const ErrorTally& other) {
    for (const auto& [key, theirs] : other.seen_) {
      Seen& mine = seen_[key];
      if (mine.count == 0) mine.first_detail = theirs.first_detail;
      mine.count += theirs.count;
    }
  }

  const std::map<Key, Seen>& seen() const { return seen_; }

 private:
  std::map<Key, Seen> seen_;
};

// The errors a request's own context asks for; anything else is a failure of the run.
bool is_context_error(std::error_code code) {
  return code == tiercache::errc::timeout || code == tiercache::errc::cancelled;
}

// One worker's results. Only `ops` is read while the worker runs; the rest after join.
struct alignas(kCacheLineBytes) WorkerResults {
  std::atomic<std::uint64_t> ops{0};
  std::uint64_t loads_called = 0;  // get_or_load calls
  std::uint64_t sets = 0;
  std::uint64_t purges = 0;
  std::uint64_t wrong_values = 0;  // get_or_load answers that are not the origin's bytes
  std::string first_wrong_key;
  LatencyHistogram latency;
  ErrorTally errors;
};

void run_worker(std::stop_token stop, unsigned index, tiercache::Cache& cache, const KeySpace& keys,
                Origin& origin, WorkerResults& out) {
  std::mt19937_64 rng(kSeedBase + index);
  std::uniform_int_distribution<unsigned> percent(0, 99);
  const tiercache::Loader loader = [&origin](const tiercache::Context&, std::string_view key) {
    return origin.fetch(key);
  };
  // The thread's own token, so copying it into each request's context touches no shared count.
  const auto base = tiercache::Context::background().with_stop_token(stop);
  std::uint64_t ops = 0;
  while (!stop.stop_requested()) {
    const tiercache::Context ctx = base.with_timeout(kRequestTimeout);
    const std::string_view key = keys.pick(rng);
    const unsigned roll = percent(rng);
    if (roll < kPurgePercent) {
      ++out.purges;
      if (const auto r = cache.purge(ctx, key); !r) out.errors.add("purge", r.error());
    } else if (roll < kPurgePercent + kSetPercent) {
      ++out.sets;
      if (const auto r = cache.set(ctx, key, origin_value(key)); !r)
        out.errors.add("set", r.error());
    } else {
      ++out.loads_called;
      const auto start = Clock::now();
      const auto r = cache.get_or_load(ctx, key, loader);
      out.latency.record(Clock::now() - start);
      if (!r) {
        out.errors.add("get_or_load", r.error());
      } else if (!is_origin_value(key, *r) && out.wrong_values++ == 0) {
        out.first_wrong_key = key;
      }
    }
    // relaxed: the progress line only needs some recent value; join orders the final one.
    out.ops.store(++ops, std::memory_order_relaxed);
  }
}

std::string format_duration(std::chrono::nanoseconds d) {
  const double ns = static_cast<double>(d.count());
  std::ostringstream out;
  out << std::fixed << std::setprecision(ns < 1e3 ? 0 : 2);
  if (ns < 1e3)
    out << ns << " ns";
  else if (ns < 1e6)
    out << ns / 1e3 << " us";
  else if (ns < 1e9)
    out << ns / 1e6 << " ms";
  else
    out << ns / 1e9 << " s";
  return out.str();
}

std::string format_mib(std::size_t bytes) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(2) << static_cast<double>(bytes) / (1 << 20) << " MiB";
  return out.str();
}

std::string format_percent(std::uint64_t part, std::uint64_t whole) {
  if (whole == 0) return "-";
  std::ostringstream out;
  out << std::fixed << std::setprecision(1)
      << 100.0 * static_cast<double>(part) / static_cast<double>(whole) << " %";
  return out.str();
}

double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

// The name the report gives instance `i`: "A", "B", ...
std::string instance_name(std::size_t i) {
  return std::string(1, static_cast<char>('A' + i));
}

// Workers that use instance `i` (worker w uses instance w % kInstanceCount).
unsigned workers_of_instance(unsigned threads, std::size_t i) {
  return (threads + kInstanceCount - 1 - static_cast<unsigned>(i)) / kInstanceCount;
}

// Every counter of `all` added up; max_bytes too, so the sum is the budget of all instances.
tiercache::CacheStats sum_stats(const std::vector<tiercache::CacheStats>& all) {
  tiercache::CacheStats s;
  for (const tiercache::CacheStats& one : all) {
    s.l1_hits += one.l1_hits;
    s.l1_misses += one.l1_misses;
    s.loads += one.loads;
    s.load_failures += one.load_failures;
    s.coalesced += one.coalesced;
    s.l2_hits += one.l2_hits;
    s.l2_misses += one.l2_misses;
    for (std::size_t i = 0; i < s.l2_errors.by_code.size(); ++i)
      s.l2_errors.by_code[i] += one.l2_errors.by_code[i];
    s.evictions += one.evictions;
    s.expirations += one.expirations;
    s.entries += one.entries;
    s.bytes += one.bytes;
    s.max_bytes += one.max_bytes;
    s.overhead_bytes_per_entry = one.overhead_bytes_per_entry;
    s.write_batches += one.write_batches;
    s.writes_sent += one.writes_sent;
    s.writes_coalesced += one.writes_coalesced;
    for (std::size_t i = 0; i < s.write_errors.by_code.size(); ++i)
      s.write_errors.by_code[i] += one.write_errors.by_code[i];
    s.writes_retried += one.writes_retried;
    s.writes_refused += one.writes_refused;
    s.writes_dropped += one.writes_dropped;
    s.write_queue_depth += one.write_queue_depth;
  }
  return s;
}

std::vector<tiercache::CacheStats> stats_of(const std::vector<tiercache::Cache>& caches) {
  std::vector<tiercache::CacheStats> all;
  for (const tiercache::Cache& cache : caches) all.push_back(cache.stats());
  return all;
}

// L1 misses that asked L2 (each L1 miss a load leader serves).
std::uint64_t l2_lookups(const tiercache::CacheStats& s) {
  return s.l2_hits + s.l2_misses + s.l2_errors.total();
}

// The once-a-second line on stderr, over both instances: ops/s and the L1 and L2 hit ratios over
// the last period; loads, entries, bytes and queued writes as they stand. On a terminal it
// rewrites itself; in a log it appends.
class ProgressLine {
 public:
  ProgressLine(const std::vector<tiercache::Cache>& caches,
               const std::vector<WorkerResults>& workers, Clock::time_point start)
      : caches_(caches),
        workers_(workers),
        start_(start),
        last_time_(start),
        rewrite_(isatty(STDERR_FILENO) == 1) {}

  void print(Clock::time_point now) {
    std::uint64_t ops = 0;
    for (const WorkerResults& w : workers_) ops += w.ops.load(std::memory_order_relaxed);
    const tiercache::CacheStats stats = sum_stats(stats_of(caches_));
    const std::uint64_t hits = stats.l1_hits - last_.l1_hits;
    const std::uint64_t lookups = hits + stats.l1_misses - last_.l1_misses;
    const std::uint64_t l2_hits = stats.l2_hits - last_.l2_hits;
    const std::uint64_t l2_asked = l2_lookups(stats) - l2_lookups(last_);
    std::ostringstream line;
    line << std::fixed << std::setprecision(1) << std::setw(6) << seconds_between(start_, now)
         << " s  " << std::setprecision(0) << std::setw(9)
         << static_cast<double>(ops - last_ops_) / seconds_between(last_time_, now)
         << " ops/s  L1 hit " << format_percent(hits, lookups) << "  L2 hit "
         << format_percent(l2_hits, l2_asked) << "  loads " << stats.loads << "  entries "
         << stats.entries << "  bytes " << format_mib(stats.bytes) << "  write queue "
         << stats.write_queue_depth;
    std::cerr << (rewrite_ ? "\r" : "") << line.str() << (rewrite_ ? "\x1b[K" : "\n") << std::flush;
    last_ = stats;
    last_ops_ = ops;
    last_time_ = now;
  }

  // Leaves the terminal's cursor on a fresh line.
  void finish() {
    if (rewrite_) std::cerr << '\n' << std::flush;
  }

 private:
  const std::vector<tiercache::Cache>& caches_;
  const std::vector<WorkerResults>& workers_;
  Clock::time_point start_;
  Clock::time_point last_time_;
  tiercache::CacheStats last_;
  std::uint64_t last_ops_ = 0;
  bool rewrite_;
};

void print_row(std::string_view label, const std::string& text) {
  std::cout << "  " << std::left << std::setw(14) << label << text << '\n';
}

struct RunTotals {
  std::uint64_t ops = 0;
  std::uint64_t loads_called = 0;
  std::uint64_t sets = 0;
  std::uint64_t purges = 0;
  std::uint64_t wrong_values = 0;
  std::string first_wrong_key;
  LatencyHistogram latency;
  ErrorTally errors;
};

RunTotals merge_results(const std::vector<WorkerResults>& workers) {
  RunTotals totals;
  for (const WorkerResults& w : workers) {
    totals.ops += w.ops.load(std::memory_order_relaxed);
    totals.loads_called += w.loads_called;
    totals.sets += w.sets;
    totals.purges += w.purges;
    if (totals.wrong_values == 0 && w.wrong_values > 0) totals.first_wrong_key = w.first_wrong_key;
    totals.wrong_values += w.wrong_values;
    totals.latency.merge(w.latency);
    totals.errors.merge(w.errors);
  }
  return totals;
}

std::string hit_text(std::uint64_t hits, std::uint64_t misses) {
  return format_percent(hits, hits + misses) + " (" + std::to_string(hits) + " hits, " +
         std::to_string(misses) + " misses)";
}

std::string memory_text(const tiercache::CacheStats& s) {
  const std::size_t all_in_per_entry = s.entries == 0 ? 0 : s.bytes / s.entries;
  return std::to_string(s.entries) + " entries, " + format_mib(s.bytes) + " of " +
         format_mib(s.max_bytes) + "; overhead " + std::to_string(s.overhead_bytes_per_entry) +
         " B/entry, " + std::to_string(all_in_per_entry) + " B/entry all in";
}

// One instance's part of the report.
void report_instance(std::string_view name, unsigned workers, const tiercache::CacheStats& s) {
  std::cout << "instance " << name << " (" << workers << " workers)\n";
  print_row("L1", hit_text(s.l1_hits, s.l1_misses));
  print_row("L2", format_percent(s.l2_hits, l2_lookups(s)) + " (" + std::to_string(s.l2_hits) +
                      " hits, " + std::to_string(s.l2_misses) + " misses, " +
                      std::to_string(s.l2_errors.total()) + " errors)");
  print_row("loads", std::to_string(s.loads) + " loader calls; " + std::to_string(s.coalesced) +
                         " misses waited on another's load; " + std::to_string(s.load_failures) +
                         " failed");
  print_row("writer",
            std::to_string(s.write_batches) + " batches, " + std::to_string(s.writes_sent) +
                " writes sent, " + std::to_string(s.writes_coalesced) + " coalesced, " +
                std::to_string(s.write_errors.total()) + " errors; " +
                std::to_string(s.writes_retried) + " retried, " + std::to_string(s.writes_refused) +
                " refused, " + std::to_string(s.writes_dropped) + " dropped; " +
                std::to_string(s.write_queue_depth) + " queued");
  print_row("evictions",
            std::to_string(s.evictions) + "; expirations " + std::to_string(s.expirations));
  print_row("memory", memory_text(s));
}

// Prints the report; returns whether the run succeeded (see the exit status at the top).
bool report(const RunTotals& totals, const std::vector<tiercache::CacheStats>& instances,
            unsigned threads, std::uint64_t origin_calls, std::string_view redis,
            double run_seconds, std::string_view stopped_by) {
  const tiercache::CacheStats all = sum_stats(instances);
  std::ostringstream text;
  std::cout << "tiercache demo report (" << stopped_by << ")\n";

  text << std::fixed << std::setprecision(2) << run_seconds << " s, " << totals.ops << " ops, "
       << std::setprecision(0) << static_cast<double>(totals.ops) / run_seconds << " ops/s";
  print_row("run", text.str());
  print_row("mix", std::to_string(totals.loads_called) + " get_or_load, " +
                       std::to_string(totals.sets) + " set, " + std::to_string(totals.purges) +
                       " purge");
  print_row("redis", std::string(redis));

  for (std::size_t i = 0; i < instances.size(); ++i)
    report_instance(instance_name(i), workers_of_instance(threads, i), instances[i]);

  std::cout << "all instances\n";
  print_row("L1 hit ratio", hit_text(all.l1_hits, all.l1_misses));
  print_row("L2 hit ratio", format_percent(all.l2_hits, l2_lookups(all)) +
                                " of the L1 misses that asked Redis (" +
                                std::to_string(l2_lookups(all)) + ")");
  print_row("origin loads", std::to_string(all.loads) + " for " + std::to_string(all.l1_misses) +
                                " L1 misses (" + format_percent(all.loads, all.l1_misses) +
                                "): " + std::to_string(all.l2_hits) + " answered by Redis, " +
                                std::to_string(all.coalesced) + " waited on another's load");
  print_row("writer", std::to_string(all.write_batches) + " batches, " +
                          std::to_string(all.writes_sent) + " writes sent, " +
                          std::to_string(all.writes_coalesced) + " coalesced, " +
                          std::to_string(all.write_errors.total()) + " errors");

  std::cout << "get_or_load latency (" << totals.latency.count()
            << " calls, buckets at most 6.25 % high)\n";
  print_row("p50", format_duration(totals.latency.percentile(0.50)));
  print_row("p99", format_duration(totals.latency.percentile(0.99)));
  print_row("max", format_duration(totals.latency.max()));

  bool ok = true;
  std::cout << "errors\n";
  if (totals.errors.seen().empty()) print_row("", "none");
  for (const auto& [key, seen] : totals.errors.seen()) {
    const bool expected = is_context_error(key.second);
    ok = ok && expected;
    print_row(key.first, std::to_string(seen.count) + " x " + key.second.message() +
                             (expected ? " (the request's context ended)" : " (FAILURE)") +
                             "; first: " + seen.first_detail);
  }

  std::cout << "checks\n";
  const auto check = [&ok](std::string_view what, bool held, const std::string& why) {
    ok = ok && held;
    print_row(held ? "ok" : "FAILED", std::string(what) + (held ? "" : ": " + why));
  };
  check("every value returned is the origin's value for its key", totals.wrong_values == 0,
        std::to_string(totals.wrong_values) + " wrong, first for key " + totals.first_wrong_key);
  check("origin calls == CacheStats::loads summed over the instances", origin_calls == all.loads,
        std::to_string(origin_calls) + " origin calls, " + std::to_string(all.loads) + " loads");
  std::string over_budget;
  for (std::size_t i = 0; i < instances.size(); ++i)
    if (instances[i].bytes > instances[i].max_bytes)
      over_budget += " " + instance_name(i) + ": " + std::to_string(instances[i].bytes) + " > " +
                     std::to_string(instances[i].max_bytes) + ";";
  check("bytes <= max_bytes in every instance", over_budget.empty(), over_budget);
  std::cout << (ok ? "result: ok\n" : "result: FAILED\n") << std::flush;
  return ok;
}

// The demo after the environment was read and the stop signals blocked.
int run(const DemoConfig& config, const sigset_t& stop_signals) {
  // Declared before the caches, so it stops the server only after they closed.
  std::optional<test::RedisServer> private_redis;
  std::string redis_url = config.redis_url;
  std::string redis_text;
  if (redis_url.empty()) {
    try {
      // In a process group of its own: a terminal's Ctrl-C reaches only the demo, which still
      // needs Redis for its final flush and stops the server last.
      private_redis.emplace(test::RedisServerOptions{.own_process_group = true});
    } catch (const std::runtime_error& e) {
      std::cerr << "demo: cannot start a private redis-server: " << e.what()
                << " (install it with `make deps`, or set DEMO_REDIS_URL)\n";
      return kExitFailed;
    }
    redis_url = private_redis->url();
    redis_text = "private " + describe(*private_redis) + ", " + redis_url;
  } else {
    redis_text = "DEMO_REDIS_URL " + redacted_url(redis_url);
  }
  std::cout << "tiercache demo: Redis: " << redis_text << "; keys prefixed " << kRedisKeyPrefix
            << '\n'
            << std::flush;

  std::vector<tiercache::Cache> caches;
  for (std::size_t i = 0; i < kInstanceCount; ++i) {
    auto opened = tiercache::Cache::open(demo_options(redis_url));
    if (!opened) {
      const bool bad_url =
          !config.redis_url.empty() && opened.error() == tiercache::errc::invalid_argument;
      std::cerr << "demo: " << (bad_url ? "DEMO_REDIS_URL: " : "cannot open the cache: ")
                << opened.error().code.message() << ": " << opened.error().detail << '\n';
      return bad_url ? kExitUsage : kExitFailed;
    }
    caches.push_back(std::move(*opened));
  }
  // flush() settles only once the writer has reached Redis: a server that is down fails here,
  // in kL2ReadyTimeout, rather than as a run of backend_unavailable.
  for (std::size_t i = 0; i < caches.size(); ++i) {
    const auto ctx = tiercache::Context::background().with_timeout(kL2ReadyTimeout);
    if (const auto reached = caches[i].flush(ctx); !reached) {
      std::cerr << "demo: instance " << instance_name(i) << " cannot reach Redis at "
                << redacted_url(redis_url) << ": " << reached.error().code.message() << ": "
                << reached.error().detail << '\n';
      return kExitFailed;
    }
  }

  std::cout << "tiercache demo: " << config.threads << " threads for " << config.run_time.count()
            << " s (DEMO_THREADS, DEMO_SECONDS; Ctrl-C stops) over " << kInstanceCount
            << " instances sharing that Redis (worker i uses instance i % " << kInstanceCount
            << "); " << kKeyCount << " keys, Zipf " << kZipfExponent << "; " << kSetPercent
            << " % set, " << kPurgePercent
            << " % purge, the rest get_or_load from an origin taking "
            << std::chrono::milliseconds(kOriginLatency).count() << " ms\n"
            << "options (each instance): " << tiercache::to_string(caches.front().options()) << '\n'
            << std::flush;

  const KeySpace keys;
  Origin origin;
  std::vector<WorkerResults> results(config.threads);
  std::vector<std::jthread> workers;
  workers.reserve(config.threads);
  const auto start = Clock::now();
  for (unsigned i = 0; i < config.threads; ++i)
    workers.emplace_back(run_worker, i, std::ref(caches[i % kInstanceCount]), std::cref(keys),
                         std::ref(origin), std::ref(results[i]));

  ProgressLine progress(caches, results, start);
  const auto end = start + config.run_time;
  int signal = 0;
  for (auto tick = start + kProgressPeriod; signal == 0; tick += kProgressPeriod) {
    signal = wait_for_signal(stop_signals, std::min(tick, end));
    if (signal == 0) progress.print(Clock::now());
    if (Clock::now() >= end) break;
  }
  const auto stop_time = Clock::now();
  // In-flight requests end within kRequestTimeout, sooner as their contexts see the stop.
  for (std::jthread& w : workers) w.request_stop();
  for (std::jthread& w : workers) w.join();
  progress.finish();

  RunTotals totals = merge_results(results);
  // Every queued write reaches Redis (or fails) before the counters are read.
  for (tiercache::Cache& cache : caches) {
    if (const auto flushed =
            cache.flush(tiercache::Context::background().with_timeout(kFlushTimeout));
        !flushed)
      totals.errors.add("flush", flushed.error());
  }

  const std::string stopped_by =
      signal == 0 ? "time limit" : std::string("stopped by ") + signal_name(signal);
  const bool ok = report(totals, stats_of(caches), config.threads, origin.calls(), redis_text,
                         seconds_between(start, stop_time), stopped_by);
  return ok ? kExitOk : kExitFailed;
}

}  // namespace

int main() {
  const auto config = config_from_env();
  if (!config) {
    std::cerr << "demo: " << config.error() << '\n';
    return kExitUsage;
  }

  // Blocked before any thread starts (the cache's own included) and before redis-server is
  // forked, so every thread inherits the mask and the signals reach only wait_for_signal(): no
  // handler, nothing async-signal-unsafe, and the private server is stopped on the way out.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  // Caught so that the stack unwinds and the private redis-server is stopped and its dir removed.
  try {
    return run(*config, stop_signals);
  } catch (const std::exception& e) {
    std::cerr << "demo: " << e.what() << '\n';
    return kExitFailed;
  }
}
