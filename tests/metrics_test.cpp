// Counters and latency histograms: exact counts from several threads, buckets and quantiles
// within their stated error, and which calls are timed into which histogram.
#include <algorithm>
#include <atomic>
#include <cmath>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <optional>
#include <random>
#include <thread>
#include <vector>

#include <ucontext.h>

#include "tests/support/redis_cache.hpp"
#include "tests/support/scripted_backend.hpp"
#include "tests/support/test_support.hpp"
#include "tiercache/metrics_endpoint.hpp"

using namespace std::chrono_literals;
using tiercache::Cache;
using tiercache::errc;
using tiercache::Histogram;
using tiercache::Loaded;
using tiercache::Metrics;
using tiercache::Op;
using tiercache::Options;
using tiercache::Result;
using tiercache::Tier;

namespace {

const Histogram& calls(const Metrics& m, Op op, Tier tier) {
  return m.calls[static_cast<std::size_t>(op)][static_cast<std::size_t>(tier)];
}

std::uint64_t all_calls(const Metrics& m) {
  std::uint64_t n = 0;
  for (const auto& by_tier : m.calls)
    for (const Histogram& h : by_tier) n += h.count();
  return n;
}

}  // namespace

TEST_CASE("every bucket holds the values between its bounds and powers of two are bounds",
          "[metrics]") {
  for (std::size_t i = 1; i < Histogram::kBuckets; ++i) {
    const std::uint64_t lo = Histogram::lower_bound(i);
    const std::uint64_t hi = Histogram::upper_bound(i);
    REQUIRE(lo < hi);
    REQUIRE(Histogram::bucket_of(lo + 1) == i);
    REQUIRE(Histogram::bucket_of(hi) == i);
    REQUIRE(Histogram::bucket_of(lo) == i - 1);
    // Narrow enough for the stated error: past the exact buckets, the width is at most 1/16 of
    // the values it holds.
    if (i >= Histogram::kSubBuckets) REQUIRE((hi - lo) * Histogram::kSubBuckets <= lo + 1);
  }
  CHECK(Histogram::bucket_of(0) == 0);
  CHECK(Histogram::bucket_of(1) == 0);
  for (unsigned k = 0; k <= Histogram::kMaxTrackedBits; ++k) {
    const std::uint64_t p = std::uint64_t{1} << k;
    CHECK(Histogram::upper_bound(Histogram::bucket_of(p)) == p);
  }
  // Past the range: the last bucket.
  CHECK(Histogram::bucket_of(Histogram::kMaxTracked * 4) == Histogram::kBuckets - 1);
}

TEST_CASE("a bucket index past the last is harmless: counts none, adds nothing", "[metrics]") {
  // count_in(kBuckets) read past the counts and add_bucket(kBuckets, n) wrote past them.
  Histogram h;
  CHECK(h.count_in(Histogram::kBuckets) == 0);
  h.record(5);
  h.add_bucket(Histogram::kBuckets, 3);
  h.add_bucket(SIZE_MAX, 3);
  CHECK(h.count() == 1);
  CHECK(h.count_in(Histogram::bucket_of(5)) == 1);
  CHECK(h.count_in(Histogram::kBuckets) == 0);
  CHECK(h.count_in(SIZE_MAX) == 0);
  CHECK(h.quantile(1) == 5);
  std::uint64_t total = 0;
  for (std::size_t i = 0; i < Histogram::kBuckets; ++i) total += h.count_in(i);
  CHECK(total == 1);
}

TEST_CASE("known values land in the right buckets and count below powers of two exactly",
          "[metrics]") {
  Histogram h;
  CHECK(h.count() == 0);
  CHECK(h.quantile(0.5) == 0);
  CHECK(h.count_at_most(1'000'000) == 0);
  for (const std::uint64_t v : {31, 32, 33, 64, 65, 1'000'000}) h.record(v);
  CHECK(h.count() == 6);
  CHECK(h.sum() == 31 + 32 + 33 + 64 + 65 + 1'000'000);
  CHECK(h.count_at_most(16) == 0);
  CHECK(h.count_at_most(32) == 2);
  CHECK(h.count_at_most(64) == 4);
  CHECK(h.count_at_most(128) == 5);
  CHECK(h.count_at_most(std::uint64_t{1} << 20) == 6);
  CHECK(h.count_in(Histogram::bucket_of(33)) == 1);
  // A value past the range counts in the last bucket and in the sum as it is.
  Histogram big;
  big.record(Histogram::kMaxTracked * 2);
  CHECK(big.count_in(Histogram::kBuckets - 1) == 1);
  CHECK(big.sum() == Histogram::kMaxTracked * 2);
}

TEST_CASE("quantiles are within the stated relative error and histograms merge exactly",
          "[metrics]") {
  std::mt19937_64 rng(7);
  // Log-uniform over 1 us .. 1 s: every octave of the range.
  std::uniform_real_distribution<double> exponent(3, 9);
  std::vector<std::uint64_t> values;
  Histogram a;
  Histogram b;
  for (int i = 0; i < 20'000; ++i) {
    const auto v = static_cast<std::uint64_t>(std::pow(10.0, exponent(rng)));
    values.push_back(v);
    (i % 2 == 0 ? a : b).record(v);
  }
  Histogram merged;
  merged.merge(a);
  merged.merge(b);
  CHECK(merged.count() == values.size());
  CHECK(merged.sum() == a.sum() + b.sum());
  std::sort(values.begin(), values.end());
  for (const double q : {0.0, 0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0}) {
    const auto rank = std::max<std::size_t>(
        1, static_cast<std::size_t>(std::ceil(q * static_cast<double>(values.size()))));
    const double exact = static_cast<double>(values[rank - 1]);
    const double got = static_cast<double>(merged.quantile(q));
    INFO("q " << q << " exact " << exact << " got " << got);
    CHECK(std::abs(got - exact) <= exact * Histogram::kRelativeError);
  }
}

TEST_CASE("counters match the operations of several threads exactly", "[metrics]") {
  // Room for everything: no eviction.
  Cache cache = test::open_cache({.l1 = {.max_bytes = 64 << 20}});
  constexpr int kThreads = 4;
  constexpr int kKeys = 500;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&cache, t] {
      const auto key = [t](int i) { return "t" + std::to_string(t) + "-" + std::to_string(i); };
      for (int i = 0; i < kKeys; ++i)
        if (!cache.set(test::ctx(), key(i), "v")) std::abort();
      for (int i = 0; i < kKeys; ++i)
        if (cache.get(test::ctx(), key(i)) != "v") std::abort();  // hits
      for (int i = 0; i < kKeys; ++i)
        if (cache.get(test::ctx(), key(i) + "x")) std::abort();  // misses
      for (int i = 0; i < kKeys / 2; ++i)
        if (!cache.purge(test::ctx(), key(i))) std::abort();
    });
  }
  for (auto& t : threads) t.join();
  const tiercache::CacheStats s = cache.stats();
  CHECK(s.sets == kThreads * kKeys);
  CHECK(s.l1_hits == kThreads * kKeys);
  CHECK(s.l1_misses == kThreads * kKeys);
  CHECK(s.purges == kThreads * kKeys / 2);
  CHECK(s.entries == kThreads * kKeys / 2);
  CHECK(s.evictions == 0);
}

TEST_CASE("evictions and entries add up to the values set", "[metrics]") {
  Cache cache =
      test::open_cache({.l1 = {.max_bytes = 1 << 20, .max_value_bytes = 1024, .shards = 1}});
  constexpr int kKeys = 20'000;
  const std::string value(100, 'v');
  for (int i = 0; i < kKeys; ++i) REQUIRE(cache.set(test::ctx(), "k" + std::to_string(i), value));
  const tiercache::CacheStats s = cache.stats();
  CHECK(s.sets == kKeys);
  CHECK(s.evictions > 0);
  CHECK(s.entries + s.evictions == kKeys);
}

TEST_CASE("one load for many callers: the others count as coalesced and wait as L2 callers",
          "[metrics]") {
  Cache cache = test::open_cache({.metrics = {.sample_every = 1}});
  constexpr int kWaiters = 5;
  std::mutex mu;
  std::condition_variable cv;
  bool release = false;
  std::atomic<int> loader_calls{0};
  const tiercache::Loader loader = [&](const tiercache::Context&,
                                       std::string_view) -> Result<Loaded> {
    loader_calls.fetch_add(1);
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return release; });
    return Loaded("v");
  };
  std::vector<std::thread> threads;
  std::atomic<int> answered{0};
  for (int i = 0; i < kWaiters + 1; ++i)
    threads.emplace_back([&] {
      if (cache.get_or_load(test::ctx(), "k", loader) == "v") answered.fetch_add(1);
    });
  test::wait_until(
      5s, [&] { return cache.stats().coalesced == kWaiters; },
      "every other caller waits on the one load");
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  for (auto& t : threads) t.join();
  CHECK(answered.load() == kWaiters + 1);
  CHECK(loader_calls.load() == 1);
  const Metrics m = cache.metrics();
  CHECK(m.stats.loads == 1);
  CHECK(m.stats.coalesced == kWaiters);
  CHECK(m.loads.count() == 1);
  // The leader reached the origin; the others waited on it.
  CHECK(calls(m, Op::get_or_load, Tier::origin).count() == 1);
  CHECK(calls(m, Op::get_or_load, Tier::l2).count() == kWaiters);
  REQUIRE(cache.get_or_load(test::ctx(), "k", loader) == "v");
  CHECK(calls(cache.metrics(), Op::get_or_load, Tier::l1).count() == 1);
}

TEST_CASE("calls answered by L1 are timed about one in sample_every whatever their pattern",
          "[metrics]") {
  constexpr std::uint32_t kEvery = 64;
  constexpr std::uint64_t kCalls = kEvery * 2000;
  Cache cache = test::open_cache({.metrics = {.sample_every = kEvery}});
  REQUIRE(cache.set(test::ctx(), "k", "v"));
  for (std::uint64_t i = 0; i < kCalls; ++i) REQUIRE(cache.get(test::ctx(), "k") == "v");
  // Binomial(128000, 1/64): mean 2000, sd 44; the bound is 6.8 sd.
  const std::uint64_t timed = calls(cache.metrics(), Op::get, Tier::l1).count();
  CHECK(timed >= 1700);
  CHECK(timed <= 2300);
  // A repeating pattern of calls (two caches, or two operations, in turn) gets no fixed phase of
  // the draw: each side is timed about half the time at sample_every 2.
  Cache a = test::open_cache({.metrics = {.sample_every = 2}});
  Cache b = test::open_cache({.metrics = {.sample_every = 2}});
  REQUIRE(a.set(test::ctx(), "k", "v"));
  REQUIRE(b.set(test::ctx(), "k", "v"));
  for (int i = 0; i < 2000; ++i) {
    REQUIRE(a.get(test::ctx(), "k") == "v");
    REQUIRE(b.get(test::ctx(), "k") == "v");
    REQUIRE(a.set(test::ctx(), "j", "w"));
  }
  const Metrics ma = a.metrics();
  const Metrics mb = b.metrics();
  for (const std::uint64_t n :
       {calls(ma, Op::get, Tier::l1).count(), calls(mb, Op::get, Tier::l1).count(),
        calls(ma, Op::set, Tier::l1).count()}) {
    CHECK(n >= 800);  // Binomial(2000, 1/2): sd 22
    CHECK(n <= 1200);
  }
  // A pattern of even length, which a shared 1-in-2 counter would time only one side of; and a
  // cache timed 1 in 4 between them, which draws from the same thread's gaps.
  Cache c = test::open_cache({.metrics = {.sample_every = 2}});
  Cache d = test::open_cache({.metrics = {.sample_every = 2}});
  Cache rare = test::open_cache({.metrics = {.sample_every = 4}});
  for (Cache* x : {&c, &d, &rare}) REQUIRE(x->set(test::ctx(), "k", "v"));
  for (int i = 0; i < 2000; ++i) {
    REQUIRE(c.get(test::ctx(), "k") == "v");
    REQUIRE(rare.get(test::ctx(), "k") == "v");
    REQUIRE(d.get(test::ctx(), "k") == "v");
    REQUIRE(rare.get(test::ctx(), "k") == "v");
  }
  for (const Cache* x : {&c, &d}) {
    const std::uint64_t n = calls(x->metrics(), Op::get, Tier::l1).count();
    CHECK(n >= 800);
    CHECK(n <= 1200);
  }
  const std::uint64_t rare_timed = calls(rare.metrics(), Op::get, Tier::l1).count();
  CHECK(rare_timed >= 850);  // Binomial(4000, 1/4): mean 1000, sd 27
  CHECK(rare_timed <= 1150);
}

TEST_CASE("threads draw apart from their first call", "[metrics]") {
  // Each thread makes one call timed with probability 1/2: threads that all started from one
  // seed would time all of them or none.
  Cache cache = test::open_cache({.metrics = {.sample_every = 2}});
  REQUIRE(cache.set(test::ctx(), "k", "v"));
  const std::uint64_t before = calls(cache.metrics(), Op::get, Tier::l1).count();
  constexpr int kThreads = 256;
  std::atomic<int> wrong{0};
  for (int batch = 0; batch < kThreads / 32; ++batch) {
    std::vector<std::thread> threads;
    for (int t = 0; t < 32; ++t)
      threads.emplace_back([&] {
        if (cache.get(test::ctx(), "k") != "v") wrong.fetch_add(1);
      });
    for (auto& t : threads) t.join();
  }
  CHECK(wrong.load() == 0);
  const std::uint64_t timed = calls(cache.metrics(), Op::get, Tier::l1).count() - before;
  CHECK(timed >= 80);  // Binomial(256, 1/2): mean 128, sd 8
  CHECK(timed <= 176);
}

TEST_CASE("calls that go past L1 are always timed and in the right place", "[metrics]") {
  Cache cache = test::open_cache({.metrics = {.sample_every = 65536}});
  // A loader that takes >= 2 ms.
  const tiercache::Loader slow = [](const tiercache::Context&, std::string_view) -> Result<Loaded> {
    std::this_thread::sleep_for(2ms);
    return Loaded("v");
  };
  for (int i = 0; i < 3; ++i)
    REQUIRE(cache.get_or_load(test::ctx(), "slow" + std::to_string(i), slow) == "v");
  const Metrics after = cache.metrics();
  const Histogram& origin = calls(after, Op::get_or_load, Tier::origin);
  CHECK(origin.count() == 3);
  CHECK(after.loads.count() == 3);
  // Every value at most this one is below 2 ms: none is.
  const std::uint64_t below_2ms = Histogram::lower_bound(Histogram::bucket_of(2'000'000));
  CHECK(below_2ms < 2'000'000);
  CHECK(after.loads.count_at_most(below_2ms) == 0);
  CHECK(origin.count_at_most(below_2ms) == 0);
  CHECK(static_cast<double>(after.loads.quantile(0.5)) >= 2e6 * (1 - Histogram::kRelativeError));
  CHECK(after.loads.sum() >= 3 * 2'000'000);
}

TEST_CASE("hits that leave an early refresh to a refresh thread are L1 hits", "[metrics]") {
  // Declared before the cache: its destructor waits for the refresh, which uses them.
  std::mutex mu;
  std::condition_variable cv;
  bool block = false;
  bool release = false;
  Cache cache = test::open_cache({.default_ttl = 10s,
                                  .refresh_ahead = 20s,
                                  .refresh_threads = 1,
                                  .metrics = {.sample_every = 65536}});
  const tiercache::Loader loader = [&](const tiercache::Context&,
                                       std::string_view) -> Result<Loaded> {
    std::unique_lock lock(mu);
    if (block) cv.wait(lock, [&] { return release; });
    return Loaded("v");
  };
  REQUIRE(cache.get_or_load(test::ctx(), "k", loader) == "v");
  {
    std::lock_guard lock(mu);
    block = true;
  }
  // Every read is inside the refresh window: the first queues the refresh, which blocks on a
  // refresh thread, and the others find it claimed. None of them leaves L1.
  const Metrics before = cache.metrics();
  for (int i = 0; i < 1000; ++i) REQUIRE(cache.get_or_load(test::ctx(), "k", loader) == "v");
  const Metrics after = cache.metrics();
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  CHECK(after.stats.refreshes - before.stats.refreshes == 1);
  for (const Tier t : {Tier::l2, Tier::origin})
    CHECK(calls(after, Op::get_or_load, t).count() == calls(before, Op::get_or_load, t).count());
}

TEST_CASE("a refresh the full refresh queue leaves to its caller reaches the origin", "[metrics]") {
  // Declared before the cache: its destructor waits for the refresh, which uses them.
  std::mutex mu;
  std::condition_variable cv;
  bool block = false;
  bool release = false;
  std::atomic<bool> k0_running{false};
  Cache cache = test::open_cache({.default_ttl = 10s,
                                  .refresh_ahead = 20s,
                                  .refresh_threads = 1,
                                  .metrics = {.sample_every = 65536}});
  const tiercache::Loader loader = [&](const tiercache::Context&,
                                       std::string_view key) -> Result<Loaded> {
    std::unique_lock lock(mu);
    if (block && key == "k0") {
      k0_running = true;
      cv.wait(lock, [&] { return release; });
    }
    return Loaded("v");
  };
  // The refresh thread's one running refresh (k0, held), then a full queue behind it.
  constexpr int kQueued = 1024;  // MissPath's kMaxQueuedRefreshes
  // More keys than that: two keys of a shard that share its refresh bit are not refreshed at
  // once, so some reads claim nothing.
  constexpr int kKeys = 4 * kQueued;
  const auto key = [](int i) { return "k" + std::to_string(i); };
  for (int i = 0; i < kKeys; ++i) REQUIRE(cache.get_or_load(test::ctx(), key(i), loader) == "v");
  {
    std::lock_guard lock(mu);
    block = true;
  }
  REQUIRE(cache.get_or_load(test::ctx(), key(0), loader) == "v");
  test::wait_until(
      5s, [&] { return k0_running.load(); }, "k0's refresh runs on the refresh thread");
  const Metrics before = cache.metrics();
  for (int i = 1; i < kKeys; ++i) REQUIRE(cache.get_or_load(test::ctx(), key(i), loader) == "v");
  const Metrics after = cache.metrics();
  {
    std::lock_guard lock(mu);
    release = true;
  }
  cv.notify_all();
  const std::uint64_t claimed = after.stats.refreshes - before.stats.refreshes;
  REQUIRE(claimed > kQueued);
  // The first kQueued waited in the queue; every one claimed after it was full ran on its
  // caller's thread, which went past L1 to the origin.
  CHECK(calls(after, Op::get_or_load, Tier::origin).count() -
            calls(before, Op::get_or_load, Tier::origin).count() ==
        claimed - kQueued);
  CHECK(calls(after, Op::get_or_load, Tier::l2).count() ==
        calls(before, Op::get_or_load, Tier::l2).count());
}

namespace {

Cache open_with(const Options& options, std::unique_ptr<tiercache::Backend> backend) {
  auto cache = tiercache::CacheTestAccess::open_with(options, std::move(backend));
  if (!cache) FAIL("open: " << cache.error().detail);
  return std::move(*cache);
}

}  // namespace

TEST_CASE("a set that waits for room in the write queue is timed as an L2 call", "[metrics]") {
  auto backend = std::make_unique<test::ScriptedBackend>();
  test::ScriptedBackend& l2 = *backend;
  Cache cache = open_with({.writer = {.when_full = tiercache::QueueFullPolicy::wait,
                                      .queue_max_ops = 2,
                                      .batch_max_ops = 1},
                           .metrics = {.sample_every = 65536}},
                          std::move(backend));
  REQUIRE(cache.set(test::ctx(), "a", "1"));
  REQUIRE(cache.set(test::ctx(), "b", "2"));
  l2.wait_for_batch(0, 5s);
  const auto started = std::chrono::steady_clock::now();
  std::thread answerer([&] {
    std::this_thread::sleep_for(100ms);
    l2.answer(0, {});
  });
  const Result<void> set =
      cache.set(test::ctx(), "c", "3");  // waits for room: for L2 to take a write
  const auto took = std::chrono::steady_clock::now() - started;
  answerer.join();
  REQUIRE(set);
  CHECK(took >= 100ms);
  const Metrics m = cache.metrics();
  const Histogram& waited = calls(m, Op::set, Tier::l2);
  CHECK(waited.count() == 1);
  // The wait is inside the call: no more than the call took (within a bucket).
  CHECK(static_cast<double>(waited.sum()) <=
        static_cast<double>(std::chrono::nanoseconds(took).count()) *
            (1 + Histogram::kRelativeError));
  // One write a batch: b's and c's follow.
  for (std::size_t n = 1; n <= 2; ++n) {
    l2.wait_for_batch(n, 5s);
    l2.answer(n, {});
  }
  CHECK(cache.flush(test::ctx_with_timeout(5s)));
}

namespace {

// An L2 that answers each read with another cache's get_or_load on the caller's thread: that
// cache's loader runs inside this cache's call.
class CacheBackedL2 final : public tiercache::Backend {
 public:
  explicit CacheBackedL2(Cache& inner) : inner_(inner) {}
  void read(std::vector<std::string> keys, ReadDone done) override {
    std::vector<Result<tiercache::BackendValue>> out;
    for (const auto& key : keys) {
      auto v =
          inner_.get_or_load(test::ctx(), key, [](const tiercache::Context&, std::string_view) {
            return Result<Loaded>(Loaded("from origin"));
          });
      if (v) {
        out.push_back(tiercache::BackendValue{*v, tiercache::TtlLeft::never_expires()});
      } else {
        out.push_back(std::unexpected(v.error()));
      }
    }
    done(std::move(out));
  }
  void write(std::span<const tiercache::BackendWrite> writes, WriteDone done) override {
    done(std::vector<Result<void>>(writes.size()));
  }
  bool is_available() const noexcept override { return true; }

 private:
  Cache& inner_;
};

}  // namespace

TEST_CASE("another cache's loader run inside a call does not make it reach the origin",
          "[metrics]") {
  Cache inner = test::open_cache({.metrics = {.sample_every = 65536}});
  Cache outer =
      open_with({.metrics = {.sample_every = 65536}}, std::make_unique<CacheBackedL2>(inner));
  REQUIRE(outer.get(test::ctx(), "k") == "from origin");
  const Metrics m = outer.metrics();
  CHECK(m.stats.loads == 0);
  CHECK(calls(m, Op::get, Tier::origin).count() == 0);
  CHECK(calls(m, Op::get, Tier::l2).count() == 1);
  CHECK(calls(inner.metrics(), Op::get_or_load, Tier::origin).count() == 1);
  // A loader that calls into its own cache for another key: both calls reached the origin.
  Cache self = test::open_cache({.metrics = {.sample_every = 65536}});
  const tiercache::Loader leaf = [](const tiercache::Context&, std::string_view) {
    return Result<Loaded>(Loaded("leaf"));
  };
  const tiercache::Loader branch = [&](const tiercache::Context& c, std::string_view) {
    Result<std::string> v = self.get_or_load(c, "leaf", leaf);
    return v ? Result<Loaded>(Loaded(*v)) : Result<Loaded>(std::unexpected(v.error()));
  };
  REQUIRE(self.get_or_load(test::ctx(), "branch", branch) == "leaf");
  CHECK(calls(self.metrics(), Op::get_or_load, Tier::origin).count() == 2);
}

#if !defined(__SANITIZE_THREAD__)  // TSan follows no swapcontext without fiber annotations
namespace {

// A fiber on its own heap stack: a function run by swapcontext, which may suspend back to the
// thread that resumed it.
class Fiber {
 public:
  explicit Fiber(std::function<void(Fiber&)> body) : body_(std::move(body)), stack_(256 << 10) {
    getcontext(&context_);
    context_.uc_stack.ss_sp = stack_.data();
    context_.uc_stack.ss_size = stack_.size();
    context_.uc_link = &caller_;
    makecontext(&context_, reinterpret_cast<void (*)()>(&Fiber::entry), 1, this);
  }
  // Runs the fiber until it suspends or ends.
  void resume() { swapcontext(&caller_, &context_); }
  void suspend() { swapcontext(&context_, &caller_); }

 private:
  static void entry(Fiber* self) { self->body_(*self); }
  std::function<void(Fiber&)> body_;
  std::vector<char> stack_;
  ucontext_t context_{};
  ucontext_t caller_{};
};

}  // namespace

TEST_CASE("calls suspended inside their loaders may end in any order", "[metrics]") {
  Cache cache = test::open_cache({.metrics = {.sample_every = 65536}});
  std::optional<Result<std::string>> a_got;
  std::optional<Result<std::string>> b_got;
  {
    // Two fibers on this thread, each suspended inside its loader; the first started ends first.
    const auto suspending = [](Fiber& self) {
      return [&self](const tiercache::Context&, std::string_view) {
        self.suspend();
        return Result<Loaded>(Loaded("v"));
      };
    };
    Fiber a([&](Fiber& self) { a_got = cache.get_or_load(test::ctx(), "a", suspending(self)); });
    Fiber b([&](Fiber& self) { b_got = cache.get_or_load(test::ctx(), "b", suspending(self)); });
    a.resume();
    b.resume();
    a.resume();
    b.resume();
  }  // their stacks are gone: nothing on this thread may still point into them
  REQUIRE(a_got.has_value());
  REQUIRE(b_got.has_value());
  CHECK(*a_got == "v");
  CHECK(*b_got == "v");
  // A cache timing nothing runs a loader: it looks for its call among this thread's timed ones.
  Cache untimed = test::open_cache({.metrics = {.latencies = false}});
  REQUIRE(untimed.get_or_load(test::ctx(), "c", [](const tiercache::Context&, std::string_view) {
    return Result<Loaded>(Loaded("w"));
  }) == "w");
  const Metrics m = cache.metrics();
  CHECK(calls(m, Op::get_or_load, Tier::origin).count() +
            calls(m, Op::get_or_load, Tier::l2).count() ==
        2);
  CHECK(calls(m, Op::get_or_load, Tier::origin).count() >= 1);  // a's, which ended in order
  // And this thread times calls as before.
  REQUIRE(cache.get_or_load(test::ctx(), "d", [](const tiercache::Context&, std::string_view) {
    return Result<Loaded>(Loaded("x"));
  }) == "x");
  CHECK(calls(cache.metrics(), Op::get_or_load, Tier::origin).count() ==
        calls(m, Op::get_or_load, Tier::origin).count() + 1);
}
#endif

TEST_CASE("reads L2 refuses at once for being down are not round trips", "[metrics]") {
  auto backend = std::make_unique<test::ScriptedBackend>();
  backend->set_available(false);
  Cache cache = open_with({.metrics = {.sample_every = 65536}}, std::move(backend));
  for (int i = 0; i < 10; ++i) REQUIRE(!cache.get(test::ctx(), "k" + std::to_string(i)));
  const Metrics m = cache.metrics();
  CHECK(m.l2_reads.count() == 0);
  CHECK(m.stats.l2_errors[errc::backend_unavailable] == 10);
  CHECK(calls(m, Op::get, Tier::l2).count() == 10);
}

TEST_CASE("a read sent while L2 was up is a round trip even if it answers unavailable",
          "[metrics]") {
  auto backend = std::make_unique<test::ScriptedBackend>();
  test::ScriptedBackend& l2 = *backend;
  l2.hold_reads(true);
  Cache cache = open_with({.metrics = {.sample_every = 65536}}, std::move(backend));
  std::optional<Result<std::string>> got;
  std::thread reader([&] { got = cache.get(test::ctx_with_timeout(5s), "k"); });
  l2.wait_for_read(0, 5s);
  // The connection is lost with the read on its way: every key answers unavailable.
  l2.answer_read(0, {tiercache::fail(errc::backend_unavailable, "connection lost")});
  reader.join();
  REQUIRE(got.has_value());
  CHECK(got->error() == errc::backend_unavailable);
  CHECK(cache.metrics().l2_reads.count() == 1);
}

TEST_CASE("a write batch L2 never answers is timed when batch_timeout settles it", "[metrics]") {
  auto backend = std::make_unique<test::ScriptedBackend>();
  test::ScriptedBackend& l2 = *backend;
  constexpr auto kBatchTimeout = 100ms;
  Cache cache =
      open_with({.writer = {.batch_timeout = kBatchTimeout}, .metrics = {.sample_every = 65536}},
                std::move(backend));
  REQUIRE(cache.set(test::ctx(), "k", "v"));
  l2.wait_for_batch(0, 5s);
  // Never answered: after batch_timeout it is in doubt and goes again, as batch 1.
  l2.wait_for_batch(1, 5s);
  l2.answer(1, {});
  REQUIRE(cache.flush(test::ctx_with_timeout(5s)));
  const Metrics m = cache.metrics();
  const std::uint64_t below_timeout =
      Histogram::lower_bound(Histogram::bucket_of(std::chrono::nanoseconds(kBatchTimeout).count()));
  CHECK(m.write_batches.count() == 2);
  CHECK(m.write_batches.count() - m.write_batches.count_at_most(below_timeout) >= 1);
  CHECK(m.write_batch_sizes.count() == 2);
}

TEST_CASE("closing is not a timed call", "[metrics]") {
  Cache cache = test::open_cache({.metrics = {.sample_every = 1}});
  REQUIRE(cache.set(test::ctx(), "k", "v"));
  const std::uint64_t before = all_calls(cache.metrics());
  CHECK(before == 1);
  REQUIRE(cache.close(test::ctx_with_timeout(5s)));
  CHECK(all_calls(cache.metrics()) == before);
}

TEST_CASE("writes L2 refuses for good count by their code", "[metrics]") {
  auto backend = std::make_unique<test::ScriptedBackend>();
  test::ScriptedBackend& l2 = *backend;
  Cache cache = open_with({.metrics = {.sample_every = 65536}}, std::move(backend));
  REQUIRE(cache.set(test::ctx(), "k", "v"));
  l2.wait_for_batch(0, 5s);
  l2.answer(0, tiercache::fail(errc::backend_error, "WRONGTYPE"));
  REQUIRE(cache.flush(test::ctx_with_timeout(5s)));
  const Metrics m = cache.metrics();
  CHECK(m.stats.write_errors.total() == 1);
  CHECK(m.stats.write_errors[errc::backend_error] == 1);
  CHECK(m.write_batches.count() == 1);
  CHECK(m.write_batch_sizes.sum() == 1);
}

namespace {

// An endpoint that records what the cache does with it.
class RecordingEndpoint final : public tiercache::MetricsEndpoint {
 public:
  explicit RecordingEndpoint(bool refuse) : refuse_(refuse) {}
  Result<void> attach(Source source) override {
    if (refuse_) return tiercache::fail(errc::invalid_argument, "endpoint: refused");
    std::lock_guard lock(mu_);
    source_ = std::move(source);
    return {};
  }
  void detach() noexcept override {
    std::lock_guard lock(mu_);
    source_ = nullptr;
    ++detached;
  }
  std::optional<Metrics> scrape() {
    std::lock_guard lock(mu_);
    if (!source_) return std::nullopt;
    return source_();
  }
  int detached = 0;

 private:
  const bool refuse_;
  std::mutex mu_;
  Source source_;
};

}  // namespace

TEST_CASE("the endpoint is attached at open and detached before the cache goes", "[metrics]") {
  auto endpoint = std::make_shared<RecordingEndpoint>(false);
  {
    Cache cache = test::open_cache({.metrics = {.endpoint = endpoint}});
    REQUIRE(cache.set(test::ctx(), "k", "v"));
    const std::optional<Metrics> scraped = endpoint->scrape();
    REQUIRE(scraped.has_value());
    CHECK(scraped->stats.sets == 1);
    CHECK(endpoint->detached == 0);
  }
  CHECK(endpoint->detached == 1);
  CHECK(!endpoint->scrape().has_value());
  // An endpoint that refuses fails the open with its error.
  auto refusing = std::make_shared<RecordingEndpoint>(true);
  auto refused = Cache::open({.metrics = {.endpoint = refusing}});
  REQUIRE(!refused);
  CHECK(refused.error() == errc::invalid_argument);
  CHECK(refusing->detached == 0);
}

TEST_CASE("threads past the owned stripes share one and lose no count", "[metrics]") {
  Cache cache = test::open_cache({.metrics = {.sample_every = 1}});
  REQUIRE(cache.set(test::ctx(), "k", "v"));
  constexpr int kThreads = 80;  // more than engine::kOwnedStripes (64) live at once
  constexpr int kGets = 200;
  std::atomic<int> ready{0};
  std::atomic<int> done{0};
  std::atomic<int> wrong{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&] {
      // Each takes its stripe (the first call does) while all are alive, and none leaves
      // before all are done, so no thread reuses a stripe another gave back.
      if (cache.get(test::ctx(), "k") != "v") wrong.fetch_add(1);
      ready.fetch_add(1);
      while (ready.load() < kThreads) std::this_thread::yield();
      for (int i = 1; i < kGets; ++i)
        if (cache.get(test::ctx(), "k") != "v") wrong.fetch_add(1);
      done.fetch_add(1);
      while (done.load() < kThreads) std::this_thread::yield();
    });
  for (auto& t : threads) t.join();
  CHECK(wrong.load() == 0);
  const Metrics m = cache.metrics();
  CHECK(m.stats.l1_hits == kThreads * kGets);
  CHECK(calls(m, Op::get, Tier::l1).count() == kThreads * kGets);
}

TEST_CASE("latencies off: no histogram counts, every counter does", "[metrics]") {
  Cache cache = test::open_cache({.metrics = {.latencies = false, .sample_every = 1}});
  REQUIRE(cache.set(test::ctx(), "k", "v"));
  REQUIRE(cache.get(test::ctx(), "k") == "v");
  REQUIRE(cache.get_or_load(test::ctx(), "j", [](const tiercache::Context&, std::string_view) {
    return Result<Loaded>(Loaded("w"));
  }) == "w");
  const Metrics m = cache.metrics();
  CHECK(all_calls(m) == 0);
  CHECK(m.loads.count() == 0);
  CHECK(m.stats.sets == 1);
  CHECK(m.stats.l1_hits == 1);
  CHECK(m.stats.loads == 1);
}

TEST_CASE("sample_every must be a power of two up to 65536", "[metrics]") {
  for (const std::uint32_t bad : {0u, 3u, 100u, 131072u}) {
    auto cache = Cache::open({.metrics = {.sample_every = bad}});
    REQUIRE(!cache);
    CHECK(cache.error() == errc::invalid_argument);
    CHECK(cache.error().detail.find("sample_every") != std::string::npos);
  }
  CHECK(Cache::open({.metrics = {.sample_every = 1}}));
  CHECK(Cache::open({.metrics = {.sample_every = 65536}}));
}

TEST_CASE("with Redis every L2 read, write batch and miss is timed", "[metrics][redis]") {
  test::RedisServer redis;
  // Sampled so rarely that only calls past L1 are timed here.
  Cache cache = test::open_cache(redis, {.metrics = {.sample_every = 65536}});
  constexpr int kKeys = 50;
  for (int i = 0; i < kKeys; ++i) REQUIRE(cache.set(test::ctx(), "k" + std::to_string(i), "v"));
  REQUIRE(cache.flush(test::ctx()));
  Cache other = test::open_cache(redis, {.metrics = {.sample_every = 65536}});
  for (int i = 0; i < kKeys; ++i) REQUIRE(other.get(test::ctx(), "k" + std::to_string(i)) == "v");
  REQUIRE(other.get(test::ctx(), "absent").error() == errc::not_found);
  const Metrics read_side = other.metrics();
  CHECK(read_side.stats.l2_hits == kKeys);
  CHECK(read_side.stats.l2_misses == 1);
  CHECK(read_side.l2_reads.count() == kKeys + 1);
  CHECK(calls(read_side, Op::get, Tier::l2).count() == kKeys + 1);
  CHECK(read_side.l2_reads.quantile(0.5) > 0);

  const Metrics write_side = cache.metrics();
  CHECK(write_side.write_batches.count() == write_side.stats.write_batches);
  CHECK(write_side.write_batch_sizes.count() == write_side.stats.write_batches);
  CHECK(write_side.write_batch_sizes.sum() == write_side.stats.writes_sent);
  CHECK(write_side.stats.writes_sent + write_side.stats.writes_coalesced == kKeys);
  CHECK(calls(write_side, Op::flush, Tier::l2).count() == 1);
}

TEST_CASE("L2 read errors count by their code", "[metrics][redis]") {
  test::RedisServer redis;
  Cache cache = test::open_cache(redis, {.when_l2_down = tiercache::L2DownPolicy::fail});
  redis.kill();
  test::wait_until(
      5s, [&] { return !cache.stats().l2_available; }, "the loss is seen");
  REQUIRE(!cache.get(test::ctx(), "k"));
  const tiercache::CacheStats s = cache.stats();
  CHECK(s.l2_errors.total() == 1);
  CHECK(s.l2_errors[errc::backend_unavailable] == 1);
}

TEST_CASE("writes dropped or refused for room are counted and add up", "[metrics][redis]") {
  test::RedisServer redis;
  Cache cache =
      test::open_cache(redis, {.writer = {.when_full = tiercache::QueueFullPolicy::drop_oldest,
                                          .queue_max_ops = 4,
                                          .batch_max_ops = 1}});
  redis.kill();
  constexpr int kSets = 20;
  for (int i = 0; i < kSets; ++i) REQUIRE(cache.set(test::ctx(), "k" + std::to_string(i), "v"));
  const tiercache::CacheStats s = cache.stats();
  CHECK(s.sets == kSets);
  CHECK(s.writes_dropped > 0);
  // Every accepted write is still waiting, was dropped, or failed for good: none got lost.
  CHECK(s.writes_dropped + s.write_queue_depth + s.write_errors.total() == kSets);
}

TEST_CASE("metrics can be read while threads record", "[metrics][stress]") {
  Cache cache = test::open_cache({.metrics = {.sample_every = 1}});
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; !stop.load(std::memory_order_relaxed); ++i) {
        const std::string key = std::to_string((i * 7 + t) % 100);
        if (i % 4 == 0) {
          (void)cache.set(test::ctx(), key, "v");
        } else {
          (void)cache.get(test::ctx(), key);
        }
      }
    });
  std::uint64_t last = 0;
  bool shrank = false;
  // Until the threads did real work, however slow the machine (TSan), within a bound: the
  // snapshots raced them.
  const auto give_up = std::chrono::steady_clock::now() + 60s;
  for (int i = 0; (i < 200 || last < 20'000) && std::chrono::steady_clock::now() < give_up; ++i) {
    const std::uint64_t now = all_calls(cache.metrics());
    if (now < last) shrank = true;  // counts only grow
    last = now;
  }
  stop.store(true);
  for (auto& t : threads) t.join();
  CHECK(!shrank);
  CHECK(last >= 20'000);
  const Metrics m = cache.metrics();
  CHECK(all_calls(m) == m.stats.sets + m.stats.l1_hits + m.stats.l1_misses);
}
