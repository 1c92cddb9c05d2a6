#include <unistd.h>

#include "examples/backend/map_backend.hpp"
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

TEST_CASE("open refuses invalid Redis and writer options and names the field") {
  using tiercache::RedisOptions;
  using namespace std::chrono_literals;
  CHECK_THAT(refusal({.redis = {.url = "redis://h", .host = "h"}}),
             Catch::Contains("Options.redis.url is set"));
  CHECK_THAT(refusal({.redis = {.url = "memcache://h"}}), Catch::Contains("Options.redis.url"));
  CHECK_THAT(refusal({.redis = {.host = "h", .unix_socket = "/tmp/s"}}),
             Catch::Contains("host and Options.redis.unix_socket"));
  CHECK_THAT(refusal({.redis = {.host = "h", .port = 0}}), Catch::Contains("Options.redis.port"));
  CHECK_THAT(refusal({.redis = {.host = "h", .user = "u"}}), Catch::Contains("without a password"));
  CHECK_THAT(refusal({.redis = {.host = "h", .command_timeout = 0ms}}),
             Catch::Contains("Options.redis.command_timeout is 0ms"));
  CHECK_THAT(
      refusal(
          {.redis = {.host = "h", .reconnect_backoff_min = 100ms, .reconnect_backoff_max = 10ms}}),
      Catch::Contains("reconnect_backoff_max"));
  CHECK_THAT(refusal({.redis = {.host = "h", .invalidation_heartbeat = 0ms}}),
             Catch::Contains("Options.redis.invalidation_heartbeat is 0ms"));
  CHECK_THAT(refusal({.redis = {.host = "h",
                                .invalidation = static_cast<tiercache::InvalidationMode>(9)}}),
             Catch::Contains("Options.redis.invalidation is 9"));
  CHECK_THAT(refusal({.redis = {.host = "h"}, .writer = {.queue_max_ops = 1}}),
             Catch::Contains("Options.writer.queue_max_ops is 1"));
  CHECK_THAT(refusal({.redis = {.host = "h"}, .writer = {.batch_max_ops = 0}}),
             Catch::Contains("Options.writer.batch_max_ops is 0"));
  CHECK_THAT(refusal({.ttl_jitter = 1.5}), Catch::Contains("Options.ttl_jitter is 1.5"));
}

TEST_CASE("the effective options never print the Redis password") {
  auto cache = Cache::open({.redis = {.url = "redis://:hunter2@127.0.0.1:1/0",
                                      .connect_timeout = std::chrono::milliseconds(1)}});
  REQUIRE(cache);
  const std::string text = tiercache::to_string(cache->options());
  CHECK_THAT(text, Catch::Contains("redis.url=redis://***@127.0.0.1:1/0"));
  CHECK_THAT(text, !Catch::Contains("hunter2"));
  // Also from a URL open() would refuse, its scheme misspelt.
  tiercache::Options misspelt;
  misspelt.redis.url = "redis:/u:hunter2@127.0.0.1:1";
  CHECK_THAT(tiercache::to_string(misspelt), Catch::Contains("redis.url=***@127.0.0.1:1"));
  CHECK_THAT(tiercache::to_string(misspelt), !Catch::Contains("hunter2"));
  // And with the host forgotten: no '@' says where the password ends.
  tiercache::Options hostless;
  hostless.redis.url = "redis://:hunter2";
  CHECK_THAT(tiercache::to_string(hostless), !Catch::Contains("hunter2"));
  // The url says port and db; the fields' defaults, not in use, are not printed beside it.
  CHECK_THAT(text, !Catch::Contains("redis.port="));
  CHECK_THAT(text, !Catch::Contains("redis.db="));
  CHECK_THAT(text, Catch::Contains("redis.invalidation=bcast redis.invalidation_heartbeat=100ms"));
  CHECK_THAT(text, Catch::Contains("stale_if_l2_down=false"));
  auto by_field = Cache::open({.redis = {.host = "127.0.0.1",
                                         .port = 1,
                                         .password = "hunter2",
                                         .connect_timeout = std::chrono::milliseconds(1)}});
  REQUIRE(by_field);
  CHECK_THAT(tiercache::to_string(by_field->options()), Catch::Contains("redis.password=***"));
  CHECK_THAT(tiercache::to_string(by_field->options()), !Catch::Contains("hunter2"));
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

TEST_CASE("Options.backend is the L2 and cannot be set next to Options.redis") {
  auto store = std::make_shared<example::MapStore>();
  auto own = std::make_shared<example::MapBackend>(store);
  tiercache::Options both;
  both.backend = own;
  both.redis.host = "127.0.0.1";
  auto refused = tiercache::Cache::open(both);
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error() == tiercache::errc::invalid_argument);
  CHECK_THAT(refused.error().detail, Catch::Contains("Options.backend and Options.redis"));

  tiercache::Options o;
  o.backend = own;
  o.writer.mode = tiercache::WriteMode::sync;
  const long held_by_the_program = own.use_count();  // own, both, o: a refused open keeps none
  CHECK(held_by_the_program == 3);
  {
    auto cache = test::open_cache(o);
    CHECK_THAT(tiercache::to_string(cache.options()), Catch::Contains("backend=own"));
    REQUIRE(cache.set(test::ctx(), "k", "in the program's backend").has_value());
    CHECK(store->find("k")->value == "in the program's backend");
  }
  // The destroyed cache let go of it.
  CHECK(own.use_count() == held_by_the_program);
}

TEST_CASE("open refuses an expected_entry_bytes beyond the largest entry instead of dividing by 0",
          "[options]") {
  // The largest entry the header can describe: a 65535-byte key and a (2^32 - 1)-byte value.
  constexpr std::size_t kLargestEntry = 65535 + std::size_t{UINT32_MAX};
  // SIZE_MAX - 80 plus the 81-byte entry overhead wrapped to 0: open died of SIGFPE.
  CHECK_THAT(refusal({.l1 = {.expected_entry_bytes = SIZE_MAX - 80}}),
             Catch::Contains("Options.l1.expected_entry_bytes is 18446744073709551535; must be in "
                             "[1, 4295032830]"));
  CHECK_THAT(refusal({.l1 = {.expected_entry_bytes = kLargestEntry + 1}}),
             Catch::Contains("Options.l1.expected_entry_bytes is 4295032831"));
  // The bound itself is taken: no entry is expected up front, and the index grows on demand.
  Cache cache = test::open_cache({.l1 = {.expected_entry_bytes = kLargestEntry}});
  for (int i = 0; i < 100; ++i)
    REQUIRE(cache.set(test::ctx(), "k" + std::to_string(i), "v" + std::to_string(i)));
  for (int i = 0; i < 100; ++i)
    CHECK(cache.get(test::ctx(), "k" + std::to_string(i)).value_or("") == "v" + std::to_string(i));
}

TEST_CASE("open refuses a timeout, interval or backoff past a day: it would overflow a deadline",
          "[options]") {
  using namespace std::chrono_literals;
  using ms = std::chrono::milliseconds;
  // tiercache::kMaxOptionDuration, spelt out so that the test also builds on the code before it.
  constexpr ms kDay = 24h;
  const ms over = kDay + 1ms;
  const std::string rule = "ms; must be in [1, 86400000]";
  auto own = std::make_shared<example::MapBackend>(std::make_shared<example::MapStore>());

  CHECK_THAT(refusal({.backend = own, .writer = {.batch_timeout = ms::max()}}),
             Catch::Contains("Options.writer.batch_timeout is 9223372036854775807" + rule));
  CHECK_THAT(refusal({.redis = {.host = "h"}, .writer = {.batch_timeout = over}}),
             Catch::Contains("Options.writer.batch_timeout is 86400001" + rule));
  CHECK_THAT(refusal({.redis = {.host = "h", .connect_timeout = over}}),
             Catch::Contains("Options.redis.connect_timeout is 86400001" + rule));
  CHECK_THAT(refusal({.redis = {.host = "h", .command_timeout = ms::max()}}),
             Catch::Contains("Options.redis.command_timeout is 9223372036854775807" + rule));
  CHECK_THAT(
      refusal(
          {.redis = {.host = "h", .reconnect_backoff_min = over, .reconnect_backoff_max = over}}),
      Catch::Contains("Options.redis.reconnect_backoff_min is 86400001" + rule));
  // The doubling backoff overflowed on its way up to a huge max, and went negative.
  CHECK_THAT(refusal({.redis = {.host = "h", .reconnect_backoff_max = ms::max()}}),
             Catch::Contains("Options.redis.reconnect_backoff_max is 9223372036854775807" + rule));
  CHECK_THAT(refusal({.redis = {.host = "h", .health_check_interval = over}}),
             Catch::Contains("Options.redis.health_check_interval is 86400001" + rule));
  CHECK_THAT(refusal({.redis = {.host = "h", .invalidation_heartbeat = over}}),
             Catch::Contains("Options.redis.invalidation_heartbeat is 86400001" + rule));
  // Every node of a cluster is checked alike, before any is asked.
  CHECK_THAT(refusal({.redis = {.cluster_nodes = {"127.0.0.1:1"}, .command_timeout = over}}),
             Catch::Contains("Options.redis.command_timeout is 86400001" + rule));

  // The bound itself is taken (a Redis that refuses connections: open does not wait for it).
  Cache at_bound = test::open_cache({.redis = {.host = "127.0.0.1",
                                               .port = 1,
                                               .connect_timeout = 1ms,
                                               .command_timeout = kDay,
                                               .reconnect_backoff_min = kDay,
                                               .reconnect_backoff_max = kDay,
                                               .health_check_interval = kDay,
                                               .invalidation_heartbeat = kDay},
                                     .writer = {.batch_timeout = kDay}});
  CHECK_THAT(tiercache::to_string(at_bound.options()),
             Catch::Contains("writer.batch_timeout=86400000ms"));
}

TEST_CASE("open refuses an out-of-range writer mode, queue-full policy or L2-down policy",
          "[options]") {
  // when_full 7 was taken: a set that found the queue full went round enqueue_write's loop for
  // ever (no case of its switch matched), at 100% CPU and past its deadline.
  auto own = std::make_shared<example::MapBackend>(std::make_shared<example::MapStore>());
  CHECK_THAT(refusal({.backend = own,
                      .writer = {.when_full = static_cast<tiercache::QueueFullPolicy>(7)}}),
             Catch::Contains("Options.writer.when_full is 7; must be wait, refuse or drop_oldest"));
  CHECK_THAT(refusal({.redis = {.host = "h"},
                      .writer = {.when_full = static_cast<tiercache::QueueFullPolicy>(-1)}}),
             Catch::Contains("Options.writer.when_full is -1"));
  CHECK_THAT(refusal({.backend = own, .writer = {.mode = static_cast<tiercache::WriteMode>(2)}}),
             Catch::Contains("Options.writer.mode is 2; must be async or sync"));
  CHECK_THAT(refusal({.when_l2_down = static_cast<tiercache::L2DownPolicy>(5)}),
             Catch::Contains("Options.when_l2_down is 5; must be fail or load"));
  // The tests' own way in checks the writer's options as open() does.
  auto scripted = tiercache::CacheTestAccess::open_with(
      {.writer = {.when_full = static_cast<tiercache::QueueFullPolicy>(7)}},
      std::make_unique<example::MapBackend>(std::make_shared<example::MapStore>()));
  REQUIRE_FALSE(scripted.has_value());
  CHECK(scripted.error() == errc::invalid_argument);
  CHECK_THAT(scripted.error().detail, Catch::Contains("Options.writer.when_full is 7"));
}

TEST_CASE("open refuses an l1.max_bytes beyond the machine's physical memory", "[options]") {
  // Each shard's index and CLOCK were sized from max_bytes at open: SIZE_MAX made an empty cache
  // of ~5 GB, and with 1024 shards open() threw std::bad_alloc.
  const std::size_t physical = static_cast<std::size_t>(sysconf(_SC_PHYS_PAGES)) *
                               static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
  CHECK_THAT(refusal({.l1 = {.max_bytes = SIZE_MAX}}),
             Catch::Contains("Options.l1.max_bytes is 18446744073709551615; must be <= the "
                             "machine's physical memory (" +
                             std::to_string(physical) + " bytes)"));
  CHECK_THAT(refusal({.l1 = {.max_bytes = SIZE_MAX, .shards = 1024}}),
             Catch::Contains("Options.l1.max_bytes is 18446744073709551615"));
  CHECK_THAT(refusal({.l1 = {.max_bytes = physical + 1}}),
             Catch::Contains("Options.l1.max_bytes is " + std::to_string(physical + 1)));
}

TEST_CASE("to_string prints the writer's options with an own backend, and a cluster's seeds",
          "[options]") {
  auto own = std::make_shared<example::MapBackend>(std::make_shared<example::MapStore>());
  // It stopped at "backend=own", though every writer.* option applies to that backend.
  const std::string with_backend =
      tiercache::to_string({.backend = own,
                            .writer = {.mode = tiercache::WriteMode::sync,
                                       .when_full = tiercache::QueueFullPolicy::drop_oldest,
                                       .queue_max_ops = 77}});
  CHECK_THAT(with_backend, Catch::Contains("backend=own"));
  CHECK_THAT(with_backend, Catch::Contains("writer.mode=sync writer.when_full=drop_oldest "
                                           "writer.queue_max_ops=77"));
  CHECK_THAT(with_backend, Catch::Contains("writer.batch_timeout=60000ms"));
  CHECK_THAT(with_backend, !Catch::Contains("redis."));

  // A cluster printed "redis.host= redis.port=6379", its seeds and replica reads nowhere.
  const std::string cluster = tiercache::to_string(
      {.redis = {.password = "hunter2",
                 .cluster_nodes = {"10.0.0.1:7000", "redis://u:s3cret@10.0.0.2:7001"},
                 .read_from_replicas = true}});
  CHECK_THAT(cluster,
             Catch::Contains("redis.cluster_nodes=10.0.0.1:7000,redis://***@10.0.0.2:7001"));
  CHECK_THAT(cluster, Catch::Contains("redis.read_from_replicas=true"));
  CHECK_THAT(cluster, Catch::Contains("redis.password=***"));
  CHECK_THAT(cluster, !Catch::Contains("hunter2"));
  CHECK_THAT(cluster, !Catch::Contains("s3cret"));
  CHECK_THAT(cluster, !Catch::Contains("redis.host="));
  CHECK_THAT(cluster, !Catch::Contains("redis.port="));
  CHECK_THAT(cluster, Catch::Contains("writer.mode=async"));
  // Outside a cluster read_from_replicas does not apply (open refuses it there).
  CHECK_THAT(tiercache::to_string({.redis = {.host = "h"}}),
             !Catch::Contains("redis.read_from_replicas"));
}
