// Both tiers against a real redis-server the fixture starts on a free port.
#include <atomic>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/redis_cache.hpp"

using tiercache::Cache;
using tiercache::Context;
using tiercache::errc;
using tiercache::Result;
using tiercache::WriteMode;
using namespace std::chrono_literals;
using namespace std::string_literals;

TEST_CASE("a value one cache sets is read by a second cache with a fresh L1", "[redis]") {
  test::RedisServer redis;
  Cache writer = test::open_cache(redis);
  Cache reader = test::open_cache(redis);
  REQUIRE(writer.set(test::ctx(), "k", "v"));
  REQUIRE(writer.flush(test::ctx_with_timeout(5s)));
  test::wait_until_heard(reader, "the write is heard by the reader");
  CHECK(reader.get(test::ctx_with_timeout(1s), "k") == "v");
  const auto s = reader.stats();
  CHECK(s.l1_misses == 1);
  CHECK(s.l2_hits == 1);
  // Now it is in the reader's L1.
  CHECK(reader.get(test::ctx(), "k") == "v");
  CHECK(reader.stats().l1_hits == 1);
}

TEST_CASE("a key in neither tier is not_found", "[redis]") {
  test::RedisServer redis;
  Cache cache = test::open_cache(redis);
  CHECK(cache.get(test::ctx_with_timeout(1s), "absent").error() == errc::not_found);
  CHECK(cache.stats().l2_misses == 1);
}

TEST_CASE("async writes are all in Redis after flush, in fewer pipelines than writes", "[redis]") {
  test::RedisServer redis;
  Cache cache = test::open_cache(redis);
  for (int i = 0; i < 2000; ++i)
    REQUIRE(cache.set(test::ctx(), "k" + std::to_string(i), "v" + std::to_string(i)));
  REQUIRE(cache.flush(test::ctx_with_timeout(5s)));
  CHECK(redis.command({"DBSIZE"}) == ":2000");
  CHECK(redis.command({"GET", "k1234"}) == "v1234");
  const auto s = cache.stats();
  CHECK(s.writes_sent + s.writes_coalesced == 2000);
  CHECK(s.write_batches < 2000);
}

TEST_CASE("a sync write is in Redis when set returns", "[redis]") {
  test::RedisServer redis;
  Cache cache = test::open_cache(redis, {.writer = {.mode = WriteMode::sync}});
  REQUIRE(cache.set(test::ctx_with_timeout(2s), "k", "v"));
  CHECK(redis.command({"GET", "k"}) == "v");
  REQUIRE(cache.purge(test::ctx_with_timeout(2s), "k"));
  CHECK(redis.command({"EXISTS", "k"}) == ":0");
}

TEST_CASE("set, purge, set on one key reach Redis in order: the last one wins", "[redis]") {
  test::RedisServer redis;
  Cache cache = test::open_cache(redis);
  for (int round = 0; round < 50; ++round) {
    REQUIRE(cache.set(test::ctx(), "k", "first" + std::to_string(round)));
    REQUIRE(cache.purge(test::ctx(), "k"));
    REQUIRE(cache.set(test::ctx(), "k", "last" + std::to_string(round)));
    REQUIRE(cache.set(test::ctx(), "gone", "x"));
    REQUIRE(cache.purge(test::ctx(), "gone"));
  }
  REQUIRE(cache.flush(test::ctx_with_timeout(5s)));
  CHECK(redis.command({"GET", "k"}) == "last49");
  CHECK(redis.command({"EXISTS", "gone"}) == ":0");
}

TEST_CASE("binary keys and values up to max_value_bytes round-trip through Redis", "[redis]") {
  test::RedisServer redis;
  Cache writer = test::open_cache(redis, {.l1 = {.max_value_bytes = 64 << 10}});
  Cache reader = test::open_cache(redis, {.l1 = {.max_value_bytes = 64 << 10}});
  const std::string key = "k\0\r\n\xff"s;
  std::string value(64 << 10, '\0');
  for (std::size_t i = 0; i < value.size(); ++i) value[i] = static_cast<char>(i * 7);
  REQUIRE(writer.set(test::ctx(), key, value));
  REQUIRE(writer.flush(test::ctx_with_timeout(5s)));
  CHECK(redis.command({"STRLEN", key}) == ":65536");
  auto got = reader.get(test::ctx_with_timeout(2s), key);
  REQUIRE(got);
  CHECK(*got == value);
}

TEST_CASE("a value in Redis larger than max_value_bytes is a serialization error, not cached",
          "[redis]") {
  test::RedisServer redis;
  Cache cache = test::open_cache(redis, {.l1 = {.max_value_bytes = 8}});
  REQUIRE(redis.command({"SET", "big", std::string(9, 'x')}) == "+OK");
  CHECK(cache.get(test::ctx_with_timeout(1s), "big").error() == errc::serialization);
  CHECK(cache.stats().entries == 0);
}

TEST_CASE("the PX sent to Redis is at most the L1 TTL", "[redis]") {
  test::RedisServer redis;
  Cache cache = test::open_cache(redis);
  REQUIRE(cache.set(test::ctx(), "k", "v", 10s));
  REQUIRE(cache.flush(test::ctx_with_timeout(5s)));
  const int pttl = std::stoi(redis.command({"PTTL", "k"}).substr(1));
  CHECK(pttl <= 10000);
  CHECK(pttl > 9000);
}

TEST_CASE("a fill from Redis takes the key's remaining TTL, so L1 never outlives Redis",
          "[redis]") {
  test::RedisServer redis;
  // Invalidation off: only the TTL the fill took may end L1's copy (with it on, Redis's expiry
  // message would drop it whatever that TTL was).
  tiercache::Options o{.default_ttl = 1h};
  o.redis.invalidation = tiercache::InvalidationMode::off;
  Cache cache = test::open_cache(redis, o);
  REQUIRE(redis.command({"SET", "k", "v", "PX", "2000"}) == "+OK");
  REQUIRE(cache.get(test::ctx_with_timeout(1s), "k") == "v");
  const auto hits = cache.stats().l1_hits;
  REQUIRE(cache.get(test::ctx(), "k") == "v");
  REQUIRE(cache.stats().l1_hits == hits + 1);  // in L1
  test::wait_until(
      5s,
      [&] {
        return redis.command({"EXISTS", "k"}) == ":0";
      },
      "Redis expires the key");
  CHECK(cache.get(test::ctx_with_timeout(1s), "k").error() == errc::not_found);
}

TEST_CASE("get_or_load asks Redis first, loads once on a miss and writes the value back",
          "[redis]") {
  test::RedisServer redis;
  Cache first = test::open_cache(redis);
  int loads = 0;
  auto loader = [&](const Context&, std::string_view key) -> Result<std::string> {
    ++loads;
    return "loaded:" + std::string(key);
  };
  CHECK(first.get_or_load(test::ctx_with_timeout(1s), "k", loader) == "loaded:k");
  REQUIRE(first.flush(test::ctx_with_timeout(5s)));
  CHECK(redis.command({"GET", "k"}) == "loaded:k");
  Cache second = test::open_cache(redis);
  CHECK(second.get_or_load(test::ctx_with_timeout(1s), "k", loader) == "loaded:k");
  CHECK(loads == 1);
}

TEST_CASE("key_prefix namespaces every key in Redis", "[redis]") {
  test::RedisServer redis;
  Cache cache = test::open_cache(redis, {.redis = {.key_prefix = "app1:"}});
  REQUIRE(cache.set(test::ctx(), "k", "v"));
  REQUIRE(cache.flush(test::ctx_with_timeout(5s)));
  CHECK(redis.command({"GET", "app1:k"}) == "v");
  CHECK(redis.command({"EXISTS", "k"}) == ":0");
}

TEST_CASE("a Redis error reply becomes backend_error with the server's text", "[redis]") {
  test::RedisServer redis;
  Cache cache = test::open_cache(redis);
  REQUIRE(redis.command({"LPUSH", "list", "x"}) == ":1");
  auto r = cache.get(test::ctx_with_timeout(1s), "list");
  REQUIRE_FALSE(r);
  CHECK(r.error() == errc::backend_error);
  // The whole text (65 bytes), not cut.
  CHECK_THAT(r.error().detail,
             Catch::Contains("WRONGTYPE Operation against a key holding the wrong kind of value"));
}

TEST_CASE("AUTH and SELECT come from the URL; a unix socket works too", "[redis]") {
  test::RedisServer redis({.requirepass = "s3cret", .unix_socket = true});
  Cache tcp = test::open_cache(
      {.redis = {.url = "redis://:s3cret@127.0.0.1:" + std::to_string(redis.port()) + "/3"},
       .writer = {.mode = WriteMode::sync}});
  REQUIRE(tcp.set(test::ctx_with_timeout(2s), "k", "v"));
  CHECK_THAT(redis.command({"INFO", "keyspace"}), Catch::Contains("db3:keys=1"));
  Cache unix_socket = test::open_cache(
      {.redis = {.unix_socket = redis.unix_socket_path(), .password = "s3cret", .db = 3}});
  CHECK(unix_socket.get(test::ctx_with_timeout(1s), "k") == "v");
}

namespace {

// A refusal at open() fails it (redis_connection_test.cpp); these tests meet one on a reconnect,
// the server changed under a running cache. A cache on `url` (sync writes, quick reconnects), up;
// then `refuse` makes the server turn the next handshake away, every connection is dropped, and
// this returns once a reconnect met the refusal (`failed` in l2_last_error).
Cache refused_on_reconnect(test::RedisServer& redis, const std::string& url,
                           const std::function<void()>& refuse, const std::string& failed) {
  Cache cache = test::open_cache(
      {.redis = {.url = url, .reconnect_backoff_max = 20ms}, .writer = {.mode = WriteMode::sync}});
  REQUIRE(cache.stats().l2_available);
  refuse();
  redis.drop_clients();
  test::wait_until(
      5s, [&] { return cache.stats().l2_last_error.find(failed) != std::string::npos; },
      "a reconnect meets the refusal");
  return cache;
}

}  // namespace

TEST_CASE("a password changed under the cache fails writes with the server's refusal in the detail",
          "[redis]") {
  test::RedisServer redis({.requirepass = "right"});
  Cache cache = refused_on_reconnect(
      redis, "redis://:right@127.0.0.1:" + std::to_string(redis.port()),
      [&] { redis.set_requirepass("rotated"); }, "AUTH failed");
  auto r = cache.set(test::ctx_with_timeout(300ms), "k", "v");
  REQUIRE_FALSE(r);
  // Cached in L1 all the same: the set's L1 half does not depend on Redis.
  CHECK(cache.get(test::ctx(), "k") == "v");
  auto miss = cache.get(test::ctx_with_timeout(300ms), "other");
  REQUIRE_FALSE(miss);
  CHECK_THAT(miss.error().detail, Catch::Contains("AUTH failed"));
}

TEST_CASE("64 threads on one cold key: one Redis read, one load", "[redis][concurrency]") {
  test::RedisServer redis;
  Cache cache = test::open_cache(redis);
  REQUIRE(redis.command({"CONFIG", "RESETSTAT"}) == "+OK");
  std::atomic<int> loads{0};
  std::vector<std::thread> threads;
  std::vector<Result<std::string>> results(64);
  for (int t = 0; t < 64; ++t)
    threads.emplace_back([&, t] {
      results[t] = cache.get_or_load(test::ctx_with_timeout(5s), "cold",
                                     [&](const Context&, std::string_view) {
                                       ++loads;
                                       std::this_thread::sleep_for(20ms);
                                       return Result<std::string>("v");
                                     });
    });
  for (auto& t : threads) t.join();
  for (const auto& r : results) CHECK(r == "v");
  CHECK(loads == 1);
  // One read script, which reads the key once.
  const std::string stats = redis.command({"INFO", "commandstats"});
  CHECK_THAT(stats, Catch::Contains("cmdstat_eval:calls=1,"));
  CHECK_THAT(stats, Catch::Contains("cmdstat_getrange:calls=1,"));
}

TEST_CASE("with when_l2_down = load (the default), get_or_load runs the loader while Redis is down",
          "[redis][fault]") {
  test::RedisServer redis;
  Cache failing = test::open_cache(redis, {.when_l2_down = tiercache::L2DownPolicy::fail});
  // The default.
  Cache loading = test::open_cache(redis);
  redis.kill();
  int loads = 0;
  auto loader = [&](const Context&, std::string_view) {
    ++loads;
    return Result<std::string>("origin");
  };
  auto refused = failing.get_or_load(test::ctx_with_timeout(1s), "k", loader);
  REQUIRE_FALSE(refused);
  CHECK(refused.error() == errc::backend_unavailable);
  CHECK(loads == 0);
  // A value loaded before the loss is noticed is stamped with the epoch that ends then, and is
  // loaded again once: wait, so that the count below is exact.
  test::wait_until(
      2s, [&] { return !loading.stats().l2_coherent; }, "the loss of Redis is noticed");
  CHECK(loading.get_or_load(test::ctx_with_timeout(1s), "k", loader) == "origin");
  // Kept in L1 until Redis is back, though changes made there cannot be heard meanwhile.
  CHECK(loading.get_or_load(test::ctx_with_timeout(1s), "k", loader) == "origin");
  CHECK(loading.get(test::ctx_with_timeout(1s), "k") == "origin");
  CHECK(loads == 1);
}

TEST_CASE("ttl_jitter shortens TTLs by at most its fraction, in both tiers", "[redis]") {
  test::RedisServer redis;
  Cache cache = test::open_cache(redis, {.ttl_jitter = 0.5});
  for (int i = 0; i < 50; ++i) REQUIRE(cache.set(test::ctx(), "k" + std::to_string(i), "v", 10s));
  REQUIRE(cache.flush(test::ctx_with_timeout(5s)));
  int shortest = 10000, longest = 0;
  for (int i = 0; i < 50; ++i) {
    const int pttl = std::stoi(redis.command({"PTTL", "k" + std::to_string(i)}).substr(1));
    shortest = std::min(shortest, pttl);
    longest = std::max(longest, pttl);
  }
  CHECK(shortest >= 4900);
  CHECK(longest <= 10000);
  CHECK(longest - shortest > 1000);  // 50 draws over [5 s, 10 s] spread far more than 1 s
}

TEST_CASE("a refused SELECT lets no command run in another database", "[redis]") {
  test::RedisServer redis;
  Cache cache = refused_on_reconnect(
      redis, redis.url().substr(0, redis.url().size() - 1) + "3",
      [&] {
        REQUIRE(redis.command({"ACL", "SETUSER", "default", "-select"}) == "+OK");
      },
      "SELECT failed");
  auto r = cache.set(test::ctx_with_timeout(300ms), "k", "v");
  REQUIRE_FALSE(r);
  auto miss = cache.get(test::ctx_with_timeout(300ms), "other");
  REQUIRE_FALSE(miss);
  CHECK_THAT(miss.error().detail, Catch::Contains("SELECT failed"));
  CHECK(redis.command({"DBSIZE"}) == ":0");
}

TEST_CASE("a refused AUTH lets no command run as the default user", "[redis]") {
  test::RedisServer redis({.requirepass = "pw"});
  // No password now: AUTH with one is an error.
  Cache cache = refused_on_reconnect(
      redis, "redis://:pw@127.0.0.1:" + std::to_string(redis.port()),
      [&] { redis.set_requirepass(""); }, "AUTH failed");
  REQUIRE_FALSE(cache.set(test::ctx_with_timeout(300ms), "k", "v"));
  CHECK(redis.command({"DBSIZE"}) == ":0");
}

TEST_CASE("a purge during a load keeps the loaded value out of Redis too", "[redis][concurrency]") {
  test::RedisServer redis;
  Cache cache = test::open_cache(redis);
  std::atomic<bool> inside{false}, release{false};
  std::thread leader([&] {
    (void)cache.get_or_load(test::ctx_with_timeout(5s), "k", [&](const Context&, std::string_view) {
      inside = true;
      while (!release) std::this_thread::sleep_for(100us);
      return Result<std::string>("stale");
    });
  });
  test::wait_until(
      2s, [&] { return inside.load(); }, "the load runs");
  REQUIRE(cache.purge(test::ctx(), "k"));
  release = true;
  leader.join();
  REQUIRE(cache.flush(test::ctx_with_timeout(5s)));
  CHECK(redis.command({"EXISTS", "k"}) == ":0");
}

TEST_CASE("a set during a load wins in Redis too", "[redis][concurrency]") {
  test::RedisServer redis;
  Cache cache = test::open_cache(redis);
  std::atomic<bool> inside{false}, release{false};
  std::thread leader([&] {
    (void)cache.get_or_load(test::ctx_with_timeout(5s), "k", [&](const Context&, std::string_view) {
      inside = true;
      while (!release) std::this_thread::sleep_for(100us);
      return Result<std::string>("loaded");
    });
  });
  test::wait_until(
      2s, [&] { return inside.load(); }, "the load runs");
  REQUIRE(cache.set(test::ctx(), "k", "written"));
  release = true;
  leader.join();
  REQUIRE(cache.flush(test::ctx_with_timeout(5s)));
  CHECK(redis.command({"GET", "k"}) == "written");
}

TEST_CASE("concurrent sets of one key leave Redis with L1's value", "[redis][concurrency]") {
  test::RedisServer redis;
  Cache cache = test::open_cache(redis, {.l1 = {.shards = 1}});
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i)
        (void)cache.set(test::ctx(), "k", std::to_string(t) + ":" + std::to_string(i));
    });
  for (auto& th : threads) th.join();
  REQUIRE(cache.flush(test::ctx_with_timeout(5s)));
  CHECK(redis.command({"GET", "k"}) == *cache.get(test::ctx(), "k"));
}

TEST_CASE("a loaded value does not replace a value another cache stored in Redis meanwhile",
          "[redis]") {
  test::RedisServer redis;
  Cache loader_side = test::open_cache(redis);
  Cache other = test::open_cache(redis);
  std::atomic<bool> loading{false};
  std::atomic<bool> may_return{false};
  std::jthread load([&] {
    auto r = loader_side.get_or_load(test::ctx_with_timeout(5s), "k",
                                     [&](const Context&, std::string_view) {
                                       loading = true;
                                       while (!may_return) std::this_thread::sleep_for(1ms);
                                       return Result<std::string>("loaded, older");
                                     });
    CHECK(r == "loaded, older");
  });
  test::wait_until(
      5s, [&] { return loading.load(); }, "the loader runs");
  // Another writer stores the key while the load is on its way.
  REQUIRE(other.set(test::ctx(), "k", "set, newer"));
  REQUIRE(other.flush(test::ctx_with_timeout(5s)));
  may_return = true;
  load.join();
  REQUIRE(loader_side.flush(test::ctx_with_timeout(5s)));
  CHECK(redis.command({"GET", "k"}) == "set, newer");
}
