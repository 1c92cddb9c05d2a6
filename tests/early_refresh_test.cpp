// Early refresh (XFetch, Options.early_refresh_beta): a value read steadily is reloaded before it
// expires by the one caller that draws it, while every other caller keeps the current value; a
// set, purge or eviction during the refresh wins over it; a caller that comes after the value
// expired waits for the refresh instead of loading again; a failed refresh keeps the old value.
//
// The cache's clock is held (test::HeldClock) wherever a TTL or a refresh window matters: time
// passes when a test moves it, so that no value expires early on a slow or loaded machine, and
// every wait has a bound, so that a test that breaks fails instead of hanging.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/api/cache_test_access.hpp"
#include "tests/support/held_clock.hpp"
#include "tests/support/redis_cache.hpp"

using tiercache::Cache;
using tiercache::Context;
using tiercache::errc;
using tiercache::Loaded;
using tiercache::Result;
using namespace std::chrono_literals;

namespace {

// How long a test's load takes, in real time: the load time the entry keeps, from which XFetch
// sizes its refresh window (the clock a test holds does not measure it).
constexpr auto kLoadTime = 20ms;
// A held origin gives up after this long, so that a test that never opens it fails, not hangs.
constexpr auto kHoldLimit = 20s;
// Bound on any wait for another thread: far above what it takes on a loaded machine under TSan.
constexpr auto kWaitLimit = 10s;
// Reads a test makes at most to draw a refresh that is due: where the tests read, each draws it
// 4 times in 5 (eager_cache()), so missing it this many times in a row means the draw is broken.
constexpr int kMaxDrawReads = 10'000;

// Which of a shard's 64 "a refresh is on" bits a key takes in `cache` (ShardTable::refresh_bit:
// hash bits 20-25; the hash's seed is the cache's own). Keys sharing one refresh one at a time.
std::uint64_t refresh_bit_of(const Cache& cache, std::string_view key) {
  return (tiercache::CacheTestAccess::hash_of(cache, key) >> 20) & 63;
}

// `n` keys "k0", "k1", ... of which no two share a refresh bit in `cache`.
std::vector<std::string> keys_of_distinct_refresh_bits(const Cache& cache, std::size_t n) {
  std::vector<std::string> keys;
  std::uint64_t taken = 0;
  for (int i = 0; keys.size() < n; ++i) {
    std::string k = "k" + std::to_string(i);
    const std::uint64_t bit = std::uint64_t{1} << refresh_bit_of(cache, k);
    if ((taken & bit) == 0) {
      taken |= bit;
      keys.push_back(std::move(k));
    }
  }
  return keys;
}

// A loader whose calls after the first block until released, so a test holds a refresh open.
struct GatedOrigin {
  std::atomic<int> calls{0};
  std::atomic<int> returned{0};  // calls that have answered
  std::atomic<bool> open{true};
  std::atomic<bool> fail{false};

  tiercache::Loader loader() {
    return [this](const Context&, std::string_view) -> Result<Loaded> {
      Result<Loaded> answer = load(++calls);
      ++returned;
      return answer;
    };
  }

 private:
  Result<Loaded> load(int n) {
    std::this_thread::sleep_for(kLoadTime);
    const auto deadline = std::chrono::steady_clock::now() + kHoldLimit;
    while (!open.load()) {
      if (std::chrono::steady_clock::now() >= deadline)
        return tiercache::fail(errc::timeout, "the test never opened the origin");
      std::this_thread::sleep_for(100us);
    }
    if (fail.load()) return tiercache::fail(errc::backend_error, "origin down");
    return Loaded("v" + std::to_string(n));
  }
};

// The TTL of eager_cache(), and how long before expiry its tests read to draw a refresh.
constexpr auto kTtl = 300ms;
constexpr auto kLeft = 10ms;

// A cache whose reads of a value loaded in ~20 ms draw its refresh from 136 ms before expiry
// (beta 16 with the lead bounded by half the TTL: a load-time code of 7, 2.8 ms), and 10 ms
// before it with a chance of 80 %.
Cache eager_cache(std::size_t max_entries = 0, std::size_t refresh_threads = 0) {
  return test::open_cache({.l1 = {.max_entries = max_entries, .shards = 1},
                           .default_ttl = kTtl,
                           .early_refresh_beta = 16,
                           .refresh_threads = refresh_threads});
}

// Reads `key` with get_or_load until a read draws a refresh (stats().refreshes passes `before`),
// at most kMaxDrawReads times; whether one did. Each read must answer `expected`.
bool read_until_refresh(Cache& cache, const std::string& key, const tiercache::Loader& loader,
                        std::uint64_t before, const std::string& expected) {
  for (int i = 0; i < kMaxDrawReads && cache.stats().refreshes == before; ++i)
    REQUIRE(cache.get_or_load(test::ctx(), key, loader) == expected);
  return cache.stats().refreshes > before;
}

// Loads "k", moves the clock to kLeft before its expiry and reads until a get_or_load draws the
// refresh; the origin is held shut, so that refresh stays open. Returns the drawing thread,
// which holds the refresh.
std::jthread start_refresh(Cache& cache, test::HeldClock& clock, GatedOrigin& origin,
                           Result<std::string>& refreshed) {
  REQUIRE(cache.get_or_load(test::ctx(), "k", origin.loader()) == "v1");
  origin.open = false;
  clock.advance(kTtl - kLeft);
  std::jthread refresher([&] {
    for (int i = 0; i < kMaxDrawReads && cache.stats().refreshes == 0; ++i) {
      auto r = cache.get_or_load(test::ctx(), "k", origin.loader());
      if (cache.stats().refreshes != 0) {
        refreshed = std::move(r);
        return;
      }
    }
  });
  test::wait_until(
      kWaitLimit, [&] { return origin.calls == 2; }, "a read draws the refresh");
  return refresher;
}

// A steady-read test moves the held clock by kStep for each kReadsPerStep reads.
constexpr auto kStep = 2ms;
constexpr int kReadsPerStep = 32;
// Real time a steady-read test may take at most, however slow the machine.
constexpr auto kSteadyRunLimit = 60s;

// The loads of a steady-read test, which answer "v1", "v2", ...: each takes kLoadTime of real
// time (for the load time the entry keeps) and as much of the held clock's, moved before the
// value is cached, so that it lands kLoadTime after the read that drew it. Counts the loads
// running, those that returned and the newest value a read saw.
struct TimedLoad {
  test::HeldClock& clock;
  std::atomic<int> loading{0};
  std::atomic<std::uint64_t> produced{0};
  std::atomic<std::uint64_t> done{0};
  std::atomic<std::uint64_t> seen{0};

  Result<Loaded> run() {
    ++loading;
    std::this_thread::sleep_for(kLoadTime);
    const std::uint64_t n = ++produced;
    clock.advance(kLoadTime);
    ++done;
    --loading;
    return Loaded("v" + std::to_string(n));
  }
  // Notes the value a read answered.
  void saw(const Result<std::string>& r) {
    if (!r || r->size() < 2 || r->front() != 'v') return;
    const std::uint64_t n = std::stoull(r->substr(1));
    std::uint64_t old = seen.load();
    while (old < n && !seen.compare_exchange_weak(old, n)) {
    }
  }
};

// `threads` threads call `read` (which returns what get_or_load answered) over and over while
// the held clock moves kStep per kReadsPerStep reads, until `span` of cache time has passed.
// The clock moves only with no read in flight, no refresh drawn (stats().refreshes) whose load
// has not returned, no load running and the newest value loaded read back, but for the
// loader's own move: however slow the machine, and however long a refresh waits for a refresh
// thread, a load takes kLoadTime of cache time and each step of it sees the same reads. Fails
// if the span takes longer than kSteadyRunLimit.
template <class Read>
void read_steadily(Cache& cache, test::HeldClock& clock, TimedLoad& load, int threads,
                   std::chrono::milliseconds span, Read read) {
  const auto deadline = std::chrono::steady_clock::now() + kSteadyRunLimit;
  const std::chrono::milliseconds end = clock.advanced() + span;
  // Loads that returned less refreshes drawn: lower while a drawn refresh has not returned.
  const auto settled = [&] {
    return static_cast<std::int64_t>(load.done.load()) -
           static_cast<std::int64_t>(cache.stats().refreshes);
  };
  const std::int64_t settled_at_start = settled();
  const auto idle = [&] {
    return load.loading.load() == 0 && load.seen.load() >= load.produced.load() &&
           settled() >= settled_at_start;
  };
  const auto over = [&] {
    return clock.advanced() >= end || std::chrono::steady_clock::now() >= deadline;
  };
  // A reader moves the clock after closing the gate to new reads and seeing those in flight
  // end (seq_cst both: a reader counts itself in, then looks at the gate; the mover closes the
  // gate, then looks at the count, so one of them sees the other).
  std::atomic<int> in_read{0};
  std::atomic<bool> gate_closed{false};
  std::mutex moving;
  std::atomic<std::uint64_t> reads{0};
  {
    std::vector<std::jthread> readers;
    for (int t = 0; t < threads; ++t)
      readers.emplace_back([&] {
        while (!over()) {
          ++in_read;
          if (gate_closed.load()) {
            --in_read;
            std::this_thread::yield();
            continue;
          }
          load.saw(read());
          --in_read;
          if (++reads % kReadsPerStep != 0 || !idle()) continue;
          std::unique_lock lock(moving, std::try_to_lock);
          if (!lock) continue;
          gate_closed = true;
          while (in_read.load() != 0 && std::chrono::steady_clock::now() < deadline)
            std::this_thread::yield();
          if (in_read.load() == 0 && idle()) clock.advance(kStep);
          gate_closed = false;
        }
      });
  }
  INFO("reads " << reads.load());
  REQUIRE(clock.advanced() >= end);
}

}  // namespace

TEST_CASE("a key read steadily is refreshed before it expires", "[refresh]") {
  constexpr int kThreads = 16;
  constexpr auto kRun = 3000ms;
  test::HeldClock clock;
  // A 20 ms load (code for 19 ms) and beta 2: refreshes start at most 3 * 2 * 19 = 114 ms
  // before expiry (150, half the TTL, if the load took longer), which leaves the refresher
  // ~90 ms to land.
  Cache cache = test::open_cache({.default_ttl = kTtl, .early_refresh_beta = 2});
  TimedLoad load{clock};
  const tiercache::Loader loader = [&](const Context&, std::string_view) -> Result<Loaded> {
    return load.run();
  };
  REQUIRE(cache.get_or_load(test::ctx(), "hot", loader) == "v1");
  const tiercache::CacheStats before = cache.stats();
  std::atomic<int> failures{0};
  read_steadily(cache, clock, load, kThreads, kRun, [&] {
    Result<std::string> r = cache.get_or_load(test::ctx(), "hot", loader);
    if (!r) ++failures;
    return r;
  });
  const tiercache::CacheStats s = cache.stats();
  INFO("loads " << s.loads << " refreshes " << s.refreshes << " coalesced " << s.coalesced
                << " misses " << s.l1_misses - before.l1_misses);
  CHECK(failures == 0);
  // A value lives the TTL plus the 20 ms of its load less the lead its refresh was drawn at, no
  // more than 150 ms (half the TTL) and, if it never expired, no less than 20 ms: a refresh per
  // 170-300 ms, so 10-17 in 3 s.
  CHECK(s.refreshes >= 9);
  CHECK(s.loads <= 19);
  // Only the refresher waited for a load: the value never expired under the other callers.
  CHECK(s.coalesced == 0);
}

TEST_CASE("a set, a same-size set, a purge or an eviction during a refresh wins over it",
          "[refresh]") {
  const std::string what = GENERATE("set", "same-size set", "purge", "eviction");
  CAPTURE(what);
  test::HeldClock clock;
  Cache cache = eager_cache(what == "eviction" ? 2 : 0);
  GatedOrigin origin;
  Result<std::string> refreshed;
  std::jthread refresher = start_refresh(cache, clock, origin, refreshed);
  if (what == "set") REQUIRE(cache.set(test::ctx(), "k", "newer value"));
  if (what == "same-size set") REQUIRE(cache.set(test::ctx(), "k", "vX"));  // rewritten in place
  if (what == "purge") REQUIRE(cache.purge(test::ctx(), "k"));
  if (what == "eviction") {
    // Keys set often enough that the sketch ranks them over "k", until "k" is out.
    for (int i = 0; i < 1000 && cache.get(test::ctx(), "k").has_value(); ++i)
      for (int j = 0; j < 10; ++j)
        REQUIRE(cache.set(test::ctx(), "other" + std::to_string(i), "o"));
    REQUIRE(cache.get(test::ctx(), "k").error() == errc::not_found);
  }
  origin.open = true;
  refresher.join();
  // The refresher gets what it loaded; L1 keeps what came after the refresh began.
  CHECK(refreshed == "v2");
  if (what == "set") CHECK(cache.get(test::ctx(), "k") == "newer value");
  if (what == "same-size set") CHECK(cache.get(test::ctx(), "k") == "vX");
  if (what == "purge") CHECK(cache.get(test::ctx(), "k").error() == errc::not_found);
  if (what == "eviction") {
    // Evicted is not changed: the refreshed value goes back in.
    CHECK(cache.get(test::ctx(), "k") == "v2");
  }
  CHECK(test::invariants_hold(cache));
}

TEST_CASE("a caller after the value expired waits for the running refresh", "[refresh]") {
  test::HeldClock clock;
  Cache cache = eager_cache();
  GatedOrigin origin;
  Result<std::string> refreshed;
  std::jthread refresher = start_refresh(cache, clock, origin, refreshed);
  // The value expires while its refresh is held.
  clock.advance(kLeft);
  REQUIRE(cache.get(test::ctx(), "k").error() == errc::not_found);
  Result<std::string> late;
  std::jthread waiter([&] { late = cache.get_or_load(test::ctx(), "k", origin.loader()); });
  test::wait_until(
      kWaitLimit, [&] { return cache.stats().coalesced == 1; }, "the late caller waits");
  origin.open = true;
  refresher.join();
  waiter.join();
  CHECK(refreshed == "v2");
  CHECK(late == "v2");
  CHECK(origin.calls == 2);
  CHECK(cache.get(test::ctx(), "k") == "v2");
}

TEST_CASE("a failed refresh keeps the old value until it expires", "[refresh]") {
  test::HeldClock clock;
  Cache cache = eager_cache();
  GatedOrigin origin;
  Result<std::string> refreshed;
  std::jthread refresher = start_refresh(cache, clock, origin, refreshed);
  origin.fail = true;
  origin.open = true;
  refresher.join();
  CHECK(refreshed == "v1");
  CHECK(cache.stats().refresh_failures == 1);
  CHECK(cache.get(test::ctx(), "k") == "v1");
  // Not tried again on every read while the value lasts: a down origin is asked once.
  for (int i = 0; i < 1000; ++i)
    REQUIRE(cache.get_or_load(test::ctx(), "k", origin.loader()) == "v1");
  CHECK(origin.calls == 2);
  // After it expires, the next caller loads (and fails, the origin being down).
  clock.advance(kLeft);
  REQUIRE(cache.get(test::ctx(), "k").error() == errc::not_found);
  CHECK(cache.get_or_load(test::ctx(), "k", origin.loader()).error() == errc::backend_error);
}

TEST_CASE("a failed refresh does not stop the refreshes of other keys", "[refresh][swr]") {
  // A failed refresh's record stays until its value changes (so a down origin is not asked on
  // every read). It held its share of the hashes' lock-free "a refresh is on" bits, and so kept
  // every other key sharing that bit (1/64 of the shard's) from being refreshed: they expired
  // under steady reads, or were served stale through their whole grace.
  const std::string a = "a";
  for (const bool stale_while_revalidate : {false, true}) {
    INFO((stale_while_revalidate ? "stale-while-revalidate" : "refresh-ahead"));
    test::HeldClock clock;
    tiercache::Options options{.l1 = {.shards = 1}, .default_ttl = 300ms};
    if (stale_while_revalidate)
      options.stale_while_revalidate = 1s;
    else
      options.refresh_ahead = 100ms;
    Cache cache = test::open_cache(options);
    std::string b;  // a key that shares a's refresh bit
    for (int i = 0; b.empty(); ++i)
      if (const std::string k = "k" + std::to_string(i);
          refresh_bit_of(cache, k) == refresh_bit_of(cache, a))
        b = k;
    std::atomic<bool> a_fails{false};
    std::atomic<int> b_loads{0};
    const tiercache::Loader load_a = [&](const Context&, std::string_view) -> Result<Loaded> {
      std::this_thread::sleep_for(2ms);  // a load time: a stale value may be served
      if (a_fails) return tiercache::fail(errc::backend_error, "a's origin is down");
      return Loaded("a1");
    };
    const tiercache::Loader load_b = [&](const Context&, std::string_view) -> Result<Loaded> {
      std::this_thread::sleep_for(2ms);
      return Loaded("b" + std::to_string(++b_loads));
    };
    REQUIRE(cache.get_or_load(test::ctx(), a, load_a) == "a1");
    REQUIRE(cache.get_or_load(test::ctx(), b, load_b) == "b1");
    // Both due: within the refresh-ahead window, or expired within their grace.
    clock.advance(stale_while_revalidate ? 310ms : 250ms);
    a_fails = true;
    CHECK(cache.get_or_load(test::ctx(), a, load_a) == "a1");
    REQUIRE(cache.stats().refresh_failures == 1);
    // b has nothing to do with a: its first read inside the window refreshes it (on this thread:
    // no refresh threads).
    CHECK(cache.get_or_load(test::ctx(), b, load_b) == "b2");
    CHECK(b_loads == 2);
    CHECK(cache.stats().refreshes == 2);
  }
}

TEST_CASE("a same-size set of a loaded value is not refreshed early", "[refresh]") {
  test::HeldClock clock;
  Cache cache = eager_cache();
  GatedOrigin origin;
  REQUIRE(cache.get_or_load(test::ctx(), "k", origin.loader()) == "v1");
  REQUIRE(cache.set(test::ctx(), "k", "vX", kTtl));  // the same size as "v1"
  // Where a read of the loaded value would draw its refresh 4 times in 5.
  clock.advance(kTtl - kLeft);
  for (int i = 0; i < 2000; ++i)
    REQUIRE(cache.get_or_load(test::ctx(), "k", origin.loader()) == "vX");
  CHECK(cache.stats().refreshes == 0);
  CHECK(origin.calls == 1);
}

TEST_CASE("a TTL of a few load times does not make loads run back to back", "[refresh]") {
  test::HeldClock clock;
  // Without a bound the lead (3 x 20 ms x beta 4) would reach past the whole 100 ms TTL.
  Cache cache = test::open_cache({.default_ttl = 100ms, .early_refresh_beta = 4});
  TimedLoad load{clock};
  const tiercache::Loader loader = [&](const Context&, std::string_view) -> Result<Loaded> {
    return load.run();
  };
  REQUIRE(cache.get_or_load(test::ctx(), "k", loader) == "v1");
  read_steadily(cache, clock, load, 4, 1000ms,
                [&] { return cache.get_or_load(test::ctx(), "k", loader); });
  // A refresh at most half a TTL early: a value lives at least 100 + 20 - 50 = 70 ms, so 15
  // loads in a second at most (back to back, 20 ms each, would be 50).
  INFO("loads " << load.produced.load());
  CHECK(load.produced <= 20);
}

TEST_CASE("get and values that were not loaded never draw a refresh", "[refresh]") {
  test::HeldClock clock;
  Cache cache = eager_cache();
  GatedOrigin origin;
  REQUIRE(cache.set(test::ctx(), "set", "v"));
  REQUIRE(cache.get_or_load(test::ctx(), "loaded", origin.loader()) == "v1");
  // Both where a get_or_load of the loaded value draws its refresh 4 times in 5.
  clock.advance(kTtl - kLeft);
  for (int i = 0; i < 1000; ++i) {
    REQUIRE(cache.get_or_load(test::ctx(), "set", origin.loader()) == "v");
    REQUIRE(cache.get(test::ctx(), "loaded") == "v1");
  }
  CHECK(cache.stats().refreshes == 0);
  CHECK(origin.calls == 1);
  // As a get_or_load of it does (the caller runs the refresh and gets the new value).
  bool drawn = false;
  for (int i = 0; i < kMaxDrawReads && !drawn; ++i)
    drawn = cache.get_or_load(test::ctx(), "loaded", origin.loader()) == "v2";
  CHECK(drawn);
}

TEST_CASE("Options.early_refresh_beta out of range is refused at open") {
  for (const double beta : {-1.0, 17.0, std::nan("")}) {
    auto cache = Cache::open({.early_refresh_beta = beta});
    REQUIRE(!cache);
    CHECK(cache.error() == errc::invalid_argument);
    CHECK(cache.error().detail.find("early_refresh_beta") != std::string::npos);
  }
}

TEST_CASE("with a refresh thread, no caller waits for a load after the first", "[refresh]") {
  constexpr int kThreads = 16;
  test::HeldClock clock;
  // As in the test above: refreshes start up to 114 ms before expiry, room for a 20 ms load.
  Cache cache =
      test::open_cache({.default_ttl = kTtl, .early_refresh_beta = 2, .refresh_threads = 1});
  TimedLoad load{clock};
  std::mutex mu;
  std::vector<std::thread::id> callers;
  std::atomic<int> loads{0};
  std::atomic<int> loads_on_callers{0};
  const tiercache::Loader loader = [&](const Context&, std::string_view) -> Result<Loaded> {
    {
      std::lock_guard lock(mu);
      if (std::find(callers.begin(), callers.end(), std::this_thread::get_id()) != callers.end())
        ++loads_on_callers;
    }
    ++loads;
    return load.run();
  };
  REQUIRE(cache.get_or_load(test::ctx(), "hot", loader) == "v1");
  std::atomic<int> wrong{0};
  // Catch2's assertions are not for threads: count, check after.
  read_steadily(cache, clock, load, kThreads, 3000ms, [&] {
    thread_local bool registered = false;
    if (!registered) {
      std::lock_guard lock(mu);
      callers.push_back(std::this_thread::get_id());
      registered = true;
    }
    Result<std::string> r = cache.get_or_load(test::ctx(), "hot", loader);
    if (!r) ++wrong;
    return r;
  });
  const tiercache::CacheStats s = cache.stats();
  INFO("loads " << loads.load() << " refreshes " << s.refreshes);
  CHECK(wrong == 0);
  // Every load after the first ran on the refresh thread; nobody waited for one.
  CHECK(loads_on_callers == 0);
  CHECK(s.coalesced == 0);
  // One refresh per 170-300 ms, as in the test above: 10-17 in 3 s.
  CHECK(s.refreshes >= 9);
  CHECK(loads <= 19);
}

TEST_CASE("a background refresh loses to a set", "[refresh]") {
  test::HeldClock clock;
  Cache cache = eager_cache(0, 1);
  GatedOrigin origin;
  REQUIRE(cache.get_or_load(test::ctx(), "k", origin.loader()) == "v1");
  origin.open = false;
  clock.advance(kTtl - kLeft);
  // The read that draws the refresh gets the current value at once.
  REQUIRE(read_until_refresh(cache, "k", origin.loader(), 0, "v1"));
  test::wait_until(
      kWaitLimit, [&] { return origin.calls == 2; }, "the refresh runs");
  REQUIRE(cache.set(test::ctx(), "k", "newer"));
  origin.open = true;
  test::wait_until(
      kWaitLimit, [&] { return origin.returned == 2; }, "the refresh's load answers");
  // Give the refresh thread time to offer its value (what must not happen cannot be waited for):
  // the set stays.
  std::this_thread::sleep_for(100ms);
  CHECK(cache.get(test::ctx(), "k") == "newer");
  CHECK(origin.calls == 2);
}

TEST_CASE("destroying the cache gives queued background refreshes up", "[refresh]") {
  test::HeldClock clock;
  GatedOrigin origin;
  std::jthread opener;
  {
    Cache cache = eager_cache(0, 1);
    // Each refreshes while the others' refreshes are on: no two may share a refresh bit.
    const std::vector<std::string> keys = keys_of_distinct_refresh_bits(cache, 3);
    for (const std::string& key : keys)
      REQUIRE(cache.get_or_load(test::ctx(), key, origin.loader()).has_value());
    origin.open = false;
    clock.advance(kTtl - kLeft);
    for (const std::string& key : keys) {
      const std::uint64_t before = cache.stats().refreshes;
      const std::string current = *cache.get(test::ctx(), key);
      REQUIRE(read_until_refresh(cache, key, origin.loader(), before, current));
    }
    // The first key's refresh runs, held by the origin; the other two wait in the queue.
    test::wait_until(
        kWaitLimit, [&] { return origin.calls == 4; }, "the first refresh runs");
    opener = std::jthread([&] {
      std::this_thread::sleep_for(200ms);
      origin.open = true;
    });
  }  // waits for the first refresh, gives the other two up
  opener.join();
  std::this_thread::sleep_for(50ms);
  CHECK(origin.calls == 4);
}

TEST_CASE("a fixed refresh-ahead window refreshes a value read within it", "[refresh]") {
  test::HeldClock clock;
  Cache cache = test::open_cache({.default_ttl = kTtl, .refresh_ahead = 100ms});
  GatedOrigin origin;
  REQUIRE(cache.get_or_load(test::ctx(), "k", origin.loader()) == "v1");
  // Far from expiry, and just before the window: no refresh.
  for (int i = 0; i < 100; ++i)
    REQUIRE(cache.get_or_load(test::ctx(), "k", origin.loader()) == "v1");
  clock.advance(kTtl - 100ms - 1ms);
  for (int i = 0; i < 100; ++i)
    REQUIRE(cache.get_or_load(test::ctx(), "k", origin.loader()) == "v1");
  CHECK(cache.stats().refreshes == 0);
  // Within the last 100 ms the first read refreshes it; the value never expires meanwhile.
  clock.advance(2ms);
  CHECK(cache.get_or_load(test::ctx(), "k", origin.loader()) == "v2");
  CHECK(cache.stats().refreshes == 1);
  CHECK(cache.stats().l1_misses == 1);
}

TEST_CASE("refresh options out of range, or both kinds at once, are refused at open") {
  for (const tiercache::Options& o :
       {tiercache::Options{.refresh_ahead = -1ms},
        tiercache::Options{.early_refresh_beta = 1, .refresh_ahead = 10ms},
        tiercache::Options{.refresh_threads = 65},
        tiercache::Options{.stale_while_revalidate = -1ms}}) {
    auto cache = Cache::open(o);
    REQUIRE(!cache);
    CHECK(cache.error() == errc::invalid_argument);
    CHECK((cache.error().detail.find("refresh") != std::string::npos ||
           cache.error().detail.find("stale_while_revalidate") != std::string::npos));
  }
}

// A cache with one refresh thread, where the refresh of "slow" holds that thread (its origin is
// closed) and the refresh of "k" waits in the queue, still holding its claim. The cache is
// declared last, so it is destroyed first: its refresh thread may still be in a loader that
// refers to the origins.
struct QueuedRefresh {
  test::HeldClock clock;
  GatedOrigin slow;
  std::atomic<int> fast_calls{0};
  const tiercache::Loader fast = [this](const Context&, std::string_view) -> Result<Loaded> {
    ++fast_calls;
    std::this_thread::sleep_for(kLoadTime);  // a load time, so that reads draw its refresh
    return Loaded("fast" + std::to_string(fast_calls.load()));
  };
  Cache cache = eager_cache(0, 1);
  // "slow", or "slow<n>" where that shares a refresh bit with "k" (which would keep "k" from
  // drawing a refresh while slow's is held).
  std::string slow_key = "slow";

  QueuedRefresh() {
    for (int n = 1; refresh_bit_of(cache, slow_key) == refresh_bit_of(cache, "k"); ++n)
      slow_key = "slow" + std::to_string(n);
    REQUIRE(cache.get_or_load(test::ctx(), slow_key, slow.loader()) == "v1");
    REQUIRE(cache.get_or_load(test::ctx(), "k", fast) == "fast1");
    slow.open = false;
    clock.advance(kTtl - kLeft);
    REQUIRE(read_until_refresh(cache, slow_key, slow.loader(), 0, "v1"));
    test::wait_until(
        kWaitLimit, [&] { return slow.calls == 2; }, "the refresh of slow runs");
    REQUIRE(read_until_refresh(cache, "k", fast, 1, "fast1"));
  }
};

TEST_CASE("a caller never waits for a refresh still queued", "[refresh]") {
  QueuedRefresh q;
  // "k" expires with its refresh still queued: a caller loads it itself, within its deadline
  // (a wait for the queued refresh would last until the origin of "slow" opens).
  q.clock.advance(kLeft);
  REQUIRE(q.cache.get(test::ctx(), "k").error() == errc::not_found);
  CHECK(q.cache.get_or_load(test::ctx_with_timeout(kWaitLimit / 2), "k", q.fast) == "fast2");
  CHECK(q.cache.stats().coalesced == 0);
  REQUIRE(q.cache.close(test::ctx()));
  q.slow.open = true;
}

TEST_CASE("close drops the refreshes still queued", "[refresh]") {
  QueuedRefresh q;
  REQUIRE(q.cache.close(test::ctx()));
  // The refresh thread is free once "slow" answers: a refresh of "k" still queued would run now.
  q.slow.open = true;
  test::wait_until(
      kWaitLimit, [&] { return q.cache.get(test::ctx(), q.slow_key).error() == errc::closed; },
      "closed");
  // What must not happen cannot be waited for: time enough for a queued refresh to run.
  std::this_thread::sleep_for(100ms);
  CHECK(q.fast_calls == 1);
}

TEST_CASE("stale-while-revalidate serves the old value during its refresh, the new one after",
          "[refresh][swr]") {
  test::HeldClock clock;
  Cache cache =
      test::open_cache({.default_ttl = 200ms, .stale_while_revalidate = 5s, .refresh_threads = 1});
  GatedOrigin origin;
  REQUIRE(cache.get_or_load(test::ctx(), "k", origin.loader()) == "v1");
  origin.open = false;
  // Expired: get (no loader) misses; get_or_load answers the old value and refreshes it.
  clock.advance(200ms);
  REQUIRE(cache.get(test::ctx(), "k").error() == errc::not_found);
  CHECK(cache.get_or_load(test::ctx(), "k", origin.loader()) == "v1");
  test::wait_until(
      kWaitLimit, [&] { return origin.calls == 2; }, "the refresh runs");
  for (int i = 0; i < 100; ++i)
    REQUIRE(cache.get_or_load(test::ctx_with_timeout(1s), "k", origin.loader()) == "v1");
  CHECK(cache.stats().refreshes == 1);
  CHECK(cache.stats().coalesced == 0);
  origin.open = true;
  test::wait_until(
      kWaitLimit, [&] { return cache.get_or_load(test::ctx(), "k", origin.loader()) == "v2"; },
      "the refreshed value");
  CHECK(cache.get(test::ctx(), "k") == "v2");
  CHECK(origin.calls == 2);
}

TEST_CASE("without stale-while-revalidate, or past its grace, an expired value is a miss",
          "[refresh][swr]") {
  for (const auto grace : {0ms, 100ms}) {
    CAPTURE(grace.count());
    test::HeldClock clock;
    Cache cache = test::open_cache({.default_ttl = 100ms, .stale_while_revalidate = grace});
    GatedOrigin origin;
    REQUIRE(cache.get_or_load(test::ctx(), "k", origin.loader()) == "v1");
    // Just past TTL + grace.
    clock.advance(100ms + grace + 1ms);
    CHECK(cache.get_or_load(test::ctx(), "k", origin.loader()) == "v2");
    CHECK(cache.stats().refreshes == 0);
  }
}

TEST_CASE("with Redis, a loaded value lives its stale grace longer there",
          "[refresh][swr][redis]") {
  test::RedisServer redis;
  Cache cache = test::open_cache(redis, {.default_ttl = 10s, .stale_while_revalidate = 20s});
  GatedOrigin origin;
  REQUIRE(cache.get_or_load(test::ctx_with_timeout(2s), "k", origin.loader()) == "v1");
  REQUIRE(cache.flush(test::ctx_with_timeout(2s)));
  const long long pttl = std::stoll(redis.command({"PTTL", "k"}).substr(1));
  CHECK(pttl > 29'000);
  CHECK(pttl <= 30'000);
  REQUIRE(cache.set(test::ctx_with_timeout(2s), "s", "set", 10s));
  REQUIRE(cache.flush(test::ctx_with_timeout(2s)));
  // A set is no loaded value: no grace.
  CHECK(std::stoll(redis.command({"PTTL", "s"}).substr(1)) <= 10'000);
}

TEST_CASE("a refresh that finds the key gone ends the stale value", "[refresh][swr]") {
  test::HeldClock clock;
  Cache cache = test::open_cache({.default_ttl = 100ms, .stale_while_revalidate = 10s});
  std::atomic<int> calls{0};
  const tiercache::Loader loader = [&](const Context&, std::string_view) -> Result<Loaded> {
    std::this_thread::sleep_for(2ms);  // a load time, so the value may be served stale
    if (++calls == 1) return Loaded("v");
    return Loaded::absent();  // deleted at the origin since
  };
  REQUIRE(cache.get_or_load(test::ctx(), "k", loader) == "v");
  clock.advance(100ms);
  REQUIRE(cache.get(test::ctx(), "k").error() == errc::not_found);
  // The caller that refreshes it hears the origin's answer; the stale value is gone with it.
  CHECK(cache.get_or_load(test::ctx(), "k", loader).error() == errc::not_found);
  CHECK(calls == 2);
  CHECK(cache.stats().entries == 0);
  CHECK(cache.get_or_load(test::ctx(), "k", loader).error() == errc::not_found);
  CHECK(calls == 3);
}

TEST_CASE("with Redis, a refresh that finds the key gone ends L2's copy too",
          "[refresh][swr][redis]") {
  // The loaded value went to Redis with its stale grace. The refresh took it out of L1 only, and
  // the next miss read it back from Redis and served it as fresh, without asking the origin.
  test::RedisServer redis;
  for (const std::chrono::milliseconds negative_ttl : {0ms, 5000ms}) {
    CAPTURE(negative_ttl.count());
    test::HeldClock clock;
    tiercache::Options options{
        .default_ttl = 100ms, .negative_ttl = negative_ttl, .stale_while_revalidate = 10s};
    options.redis.invalidation = tiercache::InvalidationMode::off;
    Cache cache = test::open_cache(redis, options);
    const std::string key = "gone" + std::to_string(negative_ttl.count());
    std::atomic<int> calls{0};
    const tiercache::Loader loader = [&](const Context&, std::string_view) -> Result<Loaded> {
      std::this_thread::sleep_for(2ms);  // a load time, so the value may be served stale
      if (++calls == 1) return Loaded("v");
      return Loaded::absent();  // deleted at the origin since
    };
    REQUIRE(cache.get_or_load(test::ctx_with_timeout(2s), key, loader) == "v");
    REQUIRE(cache.flush(test::ctx_with_timeout(2s)));
    REQUIRE(redis.command({"EXISTS", key}) == ":1");
    clock.advance(100ms);  // expired, within its grace
    CHECK(cache.get_or_load(test::ctx_with_timeout(2s), key, loader).error() == errc::not_found);
    CHECK(calls == 2);
    REQUIRE(cache.flush(test::ctx_with_timeout(2s)));
    CHECK(redis.command({"EXISTS", key}) == ":0");
    CHECK(cache.get(test::ctx_with_timeout(2s), key).error() == errc::not_found);
    CHECK(cache.get_or_load(test::ctx_with_timeout(2s), key, loader).error() == errc::not_found);
  }
}

TEST_CASE("the CLOCK hand keeps a loaded value through its stale grace, nothing else",
          "[refresh][swr]") {
  test::HeldClock clock;
  Cache cache = test::open_cache(
      {.l1 = {.max_entries = 4, .shards = 1}, .default_ttl = 50ms, .stale_while_revalidate = 10s});
  const tiercache::Loader loader = [](const Context&, std::string_view) -> Result<Loaded> {
    std::this_thread::sleep_for(2ms);
    return Loaded("loaded");
  };
  REQUIRE(cache.get_or_load(test::ctx(), "loaded", loader) == "loaded");
  REQUIRE(cache.set(test::ctx(), "set", "v", 50ms));
  clock.advance(100ms);  // both expired
  for (int i = 0; i < 3; ++i) REQUIRE(cache.set(test::ctx(), "new" + std::to_string(i), "v"));
  // Room was needed: the expired set value went as an expiration, the stale one stayed.
  CHECK(cache.stats().expirations == 1);
  CHECK(cache.get_or_load(test::ctx(), "loaded", loader) == "loaded");
  CHECK(cache.stats().refreshes == 1);
}

// The refresh's loader runs on the thread that drew it: once the old value expired meanwhile, a
// get_or_load of the key would join that refresh, and so wait for itself (led_here.hpp).
TEST_CASE("a refresh's loader reading its own key after the value expired is refused",
          "[refresh]") {
  test::HeldClock clock;
  Cache cache = test::open_cache({.default_ttl = 1000ms, .refresh_ahead = 100ms});
  const tiercache::Loader first = [](const Context&, std::string_view) {
    return Result<Loaded>(Loaded("v1"));
  };
  REQUIRE(cache.get_or_load(test::ctx(), "k", first) == "v1");
  clock.advance(950ms);  // within refresh_ahead: the next get_or_load refreshes, on this thread
  Result<std::string> inner;
  std::chrono::steady_clock::duration took{};
  const auto refresh = [&](const Context&, std::string_view key) {
    clock.advance(200ms);  // the value being refreshed expires while its refresh runs
    const auto start = std::chrono::steady_clock::now();
    inner = cache.get_or_load(test::ctx_with_timeout(5s), key, first);
    took = std::chrono::steady_clock::now() - start;
    return Result<Loaded>(Loaded("v2"));
  };
  CHECK(cache.get_or_load(test::ctx(), "k", refresh) == "v2");
  CHECK(cache.stats().refreshes == 1);
  REQUIRE_FALSE(inner);
  CHECK(inner.error() == errc::invalid_argument);
  CHECK(took < 2s);
}
