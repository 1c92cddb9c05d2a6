#include "tests/support/test_support.hpp"

using tiercache::Cache;
using tiercache::errc;
using namespace std::chrono_literals;

TEST_CASE("an entry with a per-call TTL expires and then reads as not_found") {
  Cache cache = test::open_cache();
  REQUIRE(cache.set(test::ctx(), "short", "v", 300ms));
  REQUIRE(cache.set(test::ctx(), "forever", "v"));
  CHECK(cache.get(test::ctx(), "short") == "v");
  test::wait_until(
      2s, [&] { return !cache.get(test::ctx(), "short").has_value(); }, "the 300 ms entry expires");
  CHECK(cache.get(test::ctx(), "short").error() == errc::not_found);
  CHECK(cache.get(test::ctx(), "forever") == "v");
}

TEST_CASE("an entry does not expire before its TTL, give or take one clock tick") {
  Cache cache = test::open_cache();
  const auto start = std::chrono::steady_clock::now();
  REQUIRE(cache.set(test::ctx(), "k", "v", 200ms));
  while (cache.get(test::ctx(), "k").has_value()) std::this_thread::sleep_for(1ms);
  // The coarse clock ticks at most every 4 ms (CONFIG_HZ=250); allow two ticks.
  CHECK(std::chrono::steady_clock::now() - start >= 192ms);
}

TEST_CASE("default_ttl applies to set without a TTL and to get_or_load fills") {
  Cache cache = test::open_cache({.default_ttl = 30ms});
  REQUIRE(cache.set(test::ctx(), "set", "v"));
  auto loaded = cache.get_or_load(test::ctx(), "loaded", [](auto&, std::string_view) {
    return tiercache::Result<std::string>("v");
  });
  REQUIRE(loaded);
  test::wait_until(
      2s,
      [&] {
        return !cache.get(test::ctx(), "set").has_value() &&
               !cache.get(test::ctx(), "loaded").has_value();
      },
      "both default-TTL entries expire");
}

TEST_CASE("a per-call TTL overrides default_ttl") {
  Cache cache = test::open_cache({.default_ttl = 20ms});
  REQUIRE(cache.set(test::ctx(), "long", "v", 1h));
  REQUIRE(cache.set(test::ctx(), "short", "v"));
  test::wait_until(
      2s, [&] { return !cache.get(test::ctx(), "short").has_value(); },
      "the default-TTL entry expires");
  CHECK(cache.get(test::ctx(), "long") == "v");
}

TEST_CASE("the CLOCK sweep reclaims expired entries before unexpired ones") {
  Cache cache = test::open_cache(
      {.l1 = {.max_bytes = 1 << 20, .max_entries = 4, .max_value_bytes = 1024, .shards = 1}});
  REQUIRE(cache.set(test::ctx(), "a", "v"));
  REQUIRE(cache.set(test::ctx(), "b", "v", 20ms));
  REQUIRE(cache.set(test::ctx(), "c", "v"));
  REQUIRE(cache.set(test::ctx(), "d", "v"));
  for (const char* k : {"a", "c", "d"}) (void)cache.get(test::ctx(), k);
  test::wait_until(
      2s, [&] { return !cache.get(test::ctx(), "b").has_value(); }, "b expires");
  REQUIRE(cache.set(test::ctx(), "e", "v"));
  const auto s = cache.stats();
  CHECK(s.expirations == 1);
  CHECK(s.evictions == 0);
  for (const char* k : {"a", "c", "d", "e"}) CHECK(cache.get(test::ctx(), k) == "v");
}
