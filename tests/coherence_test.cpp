// Coherence across instances (Redis server-assisted invalidation): what one cache, or any
// other client, changes in Redis stops being served from another cache's L1 within
// milliseconds; a value read while its key changes is answered but not cached; and while the
// change stream is lost no L1 value is served as fresh. Both modes, bcast and tracked.
#include <atomic>
#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/redis_cache.hpp"
#include "tests/support/tcp_proxy.hpp"

using tiercache::Cache;
using tiercache::errc;
using tiercache::InvalidationMode;
using namespace std::chrono_literals;

namespace {

// The bound a reader must see another's change within; the brief's p99 figure is 50 ms. Waited
// for as an event, with this as the bound, never slept.
constexpr auto kHeardWithin = 2s;
// A value whose reply takes seconds to cross a link slowed to kCrawlBytesPerSecond (the proxy's
// 16 KiB head start aside): ample time for an invalidation to overtake it.
constexpr std::size_t kCrawlingValueBytes = std::size_t{256} << 10;
constexpr std::size_t kCrawlBytesPerSecond = 128 << 10;
// The stress test: writer threads in A and as many reader threads in B, on this many keys, for
// this long; then B must agree with Redis kSettle after the last write was acknowledged.
constexpr int kStressThreads = 4;
constexpr int kStressKeys = 200;
constexpr auto kStressRun = 1s;
constexpr auto kSettle = 200ms;

tiercache::Options in_mode(InvalidationMode mode) {
  tiercache::Options o;
  o.redis.invalidation = mode;
  o.redis.key_prefix = "app:";
  return o;
}

// Proves that `key` (answering `expected`) is in the cache's L1: a read, then a second read that
// is an L1 hit. A fill that raced a change message for its key is answered but not kept, and a
// late message may drop what was kept: both only make it read again, within kHeardWithin.
void prove_in_l1(Cache& cache, const std::string& key, const std::string& expected) {
  test::wait_until(
      kHeardWithin,
      [&] {
        REQUIRE(cache.get(test::ctx_with_timeout(1s), key) == expected);
        const auto hits = cache.stats().l1_hits;
        REQUIRE(cache.get(test::ctx(), key) == expected);
        return cache.stats().l1_hits == hits + 1;
      },
      "the value is in L1");
}

// Reads `key`, which another client just set to `expected`, into the cache's L1 and proves it is
// there, so that a later heard() shows a change dropped an L1 value, not a first read from Redis.
// In bcast mode the cache first hears that write (`messages`: the count of invalidations before
// it); in tracked mode nothing is sent for a key the cache never read.
void read_into_l1(Cache& cache, InvalidationMode mode, std::uint64_t messages,
                  const std::string& key, const std::string& expected) {
  if (mode == InvalidationMode::bcast)
    test::wait_until_heard(cache, "the cache hears the other client's write", kHeardWithin,
                           messages);
  prove_in_l1(cache, key, expected);
}

// Reads `key` (which the cache holds in L1) until it answers `expected`, within kHeardWithin.
void heard(Cache& cache, const std::string& key, const tiercache::Result<std::string>& expected,
           const char* what) {
  test::wait_until(
      kHeardWithin,
      [&] {
        auto r = cache.get(test::ctx_with_timeout(1s), key);
        if (expected) return r == *expected;
        return !r && r.error().code == expected.error().code;
      },
      what);
}

tiercache::Result<std::string> absent() {
  return tiercache::fail(errc::not_found);
}

const InvalidationMode kModes[] = {InvalidationMode::bcast, InvalidationMode::tracked};

const char* name_of(InvalidationMode m) {
  return m == InvalidationMode::bcast ? "bcast" : "tracked";
}

}  // namespace

TEST_CASE("another cache's set, purge and a redis-cli write reach this cache's L1", "[redis]") {
  for (const InvalidationMode mode : kModes) {
    INFO("mode " << name_of(mode));
    test::RedisServer redis;
    Cache a = test::open_cache(redis, in_mode(mode));
    Cache b = test::open_cache(redis, in_mode(mode));
    REQUIRE(b.stats().l2_coherent);
    const auto before_v1 = b.stats().invalidations;
    REQUIRE(a.set(test::ctx(), "k", "v1"));
    REQUIRE(a.flush(test::ctx_with_timeout(2s)));
    read_into_l1(b, mode, before_v1, "k", "v1");

    REQUIRE(a.set(test::ctx(), "k", "v2"));
    heard(b, "k", "v2", "B hears A's set");
    REQUIRE(a.purge(test::ctx(), "k"));
    heard(b, "k", absent(), "B hears A's purge");
    // Anyone's write: a plain client, straight to Redis. First a value of its in B's L1 (read
    // once B heard of the write, so that the fill is kept), then another write must drop it.
    REQUIRE(b.get(test::ctx_with_timeout(1s), "k").error() == errc::not_found);
    const auto messages = b.stats().invalidations;
    REQUIRE(redis.command({"SET", "app:k", "from-cli-1"}) == "+OK");
    test::wait_until_heard(b, "B hears the first redis-cli SET", kHeardWithin, messages);
    prove_in_l1(b, "k", "from-cli-1");
    const auto dropped = b.stats().invalidated_keys;
    REQUIRE(redis.command({"SET", "app:k", "from-cli"}) == "+OK");
    heard(b, "k", "from-cli", "B hears a redis-cli SET");
    CHECK(b.stats().invalidated_keys > dropped);
  }
}

TEST_CASE("FLUSHALL, a key Redis expires and a key Redis evicts reach L1 too", "[redis]") {
  for (const InvalidationMode mode : kModes) {
    INFO("mode " << name_of(mode));
    test::RedisServer redis;
    Cache b = test::open_cache(redis, in_mode(mode));
    auto messages = b.stats().invalidations;
    REQUIRE(redis.command({"SET", "app:f", "v"}) == "+OK");
    read_into_l1(b, mode, messages, "f", "v");
    REQUIRE(redis.command({"FLUSHALL"}) == "+OK");
    heard(b, "f", absent(), "B hears FLUSHALL");
    CHECK(b.stats().epoch_bumps >= 1);

    // Expired by Redis: an L1 copy without a TTL of its own (default_ttl 0 caps nothing, the
    // fill takes the PTTL, so give Redis a long one and expire it early with PEXPIRE).
    messages = b.stats().invalidations;
    REQUIRE(redis.command({"SET", "app:e", "v", "PX", "60000"}) == "+OK");
    read_into_l1(b, mode, messages, "e", "v");
    REQUIRE(redis.command({"PEXPIRE", "app:e", "20"}) == ":1");
    heard(b, "e", absent(), "B hears the expiry");

    // Evicted by Redis under maxmemory.
    messages = b.stats().invalidations;
    REQUIRE(redis.command({"SET", "app:victim", "v"}) == "+OK");
    read_into_l1(b, mode, messages, "victim", "v");
    REQUIRE(redis.command({"CONFIG", "SET", "maxmemory-policy", "allkeys-random"}) == "+OK");
    REQUIRE(redis.command({"CONFIG", "SET", "maxmemory", "1"}) == "+OK");
    // Any write makes Redis evict to fit; it evicts every key it can.
    (void)redis.command({"SET", "app:trigger", "x"});
    REQUIRE(redis.command({"CONFIG", "SET", "maxmemory", "0"}) == "+OK");
    heard(b, "victim", absent(), "B hears the eviction");
  }
}

TEST_CASE("a cache's own writes are not echoed back to its L1 in bcast mode", "[redis]") {
  test::RedisServer redis;
  Cache a = test::open_cache(redis, in_mode(InvalidationMode::bcast));
  for (int i = 0; i < 50; ++i) {
    REQUIRE(a.set(test::ctx(), "own" + std::to_string(i), "v"));
    REQUIRE(a.purge(test::ctx(), "gone" + std::to_string(i)));
  }
  REQUIRE(a.flush(test::ctx_with_timeout(2s)));
  // Give an echo the time to come, then count: none may have.
  Cache other = test::open_cache(redis, in_mode(InvalidationMode::bcast));
  REQUIRE(other.set(test::ctx(), "marker", "m"));
  REQUIRE(other.flush(test::ctx_with_timeout(2s)));
  test::wait_until_heard(a, "A hears the marker");
  CHECK(a.stats().invalidations == 1);
  CHECK(a.get(test::ctx(), "own7") == "v");
  CHECK(a.stats().l1_hits >= 1);
}

TEST_CASE("a value read while its key changes is answered but not cached", "[redis]") {
  for (const InvalidationMode mode : kModes) {
    INFO("mode " << name_of(mode));
    test::RedisServer redis;
    test::TcpProxy proxy(redis.port());
    tiercache::Options o = in_mode(mode);
    o.redis.url = proxy.url();
    o.l1.max_value_bytes = kCrawlingValueBytes;
    o.l1.max_bytes = 64 * kCrawlingValueBytes;
    Cache b = test::open_cache(o);
    const std::string old_value(kCrawlingValueBytes, 'o');
    REQUIRE(redis.command({"SET", "app:k", old_value}) == "+OK");

    // B's read runs in Redis at once, but its reply crawls back (each connection has its own
    // bucket, so the invalidation, a few dozen bytes, is not held up behind it).
    const long long reads_before = redis.calls_of("eval");
    proxy.limit_rate(0, kCrawlBytesPerSecond);
    tiercache::Result<std::string> got;
    std::jthread reader([&] { got = b.get(test::ctx_with_timeout(30s), "k"); });
    test::wait_until(
        kHeardWithin, [&] { return redis.calls_of("eval") > reads_before; },
        "Redis has run B's read");
    // The change overtakes the old value on its way to B.
    REQUIRE(redis.command({"SET", "app:k", "new"}) == "+OK");
    test::wait_until_heard(b, "B hears the change", kHeardWithin);
    reader.join();
    REQUIRE(got == old_value);  // its caller gets what it asked L2 for
    CHECK(b.stats().fills_discarded == 1);
    CHECK(b.stats().entries == 0);

    proxy.unlimit_rate();
    CHECK(b.get(test::ctx_with_timeout(1s), "k") == "new");
  }
}

TEST_CASE("a subscriber killed by the server: L1 is not trusted until it is back, then heard",
          "[redis][fault]") {
  for (const InvalidationMode mode : kModes) {
    INFO("mode " << name_of(mode));
    test::RedisServer redis;
    Cache b = test::open_cache(redis, in_mode(mode));
    const auto messages = b.stats().invalidations;
    REQUIRE(redis.command({"SET", "app:k", "v1"}) == "+OK");
    read_into_l1(b, mode, messages, "k", "v1");
    const auto before = b.stats();

    // Whatever changes while B is deaf must not be missed: L1's copy is dropped with the stream.
    REQUIRE(redis.command({"CLIENT", "KILL", "TYPE", "pubsub"}) != ":0");
    REQUIRE(redis.command({"SET", "app:k", "v2"}) == "+OK");
    heard(b, "k", "v2", "B stops serving the value from before the loss");
    test::wait_until(
        kHeardWithin,
        [&] {
          const auto s = b.stats();
          return s.l2_coherent && s.invalidation_reconnects > before.invalidation_reconnects;
        },
        "the subscriber is back");
    CHECK(b.stats().epoch_bumps >= before.epoch_bumps + 2);

    // Heard again: a fresh copy in L1, then a change to it.
    REQUIRE(b.get(test::ctx_with_timeout(1s), "k") == "v2");
    REQUIRE(b.get(test::ctx(), "k") == "v2");
    const auto invalidations = b.stats().invalidations;
    REQUIRE(redis.command({"SET", "app:k", "v3"}) == "+OK");
    heard(b, "k", "v3", "B hears changes again");
    CHECK(b.stats().invalidations > invalidations);
  }
}

TEST_CASE("tracked mode: the tracking connection killed makes every L1 value a miss",
          "[redis][fault]") {
  test::RedisServer redis;
  Cache b = test::open_cache(redis, in_mode(InvalidationMode::tracked));
  REQUIRE(redis.command({"SET", "app:k", "v1"}) == "+OK");
  read_into_l1(b, InvalidationMode::tracked, 0, "k", "v1");
  // The server forgets what the killed connection read; a change after that reaches nobody.
  const std::uint16_t tracking = redis.client_port("flags=t");
  REQUIRE(tracking != 0);
  REQUIRE(redis.command({"CLIENT", "KILL", "ADDR", "127.0.0.1:" + std::to_string(tracking)}) ==
          ":1");
  REQUIRE(redis.command({"SET", "app:k", "v2"}) == "+OK");
  heard(b, "k", "v2", "B stops serving what it read before the loss");
}

TEST_CASE("a subscriber gone silent is found by its heartbeat; L1 is not trusted meanwhile",
          "[redis][fault]") {
  for (const InvalidationMode mode : kModes) {
    INFO("mode " << name_of(mode));
    test::RedisServer redis;
    test::TcpProxy proxy(redis.port());
    tiercache::Options o = in_mode(mode);
    o.redis.url = proxy.url();
    Cache b = test::open_cache(o);
    const auto messages = b.stats().invalidations;
    REQUIRE(redis.command({"SET", "app:k", "v1"}) == "+OK");
    read_into_l1(b, mode, messages, "k", "v1");
    const auto before = b.stats();

    // Only the subscriber's path goes dead: no RST, no FIN; reads and writes still work.
    const std::uint16_t subscriber = redis.client_port("sub=1");
    REQUIRE(subscriber != 0);
    REQUIRE(proxy.blackhole_one(subscriber));
    REQUIRE(redis.command({"SET", "app:k", "v2"}) == "+OK");  // unheard by B
    // Within invalidation_heartbeat + command_timeout (0.3 s) B stops trusting "v1".
    heard(b, "k", "v2", "B stops serving the value from before the silence");
    test::wait_until(
        kHeardWithin,
        [&] {
          const auto s = b.stats();
          return s.l2_coherent && s.invalidation_reconnects > before.invalidation_reconnects;
        },
        "a new subscriber is up");
    REQUIRE(b.get(test::ctx_with_timeout(1s), "k") == "v2");
    REQUIRE(redis.command({"SET", "app:k", "v3"}) == "+OK");
    heard(b, "k", "v3", "B hears changes again");
  }
}

TEST_CASE("stress: writers in A, readers in B; once writes stop, B's L1 agrees with Redis",
          "[redis][stress]") {
  for (const InvalidationMode mode : kModes) {
    INFO("mode " << name_of(mode));
    test::RedisServer redis;
    Cache a = test::open_cache(redis, in_mode(mode));
    Cache b = test::open_cache(redis, in_mode(mode));
    std::atomic<bool> stop{false};
    std::vector<std::jthread> threads;
    const unsigned seed = test::seed();
    for (int t = 0; t < kStressThreads; ++t) {
      threads.emplace_back([&, t] {
        std::mt19937 rng(seed + t);
        std::uniform_int_distribution<int> pick(0, kStressKeys - 1);
        for (int i = 0; !stop.load(std::memory_order_relaxed); ++i) {
          const std::string key = "s" + std::to_string(pick(rng));
          if (i % 8 == 7) {
            (void)a.purge(test::ctx(), key);
          } else {
            (void)a.set(test::ctx(), key, std::to_string(t) + ":" + std::to_string(i));
          }
        }
      });
      threads.emplace_back([&, t] {
        std::mt19937 rng(seed + 100 + t);
        std::uniform_int_distribution<int> pick(0, kStressKeys - 1);
        while (!stop.load(std::memory_order_relaxed))
          (void)b.get(test::ctx_with_timeout(1s), "s" + std::to_string(pick(rng)));
      });
    }
    std::this_thread::sleep_for(kStressRun);  // how long the load runs, not a wait for an event
    stop = true;
    threads.clear();
    REQUIRE(a.flush(test::ctx_with_timeout(5s)));
    std::this_thread::sleep_for(kSettle);  // the brief's promise: agreement 200 ms after

    for (int k = 0; k < kStressKeys; ++k) {
      const std::string key = "s" + std::to_string(k);
      const std::string in_redis = redis.command({"GET", "app:" + key});
      auto in_b = b.get(test::ctx_with_timeout(1s), key);
      INFO("key " << key);
      if (in_redis == "(nil)") {
        CHECK((!in_b && in_b.error() == errc::not_found));
      } else {
        CHECK(in_b == in_redis);
      }
    }
    CHECK(b.stats().invalidated_keys > 0);
    CHECK(b.stats().l1_hits > 0);
  }
}

TEST_CASE(
    "a user Redis does not let track or subscribe: reads work, L1 is never trusted, and "
    "stats say why",
    "[redis]") {
  struct Case {
    const char* what;
    std::vector<std::string> acl;  // the user's rules
    const char* reason;            // in l2_last_error
  };
  const Case cases[] = {
      {"no CLIENT TRACKING", {"~*", "&*", "+@all", "-client|tracking"}, "CLIENT TRACKING refused"},
      {"no channels", {"~*", "resetchannels", "+@all"}, "NOPERM"},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    test::RedisServer redis;
    std::vector<std::string> setuser = {"ACL", "SETUSER", "limited", "on", ">pw"};
    setuser.insert(setuser.end(), c.acl.begin(), c.acl.end());
    REQUIRE(redis.command(setuser) == "+OK");
    tiercache::Options o = in_mode(InvalidationMode::bcast);
    o.redis.url = "redis://limited:pw@127.0.0.1:" + std::to_string(redis.port()) + "/0";
    Cache b = test::open_cache(o);
    REQUIRE(redis.command({"SET", "app:k", "v"}) == "+OK");
    CHECK(b.get(test::ctx_with_timeout(1s), "k") == "v");
    CHECK(b.get(test::ctx_with_timeout(1s), "k") == "v");
    const auto s = b.stats();
    CHECK(s.l2_available);
    CHECK_FALSE(s.l2_coherent);
    CHECK(s.l2_hits == 2);  // both from L2: nothing L1 holds is trusted
    CHECK_THAT(s.l2_last_error, Catch::Contains(c.reason));
  }
}

TEST_CASE("tracked mode: a cache's own acknowledged write is read again before it is trusted",
          "[redis]") {
  test::RedisServer redis;
  Cache a = test::open_cache(redis, in_mode(InvalidationMode::tracked));
  REQUIRE(a.set(test::ctx(), "k", "mine"));
  REQUIRE(a.flush(test::ctx_with_timeout(2s)));
  // Redis tracks what a client reads, not what it writes: A was never told to watch "k".
  REQUIRE(redis.command({"SET", "app:k", "theirs"}) == "+OK");
  CHECK(a.get(test::ctx_with_timeout(1s), "k") == "theirs");
  // Read, so tracked: the next change is heard.
  REQUIRE(a.get(test::ctx(), "k") == "theirs");
  REQUIRE(redis.command({"SET", "app:k", "later"}) == "+OK");
  heard(a, "k", "later", "A hears a change to a key it read");
}

// A backend has one change-stream subscriber (Backend::set_events): a second cache on it would
// take the stream from the first, which would then serve values others changed in Redis.
TEST_CASE("a backend serves one cache at a time: a second open on it is refused", "[redis]") {
  test::RedisServer redis;
  tiercache::Options built_from = in_mode(InvalidationMode::tracked);
  built_from.redis.url = redis.url();
  auto built = tiercache::make_backend(built_from);
  REQUIRE(built);
  REQUIRE(*built);
  tiercache::Options o;
  o.backend = std::shared_ptr<tiercache::Backend>(std::move(*built));
  {
    Cache first = test::open_cache(o);
    {
      auto second = Cache::open(o);
      REQUIRE_FALSE(second.has_value());
      CHECK(second.error() == errc::invalid_argument);
      CHECK_THAT(second.error().detail, Catch::Contains("Options.backend"));
    }
    // The refused open took nothing from the first cache: it still hears changes.
    REQUIRE(redis.command({"SET", "app:k", "v1"}) == "+OK");
    prove_in_l1(first, "k", "v1");
    REQUIRE(redis.command({"SET", "app:k", "v2"}) == "+OK");
    heard(first, "k", "v2", "the first cache hears a change after the refused open");
  }
  // Once the first cache is gone, the backend is free for another.
  Cache next = test::open_cache(o);
  REQUIRE(redis.command({"SET", "app:k", "v3"}) == "+OK");
  CHECK(next.get(test::ctx_with_timeout(1s), "k") == "v3");
}
