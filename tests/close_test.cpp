// Cache::close: what is queued reaches L2 first, then every call answers closed and changes
// nothing.
#include <string>

#include "tests/support/redis_cache.hpp"

using tiercache::Cache;
using tiercache::errc;
using namespace std::chrono_literals;

namespace {

void check_every_call_closed(Cache& cache) {
  auto loader = [](const tiercache::Context&, std::string_view) {
    return tiercache::Result<std::string>("loaded");
  };
  CHECK(cache.get(test::ctx(), "k").error() == errc::closed);
  char buf[8];
  CHECK(cache.get_into(test::ctx(), "k", buf).error() == errc::closed);
  CHECK(cache.set(test::ctx(), "k", "v").error() == errc::closed);
  CHECK(cache.set(test::ctx(), "k", "v", 1s).error() == errc::closed);
  CHECK(cache.purge(test::ctx(), "k").error() == errc::closed);
  CHECK(cache.get_or_load(test::ctx(), "k", loader).error() == errc::closed);
  CHECK(cache.flush(test::ctx()).error() == errc::closed);
  CHECK_THAT(cache.get(test::ctx(), "k").error().detail, Catch::Contains("closed"));
}

}  // namespace

TEST_CASE("close sends every queued write to Redis, then every call answers closed", "[redis]") {
  test::RedisServer redis;
  Cache cache = test::open_cache(redis);
  for (int i = 0; i < 100; ++i)
    REQUIRE(cache.set(test::ctx(), "k" + std::to_string(i), "v" + std::to_string(i)));
  REQUIRE(cache.close(test::ctx_with_timeout(5s)));
  CHECK(redis.command({"DBSIZE"}) == ":100");
  check_every_call_closed(cache);
  // Nothing a refused call asked for happened.
  CHECK(redis.command({"EXISTS", "k"}) == ":0");
  // Closing again only flushes again.
  CHECK(cache.close(test::ctx_with_timeout(1s)).has_value());
  CHECK(cache.stats().entries == 100);
}

TEST_CASE("close on an L1-only cache refuses later calls and keeps what it held") {
  Cache cache = test::open_cache();
  REQUIRE(cache.set(test::ctx(), "kept", "v"));
  REQUIRE(cache.close(test::ctx()));
  check_every_call_closed(cache);
  CHECK(cache.stats().entries == 1);
}

TEST_CASE("close whose flush cannot finish answers timeout; the cache is closed anyway",
          "[redis][fault]") {
  test::RedisServer redis;
  Cache cache = test::open_cache(redis);
  redis.kill();
  REQUIRE(cache.set(test::ctx(), "k", "v"));
  auto closed = cache.close(test::ctx_with_timeout(100ms));
  REQUIRE_FALSE(closed);
  CHECK(closed.error() == errc::timeout);
  CHECK(cache.get(test::ctx(), "k").error() == errc::closed);
  // The write is still queued; it lands if Redis comes back before the cache is destroyed.
  redis.restart();
  REQUIRE(cache.close(test::ctx_with_timeout(5s)));
  CHECK(redis.command({"GET", "k"}) == "v");
}
