// Writes to one key reach Redis in the order L1 took them (issue 8, defects 1, 2 and 6): across
// any number of dropped connections, under every queue policy, and a flush returns only once
// everything queued before it is in Redis. L1 is the reference: after the last flush, Redis and
// L1 must hold the same value for every key. The caches run with invalidation off: with it on, a
// cut also cuts the change stream, L1's values are then not trusted, and a get would read Redis
// back, comparing Redis with itself.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/redis_cache.hpp"

using tiercache::Cache;
using tiercache::InvalidationMode;
using tiercache::QueueFullPolicy;
using tiercache::WriteMode;
using namespace std::chrono_literals;

namespace {

std::string key_name(int i) {
  return "key-" + std::to_string(i);
}

// Keys on which Redis, read right after a flush returned, differs from what L1 holds. A key L1
// does not answer itself (read from Redis) is one too, unless Redis does not hold it either: it
// was never set.
std::vector<std::string> keys_differing(const test::RedisServer& redis, Cache& cache, int keys) {
  std::vector<std::string> differing;
  for (int i = 0; i < keys; ++i) {
    const std::string key = key_name(i);
    const std::string in_redis = redis.command({"GET", key});
    const std::uint64_t l1_hits = cache.stats().l1_hits;
    auto in_l1 = cache.get(test::ctx_with_timeout(1s), key);
    if (cache.stats().l1_hits == l1_hits && in_redis != "(nil)")
      differing.push_back(key + ": not in L1, Redis " + in_redis);
    // Spelled as test::RedisServer::command() spells a null bulk.
    const std::string l1 = in_l1 ? *in_l1
                           : in_l1.error() == tiercache::errc::not_found
                               ? "(nil)"
                               : "(" + in_l1.error().detail + ")";
    if (l1 != in_redis) differing.push_back(key + ": L1 " + l1 + ", Redis " + in_redis);
  }
  return differing;
}

// Setters write random keys with values unique to (round, thread, sequence) until asked to stop;
// the test cuts every connection while they run, then stops them right away, so the writes that
// were in flight or queued at the cut are the last ones of their keys.
struct Round {
  // Setters hold off while this many writes are queued, so an async queue never refuses.
  static constexpr std::size_t kMaxQueued = 2048;

  Cache& cache;
  int round;
  int keys;
  std::atomic<int> failed{0};

  void run_setter(const std::stop_token& stop, int t) {
    std::minstd_rand rng(static_cast<unsigned>(round * 131 + t));
    for (int n = 0; !stop.stop_requested(); ++n) {
      if (cache.stats().write_queue_depth >= kMaxQueued) {
        std::this_thread::yield();
        continue;
      }
      const int k = static_cast<int>(rng() % static_cast<unsigned>(keys));
      const std::string value =
          "r" + std::to_string(round) + "-t" + std::to_string(t) + "-n" + std::to_string(n);
      if (!cache.set(test::ctx(), key_name(k), value)) failed.fetch_add(1);
    }
  }
};

struct Stream {
  int rounds;
  int keys;
  int setters;
  std::uint64_t writes_before_kill;  // sent in a round before the connections are cut
};

// Runs the rounds of `stream` against `cache`; returns how many ended with a key differing
// between Redis and L1 after the flush.
int rounds_differing(test::RedisServer& redis, Cache& cache, const Stream& stream,
                     std::string& first_difference) {
  int differing_rounds = 0;
  for (int r = 0; r < stream.rounds; ++r) {
    Round round{cache, r, stream.keys};
    {
      // A jthread asks its setter to stop and joins when it goes, on a failure too.
      std::vector<std::jthread> setters;
      for (int t = 0; t < stream.setters; ++t)
        setters.emplace_back([&round, t](std::stop_token stop) { round.run_setter(stop, t); });
      const std::uint64_t sent = cache.stats().writes_sent;
      test::wait_until(
          10s, [&] { return cache.stats().writes_sent >= sent + stream.writes_before_kill; },
          "writes reach Redis");
      redis.command({"CLIENT", "KILL", "TYPE", "normal"});
      for (auto& setter : setters) setter.request_stop();
    }
    REQUIRE(round.failed == 0);
    REQUIRE(cache.flush(test::ctx_with_timeout(10s)));
    // Reads work again (a reply also resets the read connection's reconnect backoff, which
    // every cut doubles otherwise).
    test::wait_until(
        5s,
        [&] {
          auto r = cache.get(test::ctx_with_timeout(1s), "never-set");
          return !r && r.error() == tiercache::errc::not_found;
        },
        "Redis answers reads again");
    const auto differing = keys_differing(redis, cache, stream.keys);
    if (!differing.empty()) {
      if (differing_rounds++ == 0)
        first_difference = "round " + std::to_string(r) + ", " + std::to_string(differing.size()) +
                           " keys, e.g. " + differing.front();
    }
  }
  return differing_rounds;
}

}  // namespace

TEST_CASE(
    "after the connections are cut under a stream of async sets a flush returns only once "
    "Redis holds every key's last value",
    "[redis][fault][slow]") {
  test::RedisServer redis;
  // Reconnecting within a millisecond keeps each round short, so there can be many.
  Cache cache = test::open_cache(
      redis, {.redis = {.reconnect_backoff_min = 1ms, .invalidation = InvalidationMode::off}});
  const Stream stream{.rounds = 200, .keys = 64, .setters = 4, .writes_before_kill = 500};
  std::string first_difference;
  const int differing = rounds_differing(redis, cache, stream, first_difference);
  INFO(differing << " of " << stream.rounds << " rounds ended with Redis behind L1; first: "
                 << first_difference << "; writes retried " << cache.stats().writes_retried);
  CHECK(differing == 0);
}

TEST_CASE(
    "after the connections are cut under a stream of sync sets Redis holds every key's last "
    "acknowledged value",
    "[redis][fault][slow]") {
  test::RedisServer redis;
  Cache cache = test::open_cache(
      redis, {.redis = {.reconnect_backoff_min = 1ms, .invalidation = InvalidationMode::off},
              .writer = {.mode = WriteMode::sync}});
  // Each setter has one write outstanding: many setters on few keys, so a batch that fails
  // and the next one share keys.
  const Stream stream{.rounds = 400, .keys = 8, .setters = 16, .writes_before_kill = 50};
  std::string first_difference;
  const int differing = rounds_differing(redis, cache, stream, first_difference);
  INFO(differing << " of " << stream.rounds << " rounds ended with Redis behind L1; first: "
                 << first_difference << "; writes retried " << cache.stats().writes_retried);
  CHECK(differing == 0);
}

TEST_CASE(
    "under QueueFullPolicy::wait threads setting one key through a small queue leave L1 and "
    "Redis agreeing",
    "[redis]") {
  test::RedisServer redis;
  Cache cache = test::open_cache(
      redis,
      {.writer = {.when_full = QueueFullPolicy::wait, .queue_max_ops = 2, .batch_max_ops = 1}});
  // Only the last writes of a round can leave the tiers apart: many short rounds.
  constexpr int kRounds = 100;
  constexpr int kThreads = 8;
  constexpr int kSetsPerThread = 20;
  int differing_rounds = 0;
  std::string first_difference;
  for (int r = 0; r < kRounds; ++r) {
    const std::string key = "contended-" + std::to_string(r);
    std::atomic<int> failed{0};
    {
      std::vector<std::jthread> setters;
      for (int t = 0; t < kThreads; ++t)
        setters.emplace_back([&, t] {
          for (int n = 0; n < kSetsPerThread; ++n)
            if (!cache.set(test::ctx_with_timeout(10s), key,
                           "t" + std::to_string(t) + "-n" + std::to_string(n)))
              failed.fetch_add(1);
        });
    }
    REQUIRE(failed == 0);
    REQUIRE(cache.flush(test::ctx_with_timeout(10s)));
    const std::string in_redis = redis.command({"GET", key});
    auto in_l1 = cache.get(test::ctx_with_timeout(1s), key);
    REQUIRE(in_l1.has_value());
    if (*in_l1 != in_redis && differing_rounds++ == 0)
      first_difference = key + ": L1 " + *in_l1 + ", Redis " + in_redis;
  }
  INFO(differing_rounds << " of " << kRounds
                        << " rounds ended with L1 and Redis apart; first: " << first_difference);
  CHECK(differing_rounds == 0);
}
