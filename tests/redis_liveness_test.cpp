// Connections to Redis that die silently: a network fault that leaves no RST must be found by the
// cache itself (Options.redis.health_check_interval), not by the first caller to read after it.
// test::TcpProxy stands between the cache and a real redis-server to cut the path.
#include <chrono>
#include <thread>

#include "tests/support/redis_server.hpp"
#include "tests/support/tcp_proxy.hpp"
#include "tests/support/test_support.hpp"

using tiercache::Cache;
using tiercache::errc;
using namespace std::chrono_literals;

namespace {

// Long against the deadlines below, so a read stuck on a dead connection cannot pass for a slow
// answer; the health check's PING waits this long too.
constexpr auto kCommandTimeout = 1000ms;
constexpr auto kHealthCheckInterval = 100ms;
// As test::open_cache(redis) sets it: a connection closed after a fault is back within ~50 ms.
constexpr auto kReconnectBackoffMax = 50ms;
// Bound on the warm-up write and read before the fault, which a healthy path answers at once.
constexpr auto kWarmUpDeadline = 5s;
// How long the network path is down. Simulates the outage, so it is a duration, not a wait for
// an event; long enough for a health check PING to be sent into the blackhole.
constexpr auto kOutage = 300ms;
// Gap between looks at the clock while the outage lasts.
constexpr auto kOutageTick = 5ms;
// How long the cache gets after the fault to have replaced every connection the fault killed:
// a health check finds one within kHealthCheckInterval + kCommandTimeout of its last reply.
constexpr auto kRecoveryBound = 3s;
// The caller's deadline on the read that must be answered: well below kCommandTimeout, so a
// read sent on a stuck connection fails with timeout instead of being rescued by it.
constexpr auto kReadDeadline = 300ms;

// Whether `pred` comes to hold within `limit`, polled every millisecond. Unlike test::wait_until
// it does not end the test, so the read after it still shows what a caller would get.
template <class Pred>
bool holds_within(std::chrono::milliseconds limit, Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// Keeps the network path down for `outage`; a steady_clock loop, as the outage is a duration.
void hold_outage(std::chrono::milliseconds outage) {
  const auto until = std::chrono::steady_clock::now() + outage;
  while (std::chrono::steady_clock::now() < until) std::this_thread::sleep_for(kOutageTick);
}

}  // namespace

TEST_CASE("an idle connection left dead by a network fault is replaced before a caller reads on it",
          "[redis][fault][slow]") {
  test::RedisServer redis;
  test::TcpProxy proxy(redis.port());
  tiercache::Options options;
  options.redis.url = proxy.url();
  options.redis.command_timeout = kCommandTimeout;
  options.redis.health_check_interval = kHealthCheckInterval;
  options.redis.reconnect_backoff_max = kReconnectBackoffMax;
  Cache cache = test::open_cache(options);
  {
    // A write acknowledged and a read answered: both connections are up and have carried traffic.
    REQUIRE(cache.set(test::ctx(), "warm", "v"));
    const auto flushed = cache.flush(test::ctx_with_timeout(kWarmUpDeadline));
    INFO("flush: " << (flushed ? "ok" : flushed.error().detail));
    REQUIRE(flushed);
    const auto warm_miss = cache.get(test::ctx_with_timeout(kWarmUpDeadline), "absent-before");
    REQUIRE_FALSE(warm_miss);
    INFO("the warm-up read got " << warm_miss.error().code.message() << ": "
                                 << warm_miss.error().detail);
    REQUIRE(warm_miss.error() == errc::not_found);
  }
  const std::size_t connections_before = proxy.live_connections();
  REQUIRE(connections_before > 0);

  // No caller touches L2 from here on: only the cache itself can notice the dead connections.
  proxy.blackhole();
  hold_outage(kOutage);
  proxy.heal();
  // Every connection the fault saw is dead for good; the cache must close and replace each
  // one. Counted at the proxy, so the wait sends nothing through the cache.
  const bool replaced = holds_within(kRecoveryBound, [&] {
    return proxy.dead_connections() == 0 && proxy.live_connections() >= connections_before;
  });
  {
    INFO("after " << std::chrono::milliseconds(kRecoveryBound).count() << " ms the proxy holds "
                  << proxy.dead_connections() << " dead and " << proxy.live_connections()
                  << " live connections; " << connections_before << " were live before the fault");
    CHECK(replaced);
  }

  // Redis is healthy and the path works: an L1-cold key is an answered miss, within a deadline
  // shorter than kCommandTimeout. A replacement connection may still be in its handshake (the
  // proxy counts it once accepted): wait for the cache to say it is up. A connection the cache
  // wrongly believes alive says so at once, and the read then waits out its deadline.
  test::wait_until(
      kRecoveryBound, [&] { return cache.stats().l2_available; }, "the cache reports L2 up");
  const auto miss = cache.get(test::ctx_with_timeout(kReadDeadline), "cold-after-the-fault");
  REQUIRE_FALSE(miss);
  INFO("the read got " << miss.error().code.message() << ": " << miss.error().detail);
  CHECK(miss.error() == errc::not_found);
}
