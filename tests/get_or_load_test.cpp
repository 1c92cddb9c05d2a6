#include <atomic>
#include <latch>
#include <stdexcept>
#include <stop_token>
#include <thread>
#include <vector>

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
