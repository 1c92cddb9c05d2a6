// Early refresh (XFetch, Options.early_refresh_beta): a value read steadily is reloaded before it
// expires by the one caller that draws it, while every other caller keeps the current value; a
// set, purge or eviction during the refresh wins over it; a caller that comes after the value
// expired waits for the refresh instead of loading again; a failed refresh keeps the old value.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <latch>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/redis_cache.hpp"

using tiercache::Cache;
using tiercache::Context;
using tiercache::errc;
using tiercache::Loaded;
using tiercache::Result;
using namespace std::chrono_literals;

namespace {

// A loader whose calls after the first block until released, so a test holds a refresh open.
struct GatedOrigin {
  std::atomic<int> calls{0};
  std::atomic<bool> open{true};
  std::atomic<bool> fail{false};
  std::chrono::milliseconds takes{20};

  tiercache::Loader loader() {
    return [this](const Context&, std::string_view) -> Result<Loaded> {
      const int n = ++calls;
      std::this_thread::sleep_for(takes);
      while (!open.load()) std::this_thread::sleep_for(100us);
      if (fail.load()) return tiercache::fail(errc::backend_error, "origin down");
      return Loaded("v" + std::to_string(n));
    };
  }
};

// A cache whose reads of a value loaded in ~20 ms with a 300 ms TTL draw its refresh almost at
// once (beta 16: a window of 16 load times).
Cache eager_cache(std::size_t max_entries = 0) {
  return test::open_cache({.l1 = {.max_entries = max_entries, .shards = 1},
                           .default_ttl = 300ms,
                           .early_refresh_beta = 16});
}

// Reads until a get_or_load draws the refresh (stats().refreshes moves); the origin is held shut,
// so that refresh stays open. Returns the drawing thread, which holds the refresh.
std::thread start_refresh(Cache& cache, GatedOrigin& origin, Result<std::string>& refreshed) {
  REQUIRE(cache.get_or_load(test::ctx(), "k", origin.loader()) == "v1");
  origin.open = false;
  std::thread refresher([&] {
    while (cache.stats().refreshes == 0) {
      auto r = cache.get_or_load(test::ctx(), "k", origin.loader());
      if (cache.stats().refreshes != 0) {
        refreshed = std::move(r);
        return;
      }
    }
  });
  test::wait_until(
      2s, [&] { return origin.calls == 2; }, "a read draws the refresh");
  return refresher;
}

}  // namespace

TEST_CASE("a key read steadily is refreshed before it expires", "[refresh]") {
  constexpr int kThreads = 16;
  constexpr auto kTtl = 300ms;
  constexpr auto kRun = 3s;
  // A 20 ms load (code for 19 ms) and beta 2: refreshes start at most 3 * 2 * 19 = 114 ms
  // before expiry, which leaves the refresher ~90 ms to land even when 16 spinning readers
  // keep it off the 2 cores for a while.
  Cache cache = test::open_cache({.default_ttl = kTtl, .early_refresh_beta = 2});
  GatedOrigin origin;
  REQUIRE(cache.get_or_load(test::ctx(), "hot", origin.loader()) == "v1");
  const tiercache::CacheStats before = cache.stats();
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&] {
      while (!stop.load())
        if (!cache.get_or_load(test::ctx(), "hot", origin.loader())) ++failures;
    });
  std::this_thread::sleep_for(kRun);
  stop = true;
  for (auto& t : threads) t.join();
  const tiercache::CacheStats s = cache.stats();
  INFO("loads " << s.loads << " refreshes " << s.refreshes << " coalesced " << s.coalesced
                << " misses " << s.l1_misses - before.l1_misses);
  CHECK(failures == 0);
  // A refresh every TTL less its lead (up to 114 ms) plus the load: one per 206-320 ms, so
  // 9-15 in 3 s; drawn at random, the bounds are wider.
  CHECK(s.refreshes >= 6);
  CHECK(s.loads <= 18);
  // Only the refresher waited for a load: the value never expired under the other callers.
  CHECK(s.coalesced == 0);
}

TEST_CASE("a set, a same-size set, a purge or an eviction during a refresh wins over it",
          "[refresh]") {
  const std::string what = GENERATE("set", "same-size set", "purge", "eviction");
  CAPTURE(what);
  Cache cache = eager_cache(what == "eviction" ? 2 : 0);
  GatedOrigin origin;
  Result<std::string> refreshed;
  std::thread refresher = start_refresh(cache, origin, refreshed);
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
  Cache cache = eager_cache();
  GatedOrigin origin;
  Result<std::string> refreshed;
  std::thread refresher = start_refresh(cache, origin, refreshed);
  // The 300 ms value expires while its refresh is held.
  test::wait_until(
      3s, [&] { return !cache.get(test::ctx(), "k").has_value(); }, "the value expires");
  Result<std::string> late;
  std::thread waiter([&] { late = cache.get_or_load(test::ctx(), "k", origin.loader()); });
  test::wait_until(
      2s, [&] { return cache.stats().coalesced == 1; }, "the late caller waits");
  origin.open = true;
  refresher.join();
  waiter.join();
  CHECK(refreshed == "v2");
  CHECK(late == "v2");
  CHECK(origin.calls == 2);
  CHECK(cache.get(test::ctx(), "k") == "v2");
}

TEST_CASE("a failed refresh keeps the old value until it expires", "[refresh]") {
  Cache cache = eager_cache();
  GatedOrigin origin;
  Result<std::string> refreshed;
  origin.fail = false;
  std::thread refresher = start_refresh(cache, origin, refreshed);
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
  test::wait_until(
      3s, [&] { return !cache.get(test::ctx(), "k").has_value(); }, "the value expires");
  CHECK(cache.get_or_load(test::ctx(), "k", origin.loader()).error() == errc::backend_error);
}

TEST_CASE("a same-size set of a loaded value is not refreshed early", "[refresh]") {
  Cache cache = eager_cache();
  GatedOrigin origin;
  REQUIRE(cache.get_or_load(test::ctx(), "k", origin.loader()) == "v1");
  REQUIRE(cache.set(test::ctx(), "k", "vX", 300ms));  // the same size as "v1"
  for (int i = 0; i < 2000; ++i)
    REQUIRE(cache.get_or_load(test::ctx(), "k", origin.loader()) == "vX");
  CHECK(cache.stats().refreshes == 0);
  CHECK(origin.calls == 1);
}

TEST_CASE("a TTL of a few load times does not make loads run back to back", "[refresh]") {
  // Without a bound the lead (3 x 20 ms x beta 4) would reach past the whole 100 ms TTL.
  Cache cache = test::open_cache({.default_ttl = 100ms, .early_refresh_beta = 4});
  GatedOrigin origin;
  REQUIRE(cache.get_or_load(test::ctx(), "k", origin.loader()) == "v1");
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&] {
      while (!stop.load()) (void)cache.get_or_load(test::ctx(), "k", origin.loader());
    });
  std::this_thread::sleep_for(1s);
  stop = true;
  for (auto& t : threads) t.join();
  // A refresh at most half a TTL early: one load per 50 ms at most, 20 in a second (back to
  // back, 20 ms each, would be 50).
  INFO("loads " << origin.calls.load());
  CHECK(origin.calls <= 24);
}

TEST_CASE("get and values that were not loaded never draw a refresh", "[refresh]") {
  Cache cache = eager_cache();
  GatedOrigin origin;
  REQUIRE(cache.set(test::ctx(), "set", "v"));
  REQUIRE(cache.get_or_load(test::ctx(), "loaded", origin.loader()) == "v1");
  for (int i = 0; i < 1000; ++i) {
    REQUIRE(cache.get_or_load(test::ctx(), "set", origin.loader()) == "v");
    REQUIRE(cache.get(test::ctx(), "loaded") == "v1");
  }
  CHECK(cache.stats().refreshes == 0);
  CHECK(origin.calls == 1);
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
  // As in the test above: refreshes start up to 114 ms before expiry, room for a slow thread.
  Cache cache =
      test::open_cache({.default_ttl = 300ms, .early_refresh_beta = 2, .refresh_threads = 1});
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
    std::this_thread::sleep_for(20ms);
    return Loaded("v");
  };
  REQUIRE(cache.get_or_load(test::ctx(), "hot", loader) == "v");
  std::atomic<bool> stop{false};
  std::atomic<int> wrong{0};
  std::latch registered(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&] {
      {
        std::lock_guard lock(mu);
        callers.push_back(std::this_thread::get_id());
      }
      registered.count_down();
      // Catch2's assertions are not for threads: count, check after.
      while (!stop.load())
        if (cache.get_or_load(test::ctx(), "hot", loader) != "v") ++wrong;
    });
  registered.wait();
  std::this_thread::sleep_for(3s);
  stop = true;
  for (auto& t : threads) t.join();
  const tiercache::CacheStats s = cache.stats();
  INFO("loads " << loads.load() << " refreshes " << s.refreshes);
  CHECK(wrong == 0);
  // Every load after the first ran on the refresh thread; nobody waited for one.
  CHECK(loads_on_callers == 0);
  CHECK(s.coalesced == 0);
  // One refresh per 206-320 ms: 9-15 in 3 s; drawn at random, the bounds are wider.
  CHECK(s.refreshes >= 6);
  CHECK(loads <= 18);
}

TEST_CASE("a background refresh loses to a set", "[refresh]") {
  Cache cache =
      test::open_cache({.default_ttl = 300ms, .early_refresh_beta = 16, .refresh_threads = 1});
  GatedOrigin origin;
  REQUIRE(cache.get_or_load(test::ctx(), "k", origin.loader()) == "v1");
  origin.open = false;
  // The read that draws the refresh gets the current value at once.
  while (cache.stats().refreshes == 0)
    REQUIRE(cache.get_or_load(test::ctx(), "k", origin.loader()) == "v1");
  test::wait_until(
      2s, [&] { return origin.calls == 2; }, "the refresh runs");
  REQUIRE(cache.set(test::ctx(), "k", "newer"));
  origin.open = true;
  test::wait_until(
      2s, [&] { return cache.get(test::ctx(), "k") == "newer" && origin.calls == 2; },
      "the refresh ends");
  // Give the refresh thread time to finish: the set stays.
  std::this_thread::sleep_for(50ms);
  CHECK(cache.get(test::ctx(), "k") == "newer");
}

TEST_CASE("destroying the cache gives queued background refreshes up", "[refresh]") {
  GatedOrigin origin;
  std::thread opener;
  {
    Cache cache =
        test::open_cache({.default_ttl = 300ms, .early_refresh_beta = 16, .refresh_threads = 1});
    for (const std::string key : {"a", "b", "c"})
      REQUIRE(cache.get_or_load(test::ctx(), key, origin.loader()).has_value());
    origin.open = false;
    for (const std::string key : {"a", "b", "c"}) {
      const std::uint64_t before = cache.stats().refreshes;
      while (cache.stats().refreshes == before)
        REQUIRE(cache.get_or_load(test::ctx(), key, origin.loader()).has_value());
    }
    // "a" runs, held by the origin; "b" and "c" wait in the queue.
    test::wait_until(
        2s, [&] { return origin.calls == 4; }, "the first refresh runs");
    opener = std::thread([&] {
      std::this_thread::sleep_for(200ms);
      origin.open = true;
    });
  }  // waits for "a"'s refresh, gives "b" and "c" up
  opener.join();
  std::this_thread::sleep_for(50ms);
  CHECK(origin.calls == 4);
}

TEST_CASE("a fixed refresh-ahead window refreshes a value read within it", "[refresh]") {
  Cache cache = test::open_cache({.default_ttl = 300ms, .refresh_ahead = 100ms});
  GatedOrigin origin;
  REQUIRE(cache.get_or_load(test::ctx(), "k", origin.loader()) == "v1");
  // Far from expiry: no refresh.
  for (int i = 0; i < 100; ++i)
    REQUIRE(cache.get_or_load(test::ctx(), "k", origin.loader()) == "v1");
  CHECK(cache.stats().refreshes == 0);
  // Within the last 100 ms the first read refreshes it; the value never expires meanwhile.
  test::wait_until(
      3s, [&] { return cache.get_or_load(test::ctx(), "k", origin.loader()) == "v2"; },
      "a read within the window refreshes the value");
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

TEST_CASE("a caller never waits for a refresh still queued, and close drops the queued ones",
          "[refresh]") {
  Cache cache =
      test::open_cache({.default_ttl = 300ms, .early_refresh_beta = 16, .refresh_threads = 1});
  GatedOrigin slow;
  std::atomic<int> fast_calls{0};
  const tiercache::Loader fast = [&](const Context&, std::string_view) -> Result<Loaded> {
    ++fast_calls;
    std::this_thread::sleep_for(20ms);  // a load time, so that reads draw its refresh
    return Loaded("fast" + std::to_string(fast_calls.load()));
  };
  REQUIRE(cache.get_or_load(test::ctx(), "slow", slow.loader()) == "v1");
  REQUIRE(cache.get_or_load(test::ctx(), "k", fast) == "fast1");
  slow.open = false;
  // The refresh of "slow" holds the one refresh thread; the refresh of "k" waits in the queue.
  while (cache.stats().refreshes == 0)
    REQUIRE(cache.get_or_load(test::ctx(), "slow", slow.loader()).has_value());
  test::wait_until(
      2s, [&] { return slow.calls == 2; }, "the refresh of slow runs");
  while (cache.stats().refreshes == 1)
    REQUIRE(cache.get_or_load(test::ctx(), "k", fast) == "fast1");
  // "k" expires with its refresh still queued: a caller loads it itself, within its deadline.
  test::wait_until(
      3s, [&] { return !cache.get(test::ctx(), "k").has_value(); }, "k expires");
  CHECK(cache.get_or_load(test::ctx_with_timeout(1s), "k", fast) == "fast2");
  CHECK(cache.stats().coalesced == 0);
  // close() drops the queued refresh of "k" (which would have found nothing to do anyway).
  REQUIRE(cache.close(test::ctx()));
  slow.open = true;
  test::wait_until(
      2s, [&] { return cache.get(test::ctx(), "slow").error() == errc::closed; }, "closed");
  std::this_thread::sleep_for(100ms);
  CHECK(fast_calls == 2);
}

TEST_CASE("stale-while-revalidate serves the old value during its refresh, the new one after",
          "[refresh][swr]") {
  Cache cache =
      test::open_cache({.default_ttl = 200ms, .stale_while_revalidate = 5s, .refresh_threads = 1});
  GatedOrigin origin;
  REQUIRE(cache.get_or_load(test::ctx(), "k", origin.loader()) == "v1");
  origin.open = false;
  // Expired: get (no loader) misses; get_or_load answers the old value and refreshes it.
  test::wait_until(
      3s, [&] { return !cache.get(test::ctx(), "k").has_value(); }, "k expires");
  CHECK(cache.get_or_load(test::ctx(), "k", origin.loader()) == "v1");
  test::wait_until(
      2s, [&] { return origin.calls == 2; }, "the refresh runs");
  for (int i = 0; i < 100; ++i)
    REQUIRE(cache.get_or_load(test::ctx_with_timeout(1s), "k", origin.loader()) == "v1");
  CHECK(cache.stats().refreshes == 1);
  CHECK(cache.stats().coalesced == 0);
  origin.open = true;
  test::wait_until(
      2s, [&] { return cache.get_or_load(test::ctx(), "k", origin.loader()) == "v2"; },
      "the refreshed value");
  CHECK(cache.get(test::ctx(), "k") == "v2");
  CHECK(origin.calls == 2);
}

TEST_CASE("without stale-while-revalidate, or past its grace, an expired value is a miss",
          "[refresh][swr]") {
  for (const auto grace : {0ms, 100ms}) {
    CAPTURE(grace.count());
    Cache cache = test::open_cache({.default_ttl = 100ms, .stale_while_revalidate = grace});
    GatedOrigin origin;
    REQUIRE(cache.get_or_load(test::ctx(), "k", origin.loader()) == "v1");
    // Past TTL + grace (with a margin for the coarse clock).
    std::this_thread::sleep_for(100ms + grace + 50ms);
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
  Cache cache = test::open_cache({.default_ttl = 100ms, .stale_while_revalidate = 10s});
  std::atomic<int> calls{0};
  const tiercache::Loader loader = [&](const Context&, std::string_view) -> Result<Loaded> {
    std::this_thread::sleep_for(2ms);  // a load time, so the value may be served stale
    if (++calls == 1) return Loaded("v");
    return Loaded::absent();  // deleted at the origin since
  };
  REQUIRE(cache.get_or_load(test::ctx(), "k", loader) == "v");
  test::wait_until(
      3s, [&] { return !cache.get(test::ctx(), "k").has_value(); }, "k expires");
  // The caller that refreshes it hears the origin's answer; the stale value is gone with it.
  CHECK(cache.get_or_load(test::ctx(), "k", loader).error() == errc::not_found);
  CHECK(calls == 2);
  CHECK(cache.stats().entries == 0);
  CHECK(cache.get_or_load(test::ctx(), "k", loader).error() == errc::not_found);
  CHECK(calls == 3);
}

TEST_CASE("the CLOCK hand keeps a loaded value through its stale grace, nothing else",
          "[refresh][swr]") {
  Cache cache = test::open_cache(
      {.l1 = {.max_entries = 4, .shards = 1}, .default_ttl = 50ms, .stale_while_revalidate = 10s});
  const tiercache::Loader loader = [](const Context&, std::string_view) -> Result<Loaded> {
    std::this_thread::sleep_for(2ms);
    return Loaded("loaded");
  };
  REQUIRE(cache.get_or_load(test::ctx(), "loaded", loader) == "loaded");
  REQUIRE(cache.set(test::ctx(), "set", "v", 50ms));
  std::this_thread::sleep_for(100ms);  // both expired
  for (int i = 0; i < 3; ++i) REQUIRE(cache.set(test::ctx(), "new" + std::to_string(i), "v"));
  // Room was needed: the expired set value went as an expiration, the stale one stayed.
  CHECK(cache.stats().expirations == 1);
  CHECK(cache.get_or_load(test::ctx(), "loaded", loader) == "loaded");
  CHECK(cache.stats().refreshes == 1);
}
