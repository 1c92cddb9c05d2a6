#include <atomic>
#include <latch>
#include <stdexcept>
#include <stop_token>
#include <thread>
#include <vector>

#include "tests/support/redis_cache.hpp"
#include "tests/support/test_support.hpp"

using tiercache::Cache;
using tiercache::Context;
using tiercache::errc;
using tiercache::Result;
using namespace std::chrono_literals;

namespace {

// A loader that blocks until released, so a test controls when a load ends.
struct Gate {
  std::atomic<int> calls{0};
  std::atomic<bool> open{false};
  std::atomic<int> inside{0};

  tiercache::Loader loader(std::string value) {
    return [this, value](const Context&, std::string_view) -> Result<std::string> {
      ++calls;
      ++inside;
      while (!open.load()) std::this_thread::sleep_for(100us);
      --inside;
      return value;
    };
  }
};

}  // namespace

TEST_CASE("64 threads on one cold key share exactly one loader call", "[concurrency]") {
  Cache cache = test::open_cache();
  std::atomic<int> calls{0};
  std::latch start(64);
  std::vector<Result<std::string>> results(64);
  std::vector<std::thread> threads;
  for (int t = 0; t < 64; ++t)
    threads.emplace_back([&, t] {
      start.arrive_and_wait();
      results[t] = cache.get_or_load(test::ctx(), "cold", [&](const Context&, std::string_view) {
        ++calls;
        std::this_thread::sleep_for(20ms);  // long enough that every caller finds the load
        return Result<std::string>("loaded");
      });
    });
  for (auto& t : threads) t.join();
  CHECK(calls == 1);
  for (const auto& r : results) CHECK(r == "loaded");
  CHECK(cache.stats().loads == 1);
  CHECK(cache.get(test::ctx(), "cold") == "loaded");
}

TEST_CASE("the loader receives the key and the caller's context") {
  Cache cache = test::open_cache();
  auto r = cache.get_or_load(test::ctx().with_value("tenant", 7), std::string("k\0x", 3),
                             [](const Context& ctx, std::string_view key) -> Result<std::string> {
                               return std::string(key) +
                                      std::to_string(std::any_cast<int>(*ctx.value("tenant")));
                             });
  CHECK(r == std::string("k\0x7", 4));
}

TEST_CASE("a failed load reaches every waiter and caches nothing") {
  Cache cache = test::open_cache();
  constexpr int kCallers = 8;
  std::atomic<int> calls{0};
  // The load fails only once every other caller waits on it, so each of them must get its error.
  auto failing = [&](const Context&, std::string_view) -> Result<std::string> {
    ++calls;
    // Bounded, and without Catch2's macros: this runs on a caller's thread.
    const auto until = std::chrono::steady_clock::now() + 5s;
    while (cache.stats().coalesced < kCallers - 1 && std::chrono::steady_clock::now() < until)
      std::this_thread::sleep_for(1ms);
    return std::unexpected(tiercache::Error{errc::backend_error, "origin down"});
  };
  std::vector<Result<std::string>> results(kCallers);
  std::vector<std::thread> threads;
  for (int t = 0; t < kCallers; ++t)
    threads.emplace_back([&, t] { results[t] = cache.get_or_load(test::ctx(), "k", failing); });
  for (auto& t : threads) t.join();
  CHECK(calls == 1);
  for (const auto& r : results) {
    REQUIRE_FALSE(r);
    CHECK(r.error() == errc::backend_error);
    CHECK(r.error().detail == "origin down");
  }
  CHECK(cache.stats().entries == 0);
  CHECK(cache.get(test::ctx(), "k").error() == errc::not_found);
  // The next call loads again.
  CHECK(cache.get_or_load(test::ctx(), "k",
                          [](auto&, auto) { return Result<std::string>("ok"); }) == "ok");
}

TEST_CASE("a loader that throws is reported as backend_error and nobody hangs") {
  Cache cache = test::open_cache();
  auto r = cache.get_or_load(test::ctx(), "k",
                             [](const Context&, std::string_view) -> Result<std::string> {
                               throw std::runtime_error("boom");
                             });
  REQUIRE_FALSE(r);
  CHECK(r.error() == errc::backend_error);
  CHECK_THAT(r.error().detail, Catch::Contains("loader threw: boom"));
  CHECK(cache.stats().load_failures == 1);
}

TEST_CASE("a loader's value over max_value_bytes is refused and not cached") {
  Cache cache = test::open_cache({.l1 = {.max_value_bytes = 4}});
  auto r =
      cache.get_or_load(test::ctx(), "k", [](auto&, auto) { return Result<std::string>("12345"); });
  REQUIRE_FALSE(r);
  CHECK(r.error() == errc::invalid_argument);
  CHECK(cache.stats().entries == 0);
}

TEST_CASE("a waiter that times out gets timeout; the load goes on for the rest", "[concurrency]") {
  Cache cache = test::open_cache();
  Gate gate;
  Result<std::string> leader_result, patient_result;
  std::thread leader(
      [&] { leader_result = cache.get_or_load(test::ctx(), "k", gate.loader("v")); });
  test::wait_until(
      2s, [&] { return gate.inside == 1; }, "the leader is inside its loader");
  std::thread patient(
      [&] { patient_result = cache.get_or_load(test::ctx(), "k", gate.loader("x")); });
  auto hasty = cache.get_or_load(test::ctx_with_timeout(20ms), "k", gate.loader("x"));
  REQUIRE_FALSE(hasty);
  CHECK(hasty.error() == errc::timeout);
  test::wait_until(
      2s, [&] { return cache.stats().coalesced == 2; }, "both waiters joined");
  gate.open = true;
  leader.join();
  patient.join();
  CHECK(leader_result == "v");
  CHECK(patient_result == "v");
  CHECK(gate.calls == 1);
}

TEST_CASE("a waiter whose stop_token fires gets cancelled") {
  Cache cache = test::open_cache();
  Gate gate;
  std::thread leader([&] { (void)cache.get_or_load(test::ctx(), "k", gate.loader("v")); });
  test::wait_until(
      2s, [&] { return gate.inside == 1; }, "the leader is inside its loader");
  std::stop_source stop;
  Result<std::string> waiter_result;
  std::thread waiter([&] {
    waiter_result =
        cache.get_or_load(test::ctx().with_stop_token(stop.get_token()), "k", gate.loader("x"));
  });
  test::wait_until(
      2s, [&] { return cache.stats().coalesced == 1; }, "the waiter joined");
  stop.request_stop();
  waiter.join();
  REQUIRE_FALSE(waiter_result);
  CHECK(waiter_result.error() == errc::cancelled);
  gate.open = true;
  leader.join();
}

TEST_CASE("a leader whose context is cancelled hands the load to a waiter", "[concurrency]") {
  Cache cache = test::open_cache();
  std::stop_source leader_stop;
  std::atomic<bool> leader_inside{false};
  Result<std::string> leader_result, waiter_result;
  std::thread leader([&] {
    leader_result = cache.get_or_load(
        test::ctx().with_stop_token(leader_stop.get_token()), "k",
        [&](const Context& ctx, std::string_view) -> Result<std::string> {
          leader_inside = true;
          while (!ctx.stop_token().stop_requested()) std::this_thread::sleep_for(100us);
          return std::unexpected(tiercache::Error{errc::cancelled, "leader cancelled"});
        });
  });
  test::wait_until(
      2s, [&] { return leader_inside.load(); }, "the leader is loading");
  std::atomic<int> waiter_loads{0};
  std::thread waiter([&] {
    waiter_result = cache.get_or_load(test::ctx(), "k", [&](const Context&, std::string_view) {
      ++waiter_loads;
      return Result<std::string>("from the waiter");
    });
  });
  test::wait_until(
      2s, [&] { return cache.stats().coalesced == 1; }, "the waiter joined");
  leader_stop.request_stop();
  leader.join();
  waiter.join();
  REQUIRE_FALSE(leader_result);
  CHECK(leader_result.error() == errc::cancelled);
  CHECK(waiter_result == "from the waiter");
  CHECK(waiter_loads == 1);
  CHECK(cache.get(test::ctx(), "k") == "from the waiter");
  CHECK(cache.stats().load_failures == 0);
}

TEST_CASE("a cancelled leader with no waiters leaves no loading entry behind") {
  Cache cache = test::open_cache();
  std::stop_source stop;
  stop.request_stop();
  auto r = cache.get_or_load(test::ctx().with_stop_token(stop.get_token()), "k",
                             [](auto&, auto) { return Result<std::string>("never"); });
  CHECK(r.error() == errc::cancelled);
  std::stop_source later;
  auto r2 = cache.get_or_load(test::ctx().with_stop_token(later.get_token()), "k",
                              [&](const Context&, std::string_view) -> Result<std::string> {
                                later.request_stop();
                                return std::unexpected(tiercache::Error{errc::cancelled, ""});
                              });
  CHECK(r2.error() == errc::cancelled);
  CHECK(cache.get_or_load(test::ctx(), "k", [](auto&, auto) { return Result<std::string>("v"); }) ==
        "v");
}

TEST_CASE("a purge during a load answers the callers but caches nothing", "[concurrency]") {
  Cache cache = test::open_cache();
  Gate gate;
  Result<std::string> leader_result;
  std::thread leader(
      [&] { leader_result = cache.get_or_load(test::ctx(), "k", gate.loader("old")); });
  test::wait_until(
      2s, [&] { return gate.inside == 1; }, "the leader is loading");
  REQUIRE(cache.purge(test::ctx(), "k"));
  gate.open = true;
  leader.join();
  CHECK(leader_result == "old");
  CHECK(cache.get(test::ctx(), "k").error() == errc::not_found);
  CHECK(test::invariants_hold(cache));
}

TEST_CASE("a set during a load wins over the loaded value", "[concurrency]") {
  Cache cache = test::open_cache();
  Gate gate;
  std::thread leader([&] { (void)cache.get_or_load(test::ctx(), "k", gate.loader("loaded")); });
  test::wait_until(
      2s, [&] { return gate.inside == 1; }, "the leader is loading");
  REQUIRE(cache.set(test::ctx(), "k", "written"));
  gate.open = true;
  leader.join();
  CHECK(cache.get(test::ctx(), "k") == "written");
  CHECK(test::invariants_hold(cache));
}

TEST_CASE("a purge then a new load during an old load: the old value is never cached",
          "[concurrency]") {
  Cache cache = test::open_cache();
  Gate old_gate;
  std::thread old_leader(
      [&] { (void)cache.get_or_load(test::ctx(), "k", old_gate.loader("old")); });
  test::wait_until(
      2s, [&] { return old_gate.inside == 1; }, "the old load runs");
  REQUIRE(cache.purge(test::ctx(), "k"));
  CHECK(cache.get_or_load(test::ctx(), "k",
                          [](auto&, auto) { return Result<std::string>("new"); }) == "new");
  old_gate.open = true;
  old_leader.join();
  CHECK(cache.get(test::ctx(), "k") == "new");
}

TEST_CASE("get_or_load with an ended context and a cold key does not load") {
  Cache cache = test::open_cache();
  int calls = 0;
  auto r = cache.get_or_load(test::ctx_with_timeout(-1ms), "k", [&](auto&, auto) {
    ++calls;
    return Result<std::string>("v");
  });
  CHECK(r.error() == errc::timeout);
  CHECK(calls == 0);
}

// A loader that calls back into its own cache for a key its thread is producing would wait for
// itself: with no deadline, for good. Each inner call below has a deadline only so that a
// regression fails (timeout) instead of hanging the suite. With Redis as L2: without one, a get
// that finds the key loading answers not_found at once.
TEST_CASE("a loader reading its own key is refused at once instead of waiting for itself") {
  test::RedisServer redis;
  Cache cache = test::open_cache(redis);
  Result<std::string> inner_get, inner_load;
  std::chrono::steady_clock::duration inner_took{};
  auto outer = cache.get_or_load(test::ctx(), "k", [&](const Context&, std::string_view key) {
    const auto start = std::chrono::steady_clock::now();
    inner_get = cache.get(test::ctx_with_timeout(5s), key);
    inner_load = cache.get_or_load(test::ctx_with_timeout(5s), key,
                                   [](auto&, auto) { return Result<std::string>("inner"); });
    inner_took = std::chrono::steady_clock::now() - start;
    return Result<std::string>("outer");
  });
  CHECK(outer == "outer");
  REQUIRE_FALSE(inner_get);
  CHECK(inner_get.error() == errc::invalid_argument);
  CHECK(inner_get.error().detail.find("loader") != std::string::npos);
  REQUIRE_FALSE(inner_load);
  CHECK(inner_load.error() == errc::invalid_argument);
  CHECK(inner_took < 2s);
  CHECK(cache.get(test::ctx(), "k") == "outer");
}

TEST_CASE("a loader reading a key an outer loader on its thread produces is refused") {
  test::RedisServer redis;
  Cache cache = test::open_cache(redis);
  Result<std::string> innermost;
  auto outer = cache.get_or_load(test::ctx(), "a", [&](const Context&, std::string_view) {
    auto b = cache.get_or_load(test::ctx(), "b", [&](const Context&, std::string_view) {
      innermost = cache.get(test::ctx_with_timeout(5s), "a");
      return Result<std::string>("vb");
    });
    return Result<std::string>(b ? "va" : "b failed");
  });
  CHECK(outer == "va");
  REQUIRE_FALSE(innermost);
  CHECK(innermost.error() == errc::invalid_argument);
  CHECK(cache.get(test::ctx(), "b") == "vb");
}

TEST_CASE("a batch loader reading a key of its batch is refused") {
  test::RedisServer redis;
  Cache cache = test::open_cache(redis);
  const std::vector<std::string_view> keys{"a", "b", "c"};
  std::vector<Result<std::string>> inner;
  auto r = cache.get_or_load_many(test::ctx(), keys,
                                  [&](const Context&, std::span<const std::string_view> asked)
                                      -> Result<std::vector<Result<tiercache::Loaded>>> {
                                    for (const std::string_view k : keys)
                                      inner.push_back(cache.get(test::ctx_with_timeout(5s), k));
                                    std::vector<Result<tiercache::Loaded>> out;
                                    for (const std::string_view k : asked)
                                      out.emplace_back(tiercache::Loaded(std::string(k)));
                                    return out;
                                  });
  REQUIRE(r);
  REQUIRE(r->size() == 3);
  CHECK((*r)[0] == "a");
  CHECK((*r)[2] == "c");
  REQUIRE(inner.size() == 3);
  for (const auto& i : inner) {
    REQUIRE_FALSE(i);
    CHECK(i.error() == errc::invalid_argument);
  }
}
