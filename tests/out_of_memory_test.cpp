// What a failed allocation leaves behind: a call that throws std::bad_alloc changed nothing, in
// L1 or on its way to L2, and the cache's invariants hold.
#include <condition_variable>
#include <mutex>
#include <new>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/failing_allocation.hpp"
#include "tests/support/redis_cache.hpp"

using tiercache::Cache;
using namespace std::chrono_literals;

namespace {

constexpr int kKeys = 20000;

// Sets kKeys keys, every other one with its first allocation of 4 KiB or more failing (whatever
// grows then: the pending records, the index, a CLOCK, the sketch); checks that each set that
// threw reached neither L1 nor Redis, and that the rest all did.
void set_while_growth_fails(tiercache::Options options) {
  test::RedisServer redis;
  // The sets come faster than Redis takes them: they wait for room rather than fail.
  options.writer.when_full = tiercache::QueueFullPolicy::wait;
  Cache cache = test::open_cache(redis, options);
  std::vector<std::string> refused;
  for (int i = 0; i < kKeys; ++i) {
    const std::string key = "k" + std::to_string(i);
    bool threw = false;
    tiercache::Result<void> r;
    {
      // Every other set: the growth one of them needs fails, and the next one grows.
      test::FailNextLargeAllocation fail(i % 2 == 0 ? 4096 : SIZE_MAX);
      try {
        r = cache.set(test::ctx(), key, "v");
      } catch (const std::bad_alloc&) {
        threw = true;
      }
    }
    INFO(key << ": " << (r ? "" : r.error().detail));
    if (threw)
      refused.push_back(key);
    else
      REQUIRE(r);
  }
  INFO(refused.size() << " sets ran out of memory");
  REQUIRE_FALSE(refused.empty());
  REQUIRE(test::invariants_hold(cache));
  REQUIRE(cache.flush(test::ctx_with_timeout(10s)));
  CHECK(redis.command({"DBSIZE"}) == ":" + std::to_string(kKeys - refused.size()));
  for (const std::string& key : refused) {
    INFO(key);
    CHECK(redis.command({"EXISTS", key}) == ":0");
    CHECK(cache.get(test::ctx_with_timeout(5s), key).error() == tiercache::errc::not_found);
  }
  // And the cache goes on: the next set of each takes.
  for (const std::string& key : refused) REQUIRE(cache.set(test::ctx(), key, "v"));
  REQUIRE(cache.flush(test::ctx_with_timeout(10s)));
  CHECK(redis.command({"DBSIZE"}) == ":" + std::to_string(kKeys));
  CHECK(test::invariants_hold(cache));
}

}  // namespace

TEST_CASE("a set that runs out of memory while L1 grows never reaches Redis", "[oom][redis]") {
  // One shard with room for every key, sized for far fewer (large entries expected): its index,
  // CLOCK and sketch grow as keys come.
  set_while_growth_fails(
      {.l1 = {.max_bytes = 64 << 20, .shards = 1, .expected_entry_bytes = 64 << 10}});
}

TEST_CASE("a set that runs out of memory while L1 evicts never reaches Redis", "[oom][redis]") {
  // Room for a tenth of the keys: every set evicts, moving window entries into a main CLOCK that
  // grows to its share.
  set_while_growth_fails({.l1 = {.max_bytes = 64 << 20,
                                 .max_entries = kKeys / 10,
                                 .shards = 1,
                                 .expected_entry_bytes = 64 << 10}});
}

// The next two tests leak, if they do, what LeakSanitizer reports at exit (the ASan leg).

TEST_CASE("a miss that runs out of memory for its loading entry strands nothing", "[oom]") {
  Cache cache = test::open_cache(tiercache::Options{});
  const std::string key(500, 'k');  // its loading entry is the call's first allocation this big
  const tiercache::Loader loader = [](const tiercache::Context&, std::string_view) {
    return tiercache::Result<std::string>("v");
  };
  bool threw = false;
  {
    test::FailNextLargeAllocation fail(400);
    try {
      (void)cache.get_or_load(test::ctx(), key, loader);
    } catch (const std::bad_alloc&) {
      threw = true;
    }
    REQUIRE(fail.fired());
  }
  CHECK(threw);
  CHECK(test::invariants_hold(cache));
  // Nothing of the failed claim is left in the cell: the next call loads and caches the key.
  CHECK(cache.get_or_load(test::ctx(), key, loader) == "v");
  CHECK(cache.get(test::ctx(), key) == "v");
}

TEST_CASE("a waiter that runs out of memory copying the leader's value leaves it to the others",
          "[oom]") {
  Cache cache = test::open_cache(tiercache::Options{});
  std::mutex mu;
  std::condition_variable cv;
  bool go = false;
  const tiercache::Loader loader = [&](const tiercache::Context&, std::string_view) {
    std::unique_lock lock(mu);
    cv.wait_for(lock, 10s, [&] { return go; });
    return tiercache::Result<std::string>(std::string(100'000, 'v'));
  };
  tiercache::Result<std::string> led;
  std::jthread leader([&] { led = cache.get_or_load(test::ctx(), "k", loader); });
  test::wait_until(
      10s, [&] { return cache.stats().loads == 1; }, "the leader loads");
  bool threw = false;
  bool fired = false;
  std::jthread waiter([&] {
    test::FailNextLargeAllocation fail(50'000);  // only the copy of the value is this big
    try {
      (void)cache.get_or_load(test::ctx(), "k", loader);
    } catch (const std::bad_alloc&) {
      threw = true;
    }
    fired = fail.fired();
  });
  test::wait_until(
      10s, [&] { return cache.stats().coalesced == 1; }, "the waiter joins");
  {
    std::lock_guard lock(mu);
    go = true;
  }
  cv.notify_all();
  leader.join();
  waiter.join();
  CHECK(fired);
  CHECK(threw);
  CHECK(led == std::string(100'000, 'v'));
  CHECK(cache.get(test::ctx(), "k") == std::string(100'000, 'v'));
  CHECK(test::invariants_hold(cache));
}

TEST_CASE("open that runs out of memory building the tiers answers overloaded", "[oom]") {
  // std::bad_alloc from a shard's index or CLOCK escaped Cache::open.
  tiercache::Options options{.l1 = {.max_bytes = 64 << 20, .shards = 1}};
  {
    test::FailNextLargeAllocation fail(64 << 10);
    tiercache::Result<Cache> refused = Cache::open(options);
    REQUIRE(fail.fired());
    REQUIRE_FALSE(refused.has_value());
    CHECK(refused.error() == tiercache::errc::overloaded);
    CHECK_THAT(refused.error().detail, Catch::Contains("open: out of memory"));
  }
  // Nothing was kept: the same options open once memory is there.
  Cache cache = test::open_cache(options);
  REQUIRE(cache.set(test::ctx(), "k", "v"));
  CHECK(cache.get(test::ctx(), "k").value_or("") == "v");
}
