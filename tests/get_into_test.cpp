// get_into with an L2: the miss path counts like get() does (issue 8, defect 11).
#include <array>
#include <chrono>
#include <string>
#include <string_view>

#include "tests/support/redis_cache.hpp"

using tiercache::Cache;
using tiercache::errc;
using namespace std::chrono_literals;

TEST_CASE("get_into that misses L1 and hits L2 counts exactly one L1 miss", "[redis]") {
  test::RedisServer redis;
  Cache cache = test::open_cache(redis);
  REQUIRE(redis.command({"SET", "k", "value"}) == "+OK");
  // The SET's invalidation must arrive first: heard during the read, it would keep the value
  // out of L1 (the fill race guard) and the second read below would miss.
  test::wait_until_heard(cache, "the SET's invalidation is heard");

  std::array<char, 16> out{};
  auto n = cache.get_into(test::ctx_with_timeout(2s), "k", out);
  REQUIRE(n.has_value());
  CHECK(std::string_view(out.data(), *n) == "value");
  auto s = cache.stats();
  CHECK(s.l1_misses == 1);
  CHECK(s.l1_hits == 0);
  CHECK(s.l2_hits == 1);

  // Now in L1: one hit and no further miss.
  const auto misses = s.l1_misses;
  REQUIRE(cache.get_into(test::ctx(), "k", out) == 5u);
  s = cache.stats();
  CHECK(s.l1_misses == misses);
  CHECK(s.l1_hits == 1);
}

TEST_CASE("get into a caller's string answers from L2 on a miss, then from L1", "[redis]") {
  test::RedisServer redis;
  Cache cache = test::open_cache(redis);
  REQUIRE(redis.command({"SET", "k", "value"}) == "+OK");
  test::wait_until_heard(cache, "the SET's invalidation is heard");
  std::string out = "old";
  REQUIRE(cache.get(test::ctx_with_timeout(2s), "k", out));
  CHECK(out == "value");
  CHECK(cache.stats().l2_hits == 1);
  out.clear();
  REQUIRE(cache.get(test::ctx(), "k", out));
  CHECK(out == "value");
  CHECK(cache.stats().l1_hits == 1);
  auto absent = cache.get(test::ctx_with_timeout(2s), "absent", out);
  REQUIRE_FALSE(absent);
  CHECK(absent.error() == errc::not_found);
  CHECK(out == "value");
}

TEST_CASE("get_into of a key in neither tier counts exactly one L1 miss", "[redis]") {
  test::RedisServer redis;
  Cache cache = test::open_cache(redis);
  std::array<char, 16> out{};
  auto n = cache.get_into(test::ctx_with_timeout(2s), "absent", out);
  REQUIRE_FALSE(n.has_value());
  CHECK(n.error() == errc::not_found);
  const auto s = cache.stats();
  CHECK(s.l1_misses == 1);
  CHECK(s.l2_misses == 1);
}
