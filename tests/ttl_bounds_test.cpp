// TTLs at their bounds (issue 8, defects 10 and 12): the largest TTL a caller can name is either
// refused at the call or stored so that Redis keeps it, and "expires now" is never taken for
// "never expires" on the way from Redis into L1.
#include <chrono>
#include <string>

#include "tests/support/redis_cache.hpp"

using tiercache::Cache;
using tiercache::errc;
using tiercache::Options;
using namespace std::chrono_literals;

namespace {

constexpr auto kMaxTtl = std::chrono::milliseconds::max();

std::string describe(const tiercache::Result<void>& r) {
  return r ? std::string("ok") : r.error().detail;
}

}  // namespace

TEST_CASE("a set with a TTL of milliseconds::max() is refused or replaces the old value in Redis",
          "[redis]") {
  test::RedisServer redis;
  Cache cache = test::open_cache(redis);
  REQUIRE(redis.command({"SET", "k", "old"}) == "+OK");

  auto r = cache.set(test::ctx(), "k", "new", kMaxTtl);
  INFO("set: " << describe(r));
  if (!r) {
    CHECK(r.error() == errc::invalid_argument);
    CHECK(redis.command({"GET", "k"}) == "old");
    return;
  }
  REQUIRE(cache.flush(test::ctx_with_timeout(5s)));
  CHECK(redis.command({"GET", "k"}) == "new");
  CHECK(cache.stats().write_errors.total() == 0);
}

TEST_CASE("Options.default_ttl of milliseconds::max() is refused at open or its sets reach Redis",
          "[redis]") {
  test::RedisServer redis;
  Options options;
  options.redis.url = redis.url();
  options.default_ttl = kMaxTtl;
  auto opened = Cache::open(options);
  if (!opened) {
    CHECK(opened.error() == errc::invalid_argument);
    return;
  }
  Cache& cache = *opened;
  REQUIRE(redis.command({"SET", "k", "old"}) == "+OK");
  auto r = cache.set(test::ctx(), "k", "new");
  INFO("set: " << describe(r));
  REQUIRE(r);
  REQUIRE(cache.flush(test::ctx_with_timeout(5s)));
  CHECK(redis.command({"GET", "k"}) == "new");
  CHECK(cache.stats().write_errors.total() == 0);
}

TEST_CASE("a key read from Redis in its last millisecond is not served from L1 after it expired",
          "[redis]") {
  test::RedisServer redis;
  // default_ttl 0: an L1 fill without a TTL is forever. Invalidation off: only the TTL the fill
  // took may end L1's copy (Redis's expiry message would drop it whatever that TTL was).
  tiercache::Options o;
  o.redis.invalidation = tiercache::InvalidationMode::off;
  Cache cache = test::open_cache(redis, o);
  constexpr int kKeys = 10;
  int served_after_expiry = 0;
  for (int i = 0; i < kKeys; ++i) {
    const std::string key = "px30-" + std::to_string(i);
    REQUIRE(redis.command({"SET", key, "v", "PX", "30"}) == "+OK");
    // Read it through the cache, again and again, until Redis no longer has it: the reads near
    // the end see a PTTL of 0 (the key's last millisecond).
    const auto limit = std::chrono::steady_clock::now() + 2s;
    for (int n = 0;; ++n) {
      auto r = cache.get(test::ctx_with_timeout(1s), key);
      if (!r) {
        REQUIRE(r.error() == errc::not_found);
        break;
      }
      if (n % 8 == 7 && redis.command({"EXISTS", key}) == ":0") break;
      if (std::chrono::steady_clock::now() > limit) FAIL("Redis never expired " << key);
    }
    REQUIRE(redis.command({"EXISTS", key}) == ":0");
    if (cache.get(test::ctx_with_timeout(1s), key).has_value()) ++served_after_expiry;
  }
  INFO(served_after_expiry << " of " << kKeys
                           << " keys were served from L1 after Redis expired them");
  CHECK(served_after_expiry == 0);
}
