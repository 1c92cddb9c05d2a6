#include <array>
#include <string>

#include "tests/support/test_support.hpp"

using tiercache::Cache;
using tiercache::errc;
using namespace std::string_literals;
using namespace std::chrono_literals;

TEST_CASE("a set value is read back; an absent key is not_found") {
  Cache cache = test::open_cache();
  REQUIRE(cache.set(test::ctx(), "k", "v"));
  CHECK(cache.get(test::ctx(), "k") == "v");
  auto missing = cache.get(test::ctx(), "other");
  REQUIRE_FALSE(missing);
  CHECK(missing.error() == errc::not_found);
}

TEST_CASE("an overwrite replaces the value and keeps one entry") {
  Cache cache = test::open_cache();
  REQUIRE(cache.set(test::ctx(), "k", "first"));
  REQUIRE(cache.set(test::ctx(), "k", "second, longer"));
  CHECK(cache.get(test::ctx(), "k") == "second, longer");
  CHECK(cache.stats().entries == 1);
  CHECK(test::invariants_hold(cache));
}

TEST_CASE("purge removes the key and succeeds when it is absent") {
  Cache cache = test::open_cache();
  REQUIRE(cache.set(test::ctx(), "k", "v"));
  REQUIRE(cache.purge(test::ctx(), "k"));
  CHECK(cache.get(test::ctx(), "k").error() == errc::not_found);
  CHECK(cache.purge(test::ctx(), "k"));
  CHECK(cache.stats().entries == 0);
  CHECK(cache.stats().bytes == 0);
}

TEST_CASE("binary keys and values with NUL, CRLF and non-UTF-8 bytes round-trip") {
  Cache cache = test::open_cache();
  const std::string key = "k\r\n\0z\xff"s;
  const std::string value = "\0\r\n\xc3\x28 end"s;
  REQUIRE(cache.set(test::ctx(), key, value));
  CHECK(cache.get(test::ctx(), key) == value);
  // The prefix before the NUL is another key.
  CHECK(cache.get(test::ctx(), "k\r\n"s).error() == errc::not_found);
}

TEST_CASE("empty values are values") {
  Cache cache = test::open_cache();
  REQUIRE(cache.set(test::ctx(), "k", ""));
  CHECK(cache.get(test::ctx(), "k") == "");
}

TEST_CASE("get_into copies into the caller's buffer and names the size one too small needs") {
  Cache cache = test::open_cache();
  REQUIRE(cache.set(test::ctx(), "k", "hello"));
  std::array<char, 8> buf{};
  auto n = cache.get_into(test::ctx(), "k", buf);
  REQUIRE(n);
  CHECK(std::string(buf.data(), *n) == "hello");
  std::array<char, 3> small{'x', 'x', 'x'};
  auto refused = cache.get_into(test::ctx(), "k", small);
  REQUIRE_FALSE(refused);
  CHECK(refused.error() == errc::buffer_too_small);
  CHECK(refused.error().needed_bytes == 5);
  CHECK_THAT(refused.error().detail, Catch::Contains("value is 5 bytes; buffer is 3"));
  CHECK(std::string(small.data(), 3) == "xxx");
  CHECK(cache.get_into(test::ctx(), "absent", buf).error() == errc::not_found);
}

TEST_CASE("get into a caller's string reuses its storage; an error leaves it as it was") {
  Cache cache = test::open_cache();
  REQUIRE(cache.set(test::ctx(), "k", std::string(100, 'a')));
  REQUIRE(cache.set(test::ctx(), "short", "b"));
  std::string out;
  out.reserve(200);
  const char* storage = out.data();
  REQUIRE(cache.get(test::ctx(), "k", out));
  CHECK(out == std::string(100, 'a'));
  REQUIRE(cache.get(test::ctx(), "short", out));
  CHECK(out == "b");
  REQUIRE(cache.get(test::ctx(), "k", out));
  CHECK(out.size() == 100);
  CHECK(out.data() == storage);  // no allocation: the same buffer each time

  auto missing = cache.get(test::ctx(), "absent", out);
  REQUIRE_FALSE(missing);
  CHECK(missing.error() == errc::not_found);
  CHECK(out == std::string(100, 'a'));
  CHECK(cache.get(test::ctx(), std::string(1000, 'k'), out).error() == errc::invalid_argument);
  CHECK(out == std::string(100, 'a'));
}

TEST_CASE("bad input gets invalid_argument and changes nothing") {
  Cache cache = test::open_cache({.l1 = {.max_key_bytes = 8, .max_value_bytes = 16}});
  REQUIRE(cache.set(test::ctx(), "k", "kept"));
  const auto before = cache.stats();

  auto empty_key = cache.set(test::ctx(), "", "v");
  REQUIRE_FALSE(empty_key);
  CHECK(empty_key.error() == errc::invalid_argument);
  CHECK_THAT(empty_key.error().detail, Catch::Contains("set: key is empty"));

  auto long_key = cache.set(test::ctx(), "123456789", "v");
  CHECK(long_key.error() == errc::invalid_argument);
  CHECK_THAT(long_key.error().detail,
             Catch::Contains("key is 9 bytes; Options.l1.max_key_bytes is 8"));

  auto long_value = cache.set(test::ctx(), "k", std::string(17, 'x'));
  CHECK(long_value.error() == errc::invalid_argument);
  CHECK_THAT(long_value.error().detail, Catch::Contains("value is 17 bytes"));

  CHECK(cache.set(test::ctx(), "k", "v", 0ms).error() == errc::invalid_argument);
  CHECK(cache.set(test::ctx(), "k", "v", -5ms).error() == errc::invalid_argument);
  CHECK(cache.get(test::ctx(), "").error() == errc::invalid_argument);
  CHECK(cache.purge(test::ctx(), "123456789").error() == errc::invalid_argument);
  CHECK(cache.get_or_load(test::ctx(), "k2", nullptr).error() == errc::invalid_argument);

  CHECK(cache.get(test::ctx(), "k") == "kept");
  CHECK(cache.stats().entries == before.entries);
  CHECK(cache.stats().bytes == before.bytes);
}

TEST_CASE("a key at exactly max_key_bytes and a value at max_value_bytes are accepted") {
  Cache cache = test::open_cache({.l1 = {.max_key_bytes = 8, .max_value_bytes = 16}});
  REQUIRE(cache.set(test::ctx(), "12345678", std::string(16, 'v')));
  CHECK(cache.get(test::ctx(), "12345678") == std::string(16, 'v'));
}

TEST_CASE("stats count hits, misses and charge key + value + overhead per entry") {
  Cache cache = test::open_cache();
  REQUIRE(cache.set(test::ctx(), "key", "value"));
  (void)cache.get(test::ctx(), "key");
  (void)cache.get(test::ctx(), "nope");
  const auto s = cache.stats();
  CHECK(s.l1_hits == 1);
  CHECK(s.l1_misses == 1);
  CHECK(s.entries == 1);
  CHECK(s.overhead_bytes_per_entry > 0);
  CHECK(s.bytes == 3 + 5 + s.overhead_bytes_per_entry);
}

TEST_CASE("a moved-from cache's value keeps working in its new place") {
  Cache a = test::open_cache();
  REQUIRE(a.set(test::ctx(), "k", "v"));
  Cache b = std::move(a);
  CHECK(b.get(test::ctx(), "k") == "v");
}
