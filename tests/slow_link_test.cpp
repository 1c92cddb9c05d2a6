// A slow link is not a dead server. RedisConnection promises (adapters/redis/redis_connection.hpp,
// "Deadlines") that while commands wait, a connection that keeps making progress, a byte of ours
// reaching the server or a byte of a reply arriving, is kept, however long the whole transfer
// takes; only command_timeout without either drops it. test::TcpProxy's rate limit stands between
// the cache and a real redis-server, slowing one direction so that a single value takes longer
// to cross than command_timeout, with the default command_timeout. Redis itself is checked on a
// direct connection, not through the proxy.
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/redis_server.hpp"
#include "tests/support/tcp_proxy.hpp"
#include "tests/support/test_support.hpp"

using tiercache::Cache;
using namespace std::chrono_literals;

namespace {

// One large value: 1 MiB, a fair size for a cache value and many of the proxy's reads.
constexpr std::size_t kLargeValueBytes = std::size_t{1} << 20;
// Room for it in L1 (at most l1.max_value_bytes per value, and within one shard's part).
constexpr std::size_t kL1MaxBytes = std::size_t{256} << 20;
constexpr std::size_t kL1MaxValueBytes = std::size_t{2} << 20;
// The slow direction's rate: a 1 MiB value takes 0.26 s, longer than the 200 ms default
// command_timeout, so a deadline that ignored progress would drop the connection under it.
constexpr std::size_t kSlowBytesPerSecond = 4'000'000;
// Large writes queued at once: 20 MiB, about 5 s of upload at kSlowBytesPerSecond.
constexpr int kLargeWrites = 20;
// The flush that waits for them: far above the 5 s the transfer needs, only to bound a hang.
constexpr auto kDrainDeadline = 60s;
// Deadline of each read over the slow downlink, the large one and the small ones queued behind
// it: far above the 0.26 s the large reply needs.
constexpr auto kSlowReadDeadline = 10s;
// Small reads sent while the large reply crosses, each from its own thread, each its own key.
constexpr int kSmallReaders = 8;
// Bound on the warm-up round trips on the unthrottled path, and on Redis starting the large read.
constexpr auto kQuickBound = 5s;

tiercache::Options slow_link_options(const test::TcpProxy& proxy) {
  tiercache::Options options;
  options.redis.url = proxy.url();
  options.l1.max_bytes = kL1MaxBytes;
  options.l1.max_value_bytes = kL1MaxValueBytes;
  return options;
}

// How long `bytes` take to cross at kSlowBytesPerSecond.
std::chrono::milliseconds crossing_time(std::size_t bytes) {
  return std::chrono::milliseconds(bytes * 1000 / kSlowBytesPerSecond);
}

// A value of `bytes` bytes that differs per seed, so a value stored under the wrong key shows.
std::string make_value(std::size_t bytes, int seed) {
  std::string value(bytes, '\0');
  for (std::size_t i = 0; i < bytes; ++i) value[i] = static_cast<char>((i * 31 + seed) % 251);
  return value;
}

// Both connections up and answered, before the link is slowed: one write flushed, one read.
void warm_up(Cache& cache) {
  REQUIRE(cache.set(test::ctx(), "warm", "v"));
  const auto flushed = cache.flush(test::ctx_with_timeout(kQuickBound));
  INFO("warm-up flush: " << (flushed ? "ok" : flushed.error().detail));
  REQUIRE(flushed);
  const auto miss = cache.get(test::ctx_with_timeout(kQuickBound), "absent");
  REQUIRE_FALSE(miss);
  INFO("warm-up read: " << miss.error().code.message() << ": " << miss.error().detail);
  REQUIRE(miss.error() == tiercache::errc::not_found);
}

}  // namespace

TEST_CASE("a burst of large writes drains over a slow uplink", "[redis][fault][slow]") {
  test::RedisServer redis;
  test::TcpProxy proxy(redis.port());
  const tiercache::Options options = slow_link_options(proxy);
  // The premise: one value takes longer to go up than command_timeout allows a silent wait.
  REQUIRE(crossing_time(kLargeValueBytes) > options.redis.command_timeout);
  Cache cache = test::open_cache(options);
  warm_up(cache);
  const std::uint64_t reconnects_before = cache.stats().l2_reconnects;

  proxy.limit_rate(kSlowBytesPerSecond, 0);
  for (int i = 0; i < kLargeWrites; ++i) {
    const auto queued =
        cache.set(test::ctx(), "large:" + std::to_string(i), make_value(kLargeValueBytes, i));
    INFO("set " << i << ": " << (queued ? "queued" : queued.error().detail));
    REQUIRE(queued);
  }
  const auto start = std::chrono::steady_clock::now();
  const auto flushed = cache.flush(test::ctx_with_timeout(kDrainDeadline));
  const std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
  const tiercache::CacheStats stats = cache.stats();
  INFO("flush took " << took.count() << " s: " << (flushed ? "ok" : flushed.error().detail));
  INFO("writes_retried=" << stats.writes_retried << " write_batches=" << stats.write_batches
                         << " writes_sent=" << stats.writes_sent << " l2_reconnects="
                         << stats.l2_reconnects << " (before: " << reconnects_before
                         << ") l2_last_error=\"" << stats.l2_last_error << "\"");
  CHECK(flushed);
  // Every write got there on its first try: a connection moving bytes at 4 MB/s was never taken
  // for a dead one, so no pipeline was dropped and sent again.
  CHECK(stats.writes_retried == 0);
  CHECK(stats.l2_reconnects == reconnects_before);
  // Counted on a direct connection: the 20 large keys and the warm-up's one.
  const std::string keys_in_redis = redis.command({"DBSIZE"});
  CHECK(keys_in_redis == ":" + std::to_string(kLargeWrites + 1));
  // Each key's own check only where they all arrived; otherwise DBSIZE already told the story.
  if (keys_in_redis != ":" + std::to_string(kLargeWrites + 1)) return;
  for (int i = 0; i < kLargeWrites; ++i) {
    const std::string key = "large:" + std::to_string(i);
    INFO("key " << key);
    CHECK(redis.command({"STRLEN", key}) == ":" + std::to_string(kLargeValueBytes));
    // The first byte tells the values apart; whole-value equality is the read test's to check.
    CHECK(redis.command({"GETRANGE", key, "0", "0"}) == make_value(1, i));
  }
}

TEST_CASE(
    "a large value read over a slow downlink arrives, and small reads meanwhile still succeed",
    "[redis][fault][slow]") {
  test::RedisServer redis;
  test::TcpProxy proxy(redis.port());
  const tiercache::Options options = slow_link_options(proxy);
  // The premise: the large reply takes longer to come down than command_timeout allows a silent
  // wait, and the small replies queued behind it wait at least as long.
  REQUIRE(crossing_time(kLargeValueBytes) > options.redis.command_timeout);
  const std::string large = make_value(kLargeValueBytes, 0);
  REQUIRE(redis.command({"SET", "large", large}) == "+OK");
  for (int i = 0; i < kSmallReaders; ++i)
    REQUIRE(redis.command({"SET", "small:" + std::to_string(i), "v" + std::to_string(i)}) == "+OK");
  Cache cache = test::open_cache(options);
  warm_up(cache);
  const std::uint64_t reconnects_before = cache.stats().l2_reconnects;
  const long long reads_before = redis.calls_of("eval");

  proxy.limit_rate(0, kSlowBytesPerSecond);
  std::optional<tiercache::Result<std::string>> large_got;
  std::atomic<bool> large_done{false};
  std::chrono::duration<double> large_took{};
  std::jthread large_reader([&] {
    const auto start = std::chrono::steady_clock::now();
    large_got = cache.get(test::ctx_with_timeout(kSlowReadDeadline), "large");
    large_took = std::chrono::steady_clock::now() - start;
    // Release pairs with the small readers' acquire: they only read the flag itself.
    large_done.store(true, std::memory_order_release);
  });
  // Once Redis has run the read (a script: EVAL), the whole large reply is on its way down, and
  // every reply sent after it on the read connection queues behind it.
  test::wait_until(
      kQuickBound, [&] { return redis.calls_of("eval") > reads_before; },
      "Redis runs the large read");

  std::vector<std::optional<tiercache::Result<std::string>>> small_got(kSmallReaders);
  std::atomic<int> small_overlapped{0};
  {
    std::vector<std::jthread> small_readers;
    for (int i = 0; i < kSmallReaders; ++i) {
      small_readers.emplace_back([&, i] {
        // Acquire pairs with the release above; relaxed on the counter, read after the joins.
        if (!large_done.load(std::memory_order_acquire))
          small_overlapped.fetch_add(1, std::memory_order_relaxed);
        small_got[i] =
            cache.get(test::ctx_with_timeout(kSlowReadDeadline), "small:" + std::to_string(i));
      });
    }
  }
  large_reader.join();

  const tiercache::CacheStats stats = cache.stats();
  INFO("the large read took " << large_took.count() << " s; " << small_overlapped.load() << " of "
                              << kSmallReaders << " small reads started while it was in flight");
  INFO("l2_reconnects=" << stats.l2_reconnects << " (before: " << reconnects_before
                        << ") l2_errors=" << stats.l2_errors.total() << " l2_last_error=\""
                        << stats.l2_last_error << "\"");
  REQUIRE(large_got.has_value());
  {
    INFO("large read: " << (*large_got ? "ok" : large_got->error().detail));
    CHECK(*large_got);
  }
  if (*large_got) {
    CHECK((*large_got)->size() == large.size());
    // Double parentheses: compared as a bool, so a mismatch does not print 1 MiB twice.
    CHECK((**large_got == large));
  }
  for (int i = 0; i < kSmallReaders; ++i) {
    REQUIRE(small_got[i].has_value());
    const auto& got = *small_got[i];
    INFO("small read " << i << ": " << (got ? "ok" : got.error().detail));
    CHECK(got == "v" + std::to_string(i));
  }
  // The test's own premise: the small reads did wait behind the large reply.
  CHECK(small_overlapped.load() > 0);
  // Nothing was dropped and sent again: the read connection that carried them all survived.
  // l2_reconnects counts a replacement once it is up, which may come after this snapshot;
  // l2_errors counts the reads a drop fails, at once.
  CHECK(stats.l2_reconnects == reconnects_before);
  CHECK(stats.l2_errors.total() == 0);
}
