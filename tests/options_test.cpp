#include "tests/support/test_support.hpp"

using tiercache::Cache;
using tiercache::errc;
using tiercache::Options;

namespace {

std::string refusal(const Options& o) {
  auto cache = Cache::open(o);
  REQUIRE_FALSE(cache.has_value());
  CHECK(cache.error() == errc::invalid_argument);
  return cache.error().detail;
}

}  // namespace

TEST_CASE("open refuses invalid options and names the field") {
  CHECK_THAT(refusal({.l1 = {.max_bytes = 0}}), Catch::Contains("Options.l1.max_bytes is 0"));
  CHECK_THAT(refusal({.l1 = {.max_key_bytes = 0}}), Catch::Contains("Options.l1.max_key_bytes"));
  CHECK_THAT(refusal({.l1 = {.max_key_bytes = 70000}}), Catch::Contains("max_key_bytes is 70000"));
  CHECK_THAT(refusal({.l1 = {.shards = 3}}), Catch::Contains("Options.l1.shards is 3"));
  CHECK_THAT(refusal({.l1 = {.shards = 2048}}), Catch::Contains("Options.l1.shards"));
  CHECK_THAT(refusal({.l1 = {.expected_entry_bytes = 0}}),
             Catch::Contains("Options.l1.expected_entry_bytes"));
  CHECK_THAT(refusal({.default_ttl = std::chrono::milliseconds(-1)}),
             Catch::Contains("Options.default_ttl is -1ms"));
  CHECK_THAT(refusal({.l1 = {.max_bytes = 1 << 20, .max_value_bytes = 2 << 20}}),
             Catch::Contains("exceed Options.l1.max_bytes"));
  CHECK_THAT(refusal({.l1 = {.max_bytes = 4 << 20, .max_value_bytes = 1 << 20, .shards = 8}}),
             Catch::Contains("one shard's part"));
  CHECK_THAT(refusal({.l1 = {.max_entries = 3, .shards = 4}}),
             Catch::Contains("Options.l1.max_entries is 3"));
}

TEST_CASE("open fills in the automatic shard count and reports the effective options") {
  Cache small = test::open_cache({.l1 = {.max_bytes = 1 << 20, .max_value_bytes = 1024}});
  CHECK(small.options().l1.shards == 1);
  Cache big = test::open_cache({.l1 = {.max_bytes = 256 << 20}});
  CHECK(big.options().l1.shards == 64);
  // A large max_value_bytes gets fewer, larger shards rather than a refusal.
  Cache wide = test::open_cache({.l1 = {.max_bytes = 8 << 20, .max_value_bytes = 3 << 20}});
  CHECK(wide.options().l1.shards == 2);
  CHECK_THAT(tiercache::to_string(big.options()), Catch::Contains("l1.shards=64"));
}
