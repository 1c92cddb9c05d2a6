// The miss protocol between callers of one key (issue 8, defects 5 and 7): a get_or_load that
// joins a load always gets a loaded value when its loader could produce one, and a load that
// every caller left leaves nothing behind in the table.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <thread>

#include "tests/support/redis_cache.hpp"

using tiercache::Cache;
using tiercache::Context;
using tiercache::errc;
using tiercache::L2DownPolicy;
using tiercache::Options;
using tiercache::Result;
using namespace std::chrono_literals;

namespace {

std::string describe(const Result<std::string>& r) {
  if (r) return "\"" + *r + "\"";
  return "(" + r.error().code.message() + (r.error().detail.empty() ? "" : ": ") +
         r.error().detail + ")";
}

// How the plain get()'s L2 read ends.
enum class L2Read {
  answers,  // Redis answers once resumed: the key is absent
  fails,    // Redis stays paused until the read timed out (command_timeout)
};

// Holds a plain get()'s L2 read in a paused Redis, lets a get_or_load join that load, then lets
// the read end as `read` says. Returns what the get_or_load got. The get() claims the load right
// after its L1 miss is counted, which the joiner (started only then) waits for.
Result<std::string> join_a_plain_get(test::RedisServer& redis, Cache& cache, const std::string& key,
                                     L2Read read, std::atomic<int>& loader_calls) {
  const tiercache::CacheStats before = cache.stats();
  redis.pause();
  Result<std::string> plain;
  Result<std::string> joined;
  {
    std::jthread leader([&] { plain = cache.get(test::ctx_with_timeout(10s), key); });
    test::wait_until(
        5s, [&] { return cache.stats().l1_misses > before.l1_misses; },
        "the plain get misses L1 and leads the load");
    std::jthread joiner([&] {
      joined = cache.get_or_load(test::ctx_with_timeout(10s), key,
                                 [&](const Context&, std::string_view) -> Result<std::string> {
                                   ++loader_calls;
                                   return std::string("loaded");
                                 });
    });
    test::wait_until(
        5s, [&] { return cache.stats().coalesced > before.coalesced || loader_calls > 0; },
        "the get_or_load joins the load (or runs its loader)");
    // It joined: with Redis held, a loader run now ran without the plain get's read (unless that
    // read already failed, which the L2-down case lets happen if this thread stalls).
    CHECK(cache.stats().coalesced == before.coalesced + 1);
    CHECK((loader_calls == 0 || cache.stats().l2_errors.total() > before.l2_errors.total()));
    if (read == L2Read::fails)
      test::wait_until(
          5s, [&] { return cache.stats().l2_errors.total() > before.l2_errors.total(); },
          "the plain get's L2 read times out");
    redis.resume();
  }
  UNSCOPED_INFO(key << ": get " << describe(plain) << ", get_or_load " << describe(joined));
  return joined;
}

}  // namespace

TEST_CASE("a get_or_load that joins a load led by a plain get runs its loader and gets its value",
          "[redis]") {
  test::RedisServer redis;
  Options options;
  options.redis.url = redis.url();
  // Long enough that the held read never times out: the key is simply absent from Redis.
  options.redis.command_timeout = 5s;
  Cache cache = test::open_cache(options);
  constexpr int kTrials = 10;
  int not_loaded = 0;
  for (int trial = 0; trial < kTrials; ++trial) {
    std::atomic<int> loader_calls{0};
    auto joined = join_a_plain_get(redis, cache, "joined-" + std::to_string(trial), L2Read::answers,
                                   loader_calls);
    if (joined != "loaded" || loader_calls != 1) ++not_loaded;
  }
  CHECK(not_loaded == 0);
}

TEST_CASE(
    "under L2DownPolicy::load a get_or_load that joins a plain get whose L2 read failed "
    "runs its loader",
    "[redis][fault]") {
  test::RedisServer redis;
  Options options;
  options.redis.url = redis.url();
  // The held read fails with timeout: L2 is "down" for this miss.
  options.redis.command_timeout = 300ms;
  options.redis.reconnect_backoff_max = 50ms;
  options.when_l2_down = L2DownPolicy::load;
  Cache cache = test::open_cache(options);
  constexpr int kTrials = 5;
  int not_loaded = 0;
  for (int trial = 0; trial < kTrials; ++trial) {
    // The read connection is up again (a timeout drops it) before Redis is paused.
    test::wait_until(
        5s,
        [&] {
          auto r = cache.get(test::ctx_with_timeout(1s), "probe-" + std::to_string(trial));
          return !r && r.error() == errc::not_found;
        },
        "Redis answers reads");
    std::atomic<int> loader_calls{0};
    auto joined = join_a_plain_get(redis, cache, "down-" + std::to_string(trial), L2Read::fails,
                                   loader_calls);
    if (joined != "loaded" || loader_calls != 1) ++not_loaded;
  }
  CHECK(not_loaded == 0);
}

TEST_CASE(
    "a load whose leader and only waiter both leave at their deadline leaves no loading "
    "entry behind",
    "[concurrency]") {
  Cache cache = test::open_cache();
  constexpr int kKeys = 40;
  int joined_in_time = 0;
  int stranded = 0;
  int waiter_loads = 0;
  for (int i = 0; i < kKeys; ++i) {
    const std::string key = "abandoned-" + std::to_string(i);
    const std::uint64_t coalesced_before = cache.stats().coalesced;
    // One deadline for both callers: the leader gives up at it (handing the load to the waiter)
    // and the waiter's own wait ends at it too, so the waiter leaves instead of taking over.
    const Context shared = Context::background().with_timeout(40ms);
    std::atomic<bool> loading{false};
    std::atomic<int> waiter_calls{0};
    // Busy until the context ends, so the leader sees its deadline at once; the waiter sleeps
    // on the same deadline and wakes a little after it (timer slack), to find the hand-off.
    auto until_deadline = [&](const Context& c, std::string_view) -> Result<std::string> {
      loading = true;
      while (!c.done()) {
      }
      return tiercache::fail(errc::timeout, "origin: no answer before the deadline");
    };
    auto quick = [&](const Context&, std::string_view) -> Result<std::string> {
      ++waiter_calls;
      return std::string("waiter's");
    };
    Result<std::string> leader_result;
    Result<std::string> waiter_result;
    std::atomic<bool> leader_returned{false};
    {
      std::jthread leader([&] {
        leader_result = cache.get_or_load(shared, key, until_deadline);
        leader_returned = true;
      });
      test::wait_until(
          10s, [&] { return loading.load() || leader_returned.load(); },
          "the leader's loader runs or the leader returns");
      // A leader that starts after the shared deadline (a loaded machine) returns without loading:
      // there is no load to leave behind, so this key tests nothing.
      if (!loading) continue;
      std::jthread waiter([&] { waiter_result = cache.get_or_load(shared, key, quick); });
    }
    if (cache.stats().coalesced > coalesced_before) ++joined_in_time;
    waiter_loads += waiter_calls;
    CHECK_FALSE(leader_result.has_value());

    // Nobody loads the key now: the next caller must lead a load of its own, not join one. (A
    // stranded loading entry is in neither stats().entries nor bytes; its one public trace is
    // that the next caller joins it, which counts as coalesced.)
    const std::uint64_t coalesced_after = cache.stats().coalesced;
    auto probe = cache.get_or_load(
        test::ctx_with_timeout(1s), key,
        [](const Context&, std::string_view) { return Result<std::string>("probe"); });
    // (Or a hit on what the waiter loaded, had it taken the load over after all.)
    CHECK((probe == "probe" || probe == "waiter's"));
    if (cache.stats().coalesced != coalesced_after) ++stranded;
  }
  INFO(joined_in_time << " of " << kKeys << " waiters joined before the deadline; " << stranded
                      << " keys kept a loading entry nobody led; the waiter loaded " << waiter_loads
                      << " times");
  REQUIRE(joined_in_time > 0);
  CHECK(stranded == 0);
}
