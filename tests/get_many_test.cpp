// get_many, get_or_load_many and set_many: L1 answers what it holds, the misses cost one L2 round
// trip and one call of the batch loader with exactly the keys still missing; a key another
// caller is loading is waited on, not loaded twice; each key has its own answer and error.
#include <algorithm>
#include <atomic>
#include <latch>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/redis_cache.hpp"

using tiercache::BatchLoader;
using tiercache::Cache;
using tiercache::Context;
using tiercache::errc;
using tiercache::Loaded;
using tiercache::Result;
using namespace std::chrono_literals;

namespace {

using Keys = std::vector<std::string_view>;

// A batch loader that records each call's keys and answers "origin:<key>", or absent for keys
// starting with "gone".
struct BatchOrigin {
  std::mutex mu;
  std::vector<std::vector<std::string>> calls;
  std::atomic<bool> open{true};

  BatchLoader loader() {
    return [this](const Context&,
                  std::span<const std::string_view> keys) -> Result<std::vector<Result<Loaded>>> {
      {
        std::lock_guard lock(mu);
        calls.emplace_back(keys.begin(), keys.end());
      }
      while (!open.load()) std::this_thread::sleep_for(100us);
      std::vector<Result<Loaded>> out;
      for (std::string_view k : keys) {
        if (k.starts_with("gone")) {
          out.push_back(Loaded::absent());
        } else {
          out.push_back(Loaded("origin:" + std::string(k)));
        }
      }
      return out;
    };
  }
  std::size_t call_count() {
    std::lock_guard lock(mu);
    return calls.size();
  }
  std::vector<std::string> sorted_call(std::size_t i) {
    std::lock_guard lock(mu);
    std::vector<std::string> keys = calls.at(i);
    std::sort(keys.begin(), keys.end());
    return keys;
  }
};

bool is(const Result<std::string>& r, errc code) {
  return !r && r.error() == code;
}

}  // namespace

TEST_CASE("get_many answers each key from L1, duplicates and bad keys included", "[many]") {
  Cache cache = test::open_cache({.l1 = {.max_key_bytes = 8}});
  REQUIRE(cache.set(test::ctx(), "a", "1"));
  REQUIRE(cache.set(test::ctx(), "b", "2"));
  const Keys keys = {"a", "missing", "b", "a", "much too long", ""};
  auto r = cache.get_many(test::ctx(), keys);
  REQUIRE(r);
  REQUIRE(r->size() == keys.size());
  CHECK((*r)[0] == "1");
  CHECK(is((*r)[1], errc::not_found));
  CHECK((*r)[2] == "2");
  CHECK((*r)[3] == "1");
  CHECK(is((*r)[4], errc::invalid_argument));
  CHECK(is((*r)[5], errc::invalid_argument));
  CHECK(cache.stats().l1_hits == 2);  // "a" once: a key given twice is looked up once

  CHECK(cache.get_many(test::ctx(), Keys{}).error() == errc::invalid_argument);
  REQUIRE(cache.close(test::ctx()));
  CHECK(cache.get_many(test::ctx(), keys).error() == errc::closed);
}

TEST_CASE("get_or_load_many loads exactly the missing keys in one call", "[many]") {
  Cache cache = test::open_cache({.negative_ttl = 1min});
  REQUIRE(cache.set(test::ctx(), "held", "l1"));
  BatchOrigin origin;
  const Keys keys = {"held", "x", "gone1", "y", "x"};
  auto r = cache.get_or_load_many(test::ctx(), keys, origin.loader());
  REQUIRE(r);
  CHECK((*r)[0] == "l1");
  CHECK((*r)[1] == "origin:x");
  CHECK(is((*r)[2], errc::not_found));
  CHECK((*r)[3] == "origin:y");
  CHECK((*r)[4] == "origin:x");
  REQUIRE(origin.call_count() == 1);
  CHECK(origin.sorted_call(0) == std::vector<std::string>{"gone1", "x", "y"});
  // Cached, the absent one too: a second call asks the origin nothing.
  auto again = cache.get_or_load_many(test::ctx(), keys, origin.loader());
  REQUIRE(again);
  CHECK((*again)[1] == "origin:x");
  CHECK(is((*again)[2], errc::not_found));
  CHECK((*again)[3] == "origin:y");
  CHECK(origin.call_count() == 1);
  CHECK(cache.get(test::ctx(), "y") == "origin:y");
  CHECK(test::invariants_hold(cache));
}

TEST_CASE("a batch loader's bad answers fail its keys and cache nothing", "[many]") {
  Cache cache = test::open_cache();
  std::atomic<int> calls{0};
  const BatchLoader short_answer =
      [&](const Context&,
          std::span<const std::string_view>) -> Result<std::vector<Result<Loaded>>> {
    ++calls;
    return std::vector<Result<Loaded>>{Loaded("only one")};
  };
  auto r = cache.get_or_load_many(test::ctx(), Keys{"a", "b"}, short_answer);
  REQUIRE(r);
  CHECK(is((*r)[0], errc::invalid_argument));
  CHECK(is((*r)[1], errc::invalid_argument));
  CHECK(cache.stats().entries == 0);

  const BatchLoader failing =
      [&](const Context&,
          std::span<const std::string_view>) -> Result<std::vector<Result<Loaded>>> {
    ++calls;
    return tiercache::fail(errc::backend_error, "origin down");
  };
  r = cache.get_or_load_many(test::ctx(), Keys{"a", "b"}, failing);
  REQUIRE(r);
  CHECK(is((*r)[0], errc::backend_error));
  CHECK(is((*r)[1], errc::backend_error));

  const BatchLoader one_bad =
      [&](const Context&,
          std::span<const std::string_view> keys) -> Result<std::vector<Result<Loaded>>> {
    ++calls;
    std::vector<Result<Loaded>> out;
    for (std::string_view k : keys)
      out.push_back(k == "b" ? Result<Loaded>(tiercache::fail(errc::backend_error, "row locked"))
                             : Result<Loaded>(Loaded("ok")));
    return out;
  };
  r = cache.get_or_load_many(test::ctx(), Keys{"a", "b"}, one_bad);
  REQUIRE(r);
  CHECK((*r)[0] == "ok");
  CHECK(is((*r)[1], errc::backend_error));
  CHECK(calls == 3);
  CHECK(cache.stats().entries == 1);
  CHECK(cache.get_or_load_many(test::ctx(), Keys{"a"}, BatchLoader{}).error() ==
        errc::invalid_argument);
}

TEST_CASE("a key being loaded is waited on, not loaded twice, in either direction",
          "[many][concurrency]") {
  Cache cache = test::open_cache();
  BatchOrigin origin;
  origin.open = false;
  Result<std::vector<Result<std::string>>> batch_result;
  std::thread batch([&] {
    batch_result = cache.get_or_load_many(test::ctx(), Keys{"a", "b"}, origin.loader());
  });
  test::wait_until(
      2s, [&] { return origin.call_count() == 1; }, "the batch loader runs");
  std::atomic<int> single_loads{0};
  Result<std::string> single;
  std::thread one([&] {
    single = cache.get_or_load(test::ctx(), "b", [&](const Context&, std::string_view) {
      ++single_loads;
      return Result<std::string>("single");
    });
  });
  test::wait_until(
      2s, [&] { return cache.stats().coalesced == 1; }, "get_or_load waits");
  origin.open = true;
  batch.join();
  one.join();
  CHECK(single == "origin:b");
  CHECK(single_loads == 0);
  REQUIRE(batch_result);
  CHECK((*batch_result)[1] == "origin:b");

  // The other way: a batch finds a key a single get_or_load is loading.
  std::atomic<bool> release{false};
  std::atomic<bool> loading_c{false};
  std::thread loading([&] {
    (void)cache.get_or_load(test::ctx(), "c", [&](const Context&, std::string_view) {
      loading_c = true;
      while (!release.load()) std::this_thread::sleep_for(100us);
      return Result<std::string>("from single");
    });
  });
  test::wait_until(
      2s, [&] { return loading_c.load(); }, "the single load runs");
  Result<std::vector<Result<std::string>>> second;
  std::thread batch2([&] {
    second = cache.get_or_load_many(test::ctx(), Keys{"c", "d"}, origin.loader());
  });
  // The batch loads "d" alone, then waits for "c".
  test::wait_until(
      2s, [&] { return origin.call_count() == 2; }, "the batch loads d");
  CHECK(origin.sorted_call(1) == std::vector<std::string>{"d"});
  release = true;
  loading.join();
  batch2.join();
  REQUIRE(second);
  CHECK((*second)[0] == "from single");
  CHECK((*second)[1] == "origin:d");
}

TEST_CASE("batches that lead keys the other waits on do not wait for each other",
          "[many][concurrency]") {
  Cache cache = test::open_cache();
  constexpr int kRounds = 200;
  for (int round = 0; round < kRounds; ++round) {
    const std::string a = "a" + std::to_string(round), b = "b" + std::to_string(round);
    BatchOrigin origin;
    std::latch start(2);
    Result<std::vector<Result<std::string>>> r1, r2;
    std::thread t1([&] {
      start.arrive_and_wait();
      r1 = cache.get_or_load_many(test::ctx_with_timeout(5s), Keys{a, b}, origin.loader());
    });
    std::thread t2([&] {
      start.arrive_and_wait();
      r2 = cache.get_or_load_many(test::ctx_with_timeout(5s), Keys{b, a}, origin.loader());
    });
    t1.join();
    t2.join();
    REQUIRE(r1);
    REQUIRE(r2);
    CHECK((*r1)[0] == "origin:" + a);
    CHECK((*r1)[1] == "origin:" + b);
    CHECK((*r2)[0] == "origin:" + b);
    CHECK((*r2)[1] == "origin:" + a);
  }
}

TEST_CASE("get_or_load_many of 1000 keys: one L2 round trip, one loader call", "[many][redis]") {
  test::RedisServer redis;
  // when_l2_down = fail, so that a key L2 fails to read shows its error instead of being loaded.
  Cache cache = test::open_cache(
      redis, {.redis = {.key_prefix = "p:"}, .when_l2_down = tiercache::L2DownPolicy::fail});
  std::vector<std::string> names;
  for (int i = 0; i < 1000; ++i) names.push_back("k" + std::to_string(i));
  // 10 % in L1 (and Redis), 40 % only in Redis, 50 % nowhere; one of those in Redis is a list.
  for (int i = 0; i < 100; ++i) REQUIRE(cache.set(test::ctx(), names[i], "l1"));
  REQUIRE(cache.flush(test::ctx_with_timeout(5s)));
  for (int i = 100; i < 500; ++i) redis.command({"SET", "p:" + names[i], "redis"});
  redis.command({"DEL", "p:k499"});
  redis.command({"RPUSH", "p:k499", "x"});
  const long long evals_before = redis.calls_of("eval");
  BatchOrigin origin;
  const Keys keys(names.begin(), names.end());
  auto r = cache.get_or_load_many(test::ctx_with_timeout(5s), keys, origin.loader());
  REQUIRE(r);
  CHECK(redis.calls_of("eval") - evals_before == 1);
  for (int i = 0; i < 100; ++i) CHECK((*r)[i] == "l1");
  for (int i = 100; i < 499; ++i) CHECK((*r)[i] == "redis");
  CHECK(is((*r)[499], errc::backend_error));  // that key's error alone
  for (int i = 500; i < 1000; ++i) CHECK((*r)[i] == "origin:" + names[i]);
  REQUIRE(origin.call_count() == 1);
  CHECK(origin.sorted_call(0).size() == 500);
  const tiercache::CacheStats s = cache.stats();
  CHECK(s.l2_hits == 399);
  CHECK(s.l2_misses == 500);
  CHECK(s.l2_errors.total() == 1);

  // get_many of the same: all but the list in L1 now.
  auto again = cache.get_many(test::ctx_with_timeout(5s), keys);
  REQUIRE(again);
  for (int i = 500; i < 1000; ++i) CHECK((*again)[i] == "origin:" + names[i]);
  CHECK(redis.calls_of("eval") - evals_before == 2);  // "k499" read again
}

TEST_CASE("set_many writes every pair in one go; a bad pair fails alone", "[many][redis]") {
  test::RedisServer redis;
  Cache cache = test::open_cache(redis, {.writer = {.mode = tiercache::WriteMode::sync}});
  std::vector<std::pair<std::string_view, std::string_view>> entries = {
      {"a", "1"}, {"", "empty key"}, {"b", "2"}, {"c", "3"}};
  auto r = cache.set_many(test::ctx_with_timeout(5s), entries);
  REQUIRE(r);
  CHECK((*r)[0].has_value());
  CHECK((*r)[1].error() == errc::invalid_argument);
  CHECK((*r)[2].has_value());
  CHECK((*r)[3].has_value());
  // Sync: in Redis when the call returns.
  CHECK(redis.command({"GET", "a"}) == "1");
  CHECK(redis.command({"GET", "b"}) == "2");
  CHECK(redis.command({"GET", "c"}) == "3");
  CHECK(cache.get(test::ctx(), "c") == "3");
  CHECK(cache.set_many(test::ctx(), {}).error() == errc::invalid_argument);

  Cache l1_only = test::open_cache();
  r = l1_only.set_many(test::ctx(), entries);
  REQUIRE(r);
  CHECK((*r)[1].error() == errc::invalid_argument);
  CHECK(l1_only.get(test::ctx(), "b") == "2");
}
