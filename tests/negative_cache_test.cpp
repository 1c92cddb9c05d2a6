// Negative caching and the TTLs of loaded values: a loader's "no such key" is an answer that
// L1 keeps for Options.negative_ttl (so the origin is asked once, however many callers), a set
// replaces it, a purge or a change heard from L2 ends it; a loader or a get_or_load call may
// give the TTL of what is loaded, and bad TTLs change nothing.
#include <atomic>
#include <future>
#include <latch>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/redis_cache.hpp"

using tiercache::Cache;
using tiercache::Context;
using tiercache::errc;
using tiercache::Loaded;
using tiercache::Result;
using namespace std::chrono_literals;

namespace {

// A loader that counts its calls and answers "no such key".
struct AbsentOrigin {
  std::atomic<int> calls{0};
  tiercache::Loader loader() {
    return [this](const Context&, std::string_view) -> Result<Loaded> {
      ++calls;
      return Loaded::absent();
    };
  }
};

bool is_not_found(const Result<std::string>& r) {
  return !r && r.error() == errc::not_found;
}

}  // namespace

TEST_CASE("a loader's absent answer is cached: 32 threads ask the origin once", "[negative]") {
  Cache cache = test::open_cache({.negative_ttl = 1min});
  constexpr int kThreads = 32;
  constexpr int kCallsEach = 50;
  std::atomic<int> calls{0};
  const tiercache::Loader slow_absent = [&](const Context&, std::string_view) -> Result<Loaded> {
    ++calls;
    std::this_thread::sleep_for(5ms);  // long enough for the others to find the load
    return Loaded::absent();
  };
  std::latch start(kThreads);
  std::atomic<int> not_found{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&] {
      start.arrive_and_wait();
      for (int i = 0; i < kCallsEach; ++i)
        if (is_not_found(cache.get_or_load(test::ctx(), "missing", slow_absent))) ++not_found;
    });
  for (auto& t : threads) t.join();
  CHECK(calls == 1);
  CHECK(not_found == kThreads * kCallsEach);
  const tiercache::CacheStats s = cache.stats();
  CHECK(s.loads == 1);
  CHECK(s.negative_loads == 1);
  CHECK(s.load_failures == 0);
  // Every call but the leader's was answered by the load it waited on or by the negative entry.
  CHECK(s.coalesced + s.negative_hits == kThreads * kCallsEach - 1);
  CHECK(s.entries == 1);
  CHECK(test::invariants_hold(cache));

  // Every read answers not_found from it, without a loader too.
  CHECK(is_not_found(cache.get(test::ctx(), "missing")));
  std::string out = "untouched";
  CHECK(cache.get(test::ctx(), "missing", out).error() == errc::not_found);
  CHECK(out == "untouched");
  char buffer[8];
  CHECK(cache.get_into(test::ctx(), "missing", buffer).error() == errc::not_found);
  CHECK(calls == 1);
}

TEST_CASE("a loader's errc::not_found is the same answer as Loaded::absent()", "[negative]") {
  Cache cache = test::open_cache({.negative_ttl = 1min});
  std::atomic<int> calls{0};
  const tiercache::Loader loader = [&](const Context&, std::string_view) -> Result<Loaded> {
    ++calls;
    return tiercache::fail(errc::not_found, "no such row");
  };
  CHECK(is_not_found(cache.get_or_load(test::ctx(), "k", loader)));
  CHECK(is_not_found(cache.get_or_load(test::ctx(), "k", loader)));
  CHECK(calls == 1);
  CHECK(cache.stats().load_failures == 0);
  CHECK(cache.stats().negative_loads == 1);
}

TEST_CASE("with negative_ttl 0, the default, an absent answer is not cached", "[negative]") {
  Cache cache = test::open_cache();
  AbsentOrigin origin;
  CHECK(is_not_found(cache.get_or_load(test::ctx(), "k", origin.loader())));
  CHECK(is_not_found(cache.get_or_load(test::ctx(), "k", origin.loader())));
  CHECK(origin.calls == 2);
  CHECK(cache.stats().entries == 0);
  CHECK(cache.stats().negative_hits == 0);
}

TEST_CASE("a set replaces a negative entry and a purge removes it", "[negative]") {
  Cache cache = test::open_cache({.negative_ttl = 1min});
  AbsentOrigin origin;
  CHECK(is_not_found(cache.get_or_load(test::ctx(), "k", origin.loader())));
  REQUIRE(cache.set(test::ctx(), "k", "v"));
  CHECK(cache.get_or_load(test::ctx(), "k", origin.loader()) == "v");
  CHECK(cache.get(test::ctx(), "k") == "v");
  CHECK(origin.calls == 1);
  CHECK(cache.stats().entries == 1);

  // Absent again, then purged: the origin is asked again.
  REQUIRE(cache.purge(test::ctx(), "k"));
  CHECK(is_not_found(cache.get_or_load(test::ctx(), "k", origin.loader())));
  CHECK(origin.calls == 2);
  REQUIRE(cache.purge(test::ctx(), "k"));
  CHECK(cache.stats().entries == 0);
  CHECK(is_not_found(cache.get_or_load(test::ctx(), "k", origin.loader())));
  CHECK(origin.calls == 3);
  CHECK(test::invariants_hold(cache));
}

TEST_CASE("a negative entry lasts negative_ttl, or the TTL the loader gave it", "[negative]") {
  SECTION("Options.negative_ttl") {
    Cache cache = test::open_cache({.negative_ttl = 300ms});
    AbsentOrigin origin;
    CHECK(is_not_found(cache.get_or_load(test::ctx(), "k", origin.loader())));
    CHECK(is_not_found(cache.get_or_load(test::ctx(), "k", origin.loader())));
    CHECK(origin.calls == 1);
    test::wait_until(
        3s,
        [&] {
          (void)cache.get_or_load(test::ctx(), "k", origin.loader());
          return origin.calls == 2;
        },
        "the negative entry expires and the origin is asked again");
  }
  SECTION("Loaded::absent(ttl), with negative caching otherwise off") {
    Cache cache = test::open_cache();
    std::atomic<int> calls{0};
    const tiercache::Loader loader = [&](const Context&, std::string_view) -> Result<Loaded> {
      ++calls;
      return Loaded::absent(1min);
    };
    CHECK(is_not_found(cache.get_or_load(test::ctx(), "k", loader)));
    CHECK(is_not_found(cache.get_or_load(test::ctx(), "k", loader)));
    CHECK(calls == 1);
  }
}

TEST_CASE("negative entries are charged and evicted like values", "[negative]") {
  Cache cache = test::open_cache({.l1 = {.max_entries = 64, .shards = 1}, .negative_ttl = 1min});
  AbsentOrigin origin;
  for (int i = 0; i < 1000; ++i) {
    CHECK(is_not_found(
        cache.get_or_load(test::ctx(), "missing:" + std::to_string(i), origin.loader())));
    if (i % 3 == 0) REQUIRE(cache.set(test::ctx(), "present:" + std::to_string(i), "v"));
  }
  const tiercache::CacheStats s = cache.stats();
  CHECK(s.entries <= 64);
  CHECK(s.evictions > 0);
  CHECK(origin.calls == 1000);
  CHECK(test::invariants_hold(cache));
}

TEST_CASE("a loaded value is cached for the loader's TTL, else the call's, else default_ttl") {
  Cache cache = test::open_cache({.default_ttl = 1h});
  const tiercache::Loader plain = [](const Context&, std::string_view) -> Result<Loaded> {
    return Loaded("v");
  };
  const tiercache::Loader with_ttl = [](const Context&, std::string_view) -> Result<Loaded> {
    return Loaded("v", 1h);
  };
  const tiercache::Loader short_ttl = [](const Context&, std::string_view) -> Result<Loaded> {
    return Loaded("v", 200ms);
  };
  REQUIRE(cache.get_or_load(test::ctx(), "call's ttl", plain, 200ms) == "v");
  REQUIRE(cache.get_or_load(test::ctx(), "loader's ttl wins", with_ttl, 200ms) == "v");
  REQUIRE(cache.get_or_load(test::ctx(), "loader's short ttl", short_ttl) == "v");
  REQUIRE(cache.get_or_load(test::ctx(), "default", plain) == "v");
  test::wait_until(
      3s,
      [&] {
        return is_not_found(cache.get(test::ctx(), "call's ttl")) &&
               is_not_found(cache.get(test::ctx(), "loader's short ttl"));
      },
      "the 200 ms values expire");
  CHECK(cache.get(test::ctx(), "loader's ttl wins") == "v");
  CHECK(cache.get(test::ctx(), "default") == "v");
}

TEST_CASE("a bad TTL from a call or a loader is refused and caches nothing") {
  Cache cache = test::open_cache({.negative_ttl = 1min});
  std::atomic<int> calls{0};
  const tiercache::Loader plain = [&](const Context&, std::string_view) -> Result<Loaded> {
    ++calls;
    return Loaded("v");
  };
  CHECK(cache.get_or_load(test::ctx(), "k", plain, 0ms).error() == errc::invalid_argument);
  CHECK(cache.get_or_load(test::ctx(), "k", plain, -1ms).error() == errc::invalid_argument);
  CHECK(cache.get_or_load(test::ctx(), "k", plain, tiercache::kMaxTtl + 1ms).error() ==
        errc::invalid_argument);
  CHECK(calls == 0);

  for (const auto ttl : {0ms, -5ms, tiercache::kMaxTtl + 1ms}) {
    CAPTURE(ttl.count());
    const tiercache::Loader bad_value = [&](const Context&, std::string_view) -> Result<Loaded> {
      ++calls;
      return Loaded("v", ttl);
    };
    const tiercache::Loader bad_absent = [&](const Context&, std::string_view) -> Result<Loaded> {
      ++calls;
      return Loaded::absent(ttl);
    };
    const int before = calls;
    CHECK(cache.get_or_load(test::ctx(), "v", bad_value).error() == errc::invalid_argument);
    CHECK(cache.get_or_load(test::ctx(), "v", bad_value).error() == errc::invalid_argument);
    CHECK(cache.get_or_load(test::ctx(), "a", bad_absent).error() == errc::invalid_argument);
    CHECK(cache.get_or_load(test::ctx(), "a", bad_absent).error() == errc::invalid_argument);
    CHECK(calls == before + 4);
  }
  CHECK(cache.stats().entries == 0);
  CHECK(cache.stats().load_failures == 12);
}

TEST_CASE("Options.negative_ttl out of range is refused at open") {
  for (const auto ttl : {-1ms, tiercache::kMaxTtl + 1ms}) {
    auto cache = Cache::open({.negative_ttl = ttl});
    REQUIRE(!cache);
    CHECK(cache.error() == errc::invalid_argument);
    CHECK(cache.error().detail.find("Options.negative_ttl") != std::string::npos);
  }
}

TEST_CASE("with Redis, a negative entry answers without an L2 read", "[negative][redis]") {
  test::RedisServer redis;
  Cache cache = test::open_cache(redis, {.negative_ttl = 1min});
  AbsentOrigin origin;
  CHECK(is_not_found(cache.get_or_load(test::ctx_with_timeout(2s), "k", origin.loader())));
  const tiercache::CacheStats before = cache.stats();
  CHECK(before.l2_misses == 1);
  CHECK(is_not_found(cache.get(test::ctx_with_timeout(2s), "k")));
  CHECK(is_not_found(cache.get_or_load(test::ctx_with_timeout(2s), "k", origin.loader())));
  const tiercache::CacheStats after = cache.stats();
  CHECK(after.l2_misses == before.l2_misses);
  CHECK(after.l2_hits == before.l2_hits);
  CHECK(after.negative_hits == before.negative_hits + 2);
  CHECK(origin.calls == 1);
}

TEST_CASE("another instance's set ends a negative entry at once", "[negative][redis]") {
  test::RedisServer redis;
  Cache a = test::open_cache(redis, {.negative_ttl = 1h});
  Cache b = test::open_cache(redis, {.writer = {.mode = tiercache::WriteMode::sync}});
  test::wait_until(
      5s, [&] { return a.stats().l2_coherent && b.stats().l2_coherent; }, "both hear changes");
  AbsentOrigin origin;
  CHECK(is_not_found(a.get_or_load(test::ctx_with_timeout(2s), "k", origin.loader())));
  REQUIRE(b.set(test::ctx_with_timeout(2s), "k", "from b"));
  test::wait_until(
      2s,
      [&] { return a.get_or_load(test::ctx_with_timeout(2s), "k", origin.loader()) == "from b"; },
      "A hears B's set and reads it from Redis");
  CHECK(origin.calls == 1);
}

TEST_CASE("with negative_in_l2, another instance answers from the marker without its loader",
          "[negative][redis]") {
  test::RedisServer redis;
  const tiercache::Options with_marker = {
      .redis = {.key_prefix = "app:"}, .negative_ttl = 1min, .negative_in_l2 = true};
  Cache a = test::open_cache(redis, with_marker);
  // B keeps no negative entries of its own: what it knows comes from the marker.
  Cache b = test::open_cache(redis, {.redis = {.key_prefix = "app:"}});
  AbsentOrigin origin;
  CHECK(is_not_found(a.get_or_load(test::ctx_with_timeout(2s), "k", origin.loader())));
  REQUIRE(a.flush(test::ctx_with_timeout(2s)));

  // In Redis: a hash, so no value can be taken for it, with the negative TTL.
  CHECK(redis.command({"TYPE", "app:k"}) == "+hash");
  const long long pttl = std::stoll(redis.command({"PTTL", "app:k"}).substr(1));
  CHECK(pttl > 50'000);
  CHECK(pttl <= 60'000);

  CHECK(is_not_found(b.get_or_load(test::ctx_with_timeout(2s), "k", origin.loader())));
  CHECK(is_not_found(b.get(test::ctx_with_timeout(2s), "k")));
  CHECK(origin.calls == 1);
  CHECK(b.stats().negative_hits >= 1);

  // A set replaces the marker everywhere; a value that looks like anything is still a value.
  REQUIRE(b.set(test::ctx_with_timeout(2s), "k", "tiercache:absent"));
  REQUIRE(b.flush(test::ctx_with_timeout(2s)));
  CHECK(redis.command({"TYPE", "app:k"}) == "+string");
  test::wait_until(
      2s,
      [&] {
        return a.get_or_load(test::ctx_with_timeout(2s), "k", origin.loader()) ==
               "tiercache:absent";
      },
      "A hears B's set over the marker");
  CHECK(origin.calls == 1);
}

TEST_CASE("a marker is written only where L2 holds nothing", "[negative][redis]") {
  test::RedisServer redis;
  Cache a = test::open_cache(redis, {.negative_ttl = 1min, .negative_in_l2 = true});
  std::atomic<bool> sneak{true};
  // While the loader runs, another client stores a value: the fill must not replace it.
  const tiercache::Loader racing = [&](const Context&, std::string_view) -> Result<Loaded> {
    if (sneak.exchange(false)) redis.command({"SET", "k", "from elsewhere"});
    return Loaded::absent();
  };
  CHECK(is_not_found(a.get_or_load(test::ctx_with_timeout(2s), "k", racing)));
  REQUIRE(a.flush(test::ctx_with_timeout(2s)));
  CHECK(redis.command({"GET", "k"}) == "from elsewhere");
}

TEST_CASE("in one read, a key of a foreign type fails alone, and the marker reads as absent",
          "[negative][redis]") {
  test::RedisServer redis;
  tiercache::Options options;
  options.redis.url = redis.url();
  auto backend = tiercache::make_backend(options);
  REQUIRE(backend);
  REQUIRE(*backend);
  redis.command({"RPUSH", "list", "x"});
  redis.command({"HSET", "hash", "field", "x"});
  redis.command({"SET", "plain", "v"});
  redis.command({"EVAL",
                 "redis.call('HSET', KEYS[1], 'tiercache:absent', '1') "
                 "redis.call('PEXPIRE', KEYS[1], 60000)",
                 "1", "marked"});
  std::promise<std::vector<Result<tiercache::BackendValue>>> answered;
  (*backend)->read(
      {"list", "plain", "hash", "marked", "nothing"},
      [&](std::vector<Result<tiercache::BackendValue>> r) { answered.set_value(std::move(r)); });
  auto future = answered.get_future();
  REQUIRE(future.wait_for(5s) == std::future_status::ready);
  const auto results = future.get();
  REQUIRE(results.size() == 5);
  CHECK(results[0].error() == errc::backend_error);
  CHECK(results[0].error().detail.find("WRONGTYPE") != std::string::npos);
  REQUIRE(results[1]);
  CHECK(results[1]->value == "v");
  CHECK(!results[1]->absent);
  CHECK(results[2].error() == errc::backend_error);
  REQUIRE(results[3]);
  CHECK(results[3]->absent);
  CHECK(results[3]->value.empty());
  CHECK(results[3]->ttl_left.kind == tiercache::TtlLeft::Kind::after);
  CHECK(results[4].error() == errc::not_found);
}

TEST_CASE("negative_in_l2 needs a backend that can store the marker") {
  struct NoMarkers final : tiercache::Backend {
    void read(std::vector<std::string>, ReadDone) override {}
    void write(std::span<const tiercache::BackendWrite>, WriteDone) override {}
    bool is_available() const noexcept override { return true; }
  };
  auto refused = tiercache::CacheTestAccess::open_with(
      {.negative_ttl = 1min, .negative_in_l2 = true}, std::make_unique<NoMarkers>());
  REQUIRE(!refused);
  CHECK(refused.error() == errc::invalid_argument);
  CHECK(refused.error().detail.find("negative_in_l2") != std::string::npos);
  CHECK(
      tiercache::CacheTestAccess::open_with({.negative_ttl = 1min}, std::make_unique<NoMarkers>()));
}

TEST_CASE("a loader's not_found after its caller's context ended is not cached", "[negative]") {
  Cache cache = test::open_cache({.negative_ttl = 1min});
  std::atomic<int> calls{0};
  const tiercache::Loader cancelled = [&](const Context& ctx, std::string_view) -> Result<Loaded> {
    ++calls;
    while (!ctx.done()) std::this_thread::sleep_for(1ms);
    return tiercache::fail(errc::not_found, "query cancelled, no rows");
  };
  CHECK(!cache.get_or_load(test::ctx_with_timeout(20ms), "k", cancelled));
  CHECK(!cache.get_or_load(test::ctx_with_timeout(20ms), "k", cancelled));
  CHECK(calls == 2);
  CHECK(cache.stats().negative_loads == 0);
}

TEST_CASE("a loader may return a string literal or a Result<std::string>") {
  Cache cache = test::open_cache();
  CHECK(cache.get_or_load(test::ctx(), "a", [](auto&, std::string_view) { return "literal"; }) ==
        "literal");
  CHECK(cache.get_or_load(test::ctx(), "b", [](auto&, std::string_view) {
    return Result<std::string>("result");
  }) == "result");
  CHECK(cache.get_or_load(test::ctx(), "c", [](auto&, std::string_view) {
    return std::string("string");
  }) == "string");
}
