// Reads from Redis Cluster replicas (Options.redis.read_from_replicas): the topology lists the
// replicas that are up; with the option a key's read is answered by its master's replica, and
// without it by the master; a change made elsewhere still reaches L1; a replica that stops
// answering, or whose link to its master is down, leaves its reads to the master; the option
// without a cluster is refused.
#include <string>
#include <vector>

#include "adapters/redis/cluster_backend.hpp"
#include "adapters/redis/cluster_topology.hpp"
#include "tests/support/cluster_cache.hpp"
#include "tests/support/cluster_replies.hpp"
#include "tests/support/redis_cache.hpp"
#include "tests/support/redis_cluster.hpp"

using test::bulk;
using test::ClusterCache;
using test::field_of;
using test::reply_of;
using tiercache::Cache;
using tiercache::errc;
using namespace std::chrono_literals;

namespace {

constexpr int kMasters = 3;

std::string shard_node(int port, const std::string& role, const std::string& health) {
  return "*8\r\n" + bulk("ip") + bulk("127.0.0.1") + bulk("port") + ":" + std::to_string(port) +
         "\r\n" + bulk("role") + bulk(role) + bulk("health") + bulk(health);
}

tiercache::RedisOptions replica_options(const test::RedisCluster& cluster, bool from_replicas) {
  tiercache::RedisOptions r;
  r.cluster_nodes = cluster.seeds();
  r.key_prefix = "replica:";
  r.command_timeout = 200ms;
  r.reconnect_backoff_max = 50ms;
  r.read_from_replicas = from_replicas;
  return r;
}

// Every replica has applied every write its master took.
void wait_replicated(const test::RedisCluster& cluster) {
  for (int m = 0; m < kMasters; ++m) {
    const std::size_t replica = static_cast<std::size_t>(kMasters + m);
    test::wait_until(
        10s,
        [&] {
          return field_of(cluster.node(replica).command({"INFO", "replication"}),
                          "slave_repl_offset") ==
                 field_of(
                     cluster.node(static_cast<std::size_t>(m)).command({"INFO", "replication"}),
                     "master_repl_offset");
        },
        "a replica has its master's writes");
  }
}

// Sets k0 .. k<count - 1> to value(i) through `writer` and returns their names once every
// replica has applied them.
template <typename Value>
std::vector<std::string> set_replicated(const test::RedisCluster& cluster, Cache& writer, int count,
                                        Value value) {
  std::vector<std::string> keys;
  for (int i = 0; i < count; ++i) {
    keys.push_back("k" + std::to_string(i));
    REQUIRE(writer.set(test::ctx(), keys.back(), value(i)));
  }
  REQUIRE(writer.flush(test::ctx()));
  wait_replicated(cluster);
  return keys;
}

std::vector<long long> eval_calls(const test::RedisCluster& cluster) {
  std::vector<long long> calls;
  for (std::size_t i = 0; i < cluster.size(); ++i)
    calls.push_back(cluster.node(i).calls_of("eval"));
  return calls;
}

}  // namespace

TEST_CASE("the topology lists the replicas that are up with their masters", "[redis][cluster]") {
  // CLUSTER SHARDS: one shard, its master, a replica online, one loading (Redis 7.0 says so of
  // every replica whose offset the cluster bus has not carried yet) and one failed.
  const std::string shards =
      "*1\r\n*4\r\n" + bulk("slots") + "*2\r\n:0\r\n:16383\r\n" + bulk("nodes") + "*4\r\n" +
      shard_node(7000, "master", "online") + shard_node(7001, "replica", "online") +
      shard_node(7002, "replica", "fail") + shard_node(7003, "replica", "loading");
  auto s = reply_of(shards);
  REQUIRE(s != nullptr);
  const auto from_shards = tiercache::redis::parse_cluster_shards(*s);
  REQUIRE(from_shards);
  REQUIRE(from_shards->replicas.size() == 2);
  CHECK(from_shards->replicas[0].address() == "127.0.0.1:7001");
  CHECK(from_shards->replicas[1].address() == "127.0.0.1:7003");
  CHECK(from_shards->replicas[1].master == "127.0.0.1:7000");

  // CLUSTER SLOTS: two ranges of one master, each naming its replica (listed once), and a
  // replica entry with no port (left out, the topology kept).
  auto entry = [](int first, int last) {
    return "*5\r\n:" + std::to_string(first) + "\r\n:" + std::to_string(last) +
           "\r\n*2\r\n$9\r\n127.0.0.1\r\n:7000\r\n*2\r\n$9\r\n127.0.0.1\r\n:7001\r\n*1\r\n" +
           bulk("127.0.0.1");
  };
  auto slots = reply_of("*2\r\n" + entry(0, 99) + entry(100, 16383));
  REQUIRE(slots != nullptr);
  const auto from_slots = tiercache::redis::parse_cluster_slots(*slots);
  REQUIRE(from_slots);
  REQUIRE(from_slots->replicas.size() == 1);
  CHECK(from_slots->replicas[0].address() == "127.0.0.1:7001");
  CHECK(from_slots->replicas[0].master == "127.0.0.1:7000");
}

TEST_CASE("read_from_replicas without cluster_nodes is refused at open", "[redis][cluster]") {
  tiercache::Options o;
  o.redis.read_from_replicas = true;
  auto alone = Cache::open(o);
  REQUIRE(!alone);
  CHECK(alone.error() == errc::invalid_argument);
  CHECK(alone.error().detail.find("read_from_replicas") != std::string::npos);
  o.redis.host = "127.0.0.1";
  auto single = Cache::open(o);
  REQUIRE(!single);
  CHECK(single.error() == errc::invalid_argument);
}

TEST_CASE("read_from_replicas with tracked invalidation is refused at open", "[redis][cluster]") {
  // A read a replica answers is tracked by no master: no change to its key would reach L1.
  tiercache::Options o;
  o.redis.cluster_nodes = {"127.0.0.1:1"};
  o.redis.read_from_replicas = true;
  o.redis.invalidation = tiercache::InvalidationMode::tracked;
  auto opened = Cache::open(o);
  REQUIRE(!opened);
  CHECK(opened.error() == errc::invalid_argument);
  CHECK(opened.error().detail.find("tracked") != std::string::npos);
}

TEST_CASE("reads go to the replicas only when read_from_replicas is set", "[redis][cluster]") {
  test::RedisCluster cluster({.masters = kMasters, .replicas_per_master = 1});
  ClusterCache writer = test::open_cluster_cache(replica_options(cluster, false));
  const std::vector<std::string> keys =
      set_replicated(cluster, writer.cache, 60, [](int i) { return "v" + std::to_string(i); });

  // Off (the default): every read on a master.
  ClusterCache masters_only = test::open_cluster_cache(replica_options(cluster, false));
  CHECK(masters_only.backend->replicas().empty());
  std::vector<long long> before = eval_calls(cluster);
  for (std::size_t i = 0; i < keys.size(); ++i)
    CHECK(masters_only.cache.get(test::ctx(), keys[i]) == "v" + std::to_string(i));
  std::vector<long long> after = eval_calls(cluster);
  for (int r = kMasters; r < 2 * kMasters; ++r) CHECK(after[r] == before[r]);

  // On: every read on a replica, each replica serving its master's keys.
  ClusterCache from_replicas = test::open_cluster_cache(replica_options(cluster, true));
  CHECK(from_replicas.backend->replicas().size() == kMasters);
  before = eval_calls(cluster);
  for (std::size_t i = 0; i < keys.size(); ++i)
    CHECK(from_replicas.cache.get(test::ctx(), keys[i]) == "v" + std::to_string(i));
  after = eval_calls(cluster);
  for (int m = 0; m < kMasters; ++m) CHECK(after[m] == before[m]);
  for (int r = kMasters; r < 2 * kMasters; ++r) CHECK(after[r] > before[r]);

  // Changes are still heard from the masters: a write through another instance reaches the
  // L1 that a replica filled.
  test::wait_until(
      5s, [&] { return from_replicas.cache.stats().l2_coherent; }, "it hears every master");
  REQUIRE(writer.cache.set(test::ctx(), keys[0], "changed"));
  REQUIRE(writer.cache.flush(test::ctx()));
  test::wait_until(
      5s, [&] { return from_replicas.cache.get(test::ctx(), keys[0]) == "changed"; },
      "the change reaches the replica reader");
}

TEST_CASE("a replica that stops answering leaves its reads to the master", "[redis][cluster]") {
  test::RedisCluster cluster({.masters = kMasters, .replicas_per_master = 1});
  ClusterCache writer = test::open_cluster_cache(replica_options(cluster, false));
  const std::vector<std::string> keys =
      set_replicated(cluster, writer.cache, 40, [](int i) { return "v" + std::to_string(i); });
  ClusterCache reader = test::open_cluster_cache(replica_options(cluster, true));
  REQUIRE(reader.backend->replicas().size() == kMasters);

  // Paused, a replica still accepts connections and answers nothing: each read sent there times
  // out (command_timeout) and is sent to its master.
  for (int r = kMasters; r < 2 * kMasters; ++r) cluster.node(static_cast<std::size_t>(r)).pause();
  std::vector<std::string> failures;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    auto v = reader.cache.get(test::ctx_with_timeout(5s), keys[i]);
    if (!v) {
      failures.push_back(keys[i] + ": " + v.error().detail);
    } else if (*v != "v" + std::to_string(i)) {
      failures.push_back(keys[i] + ": read " + *v);
    }
  }
  for (int r = kMasters; r < 2 * kMasters; ++r) cluster.node(static_cast<std::size_t>(r)).resume();
  for (const std::string& f : failures) UNSCOPED_INFO(f);
  CHECK(failures.empty());
}

TEST_CASE("a replica cut off from its master leaves its reads to the master", "[redis][cluster]") {
  // Its cluster health stays "online" while its replication link is down, so it stays listed.
  // With replica-serve-stale-data no (docs/operations.md) it refuses reads (MASTERDOWN) instead
  // of answering from data as old as the cut, and the master answers them.
  test::RedisCluster cluster({.masters = kMasters, .replicas_per_master = 1});
  ClusterCache writer = test::open_cluster_cache(replica_options(cluster, false));
  const std::vector<std::string> keys =
      set_replicated(cluster, writer.cache, 30, [](int) { return std::string("old"); });

  // Cut: each replica's next sync fails its AUTH, and its link is dropped now.
  for (int r = kMasters; r < 2 * kMasters; ++r) {
    const test::RedisServer& replica = cluster.node(static_cast<std::size_t>(r));
    replica.command({"CONFIG", "SET", "replica-serve-stale-data", "no"});
    replica.command({"CONFIG", "SET", "masteruser", "nobody"});
    replica.command({"CONFIG", "SET", "masterauth", "wrong"});
    replica.command({"CLIENT", "KILL", "TYPE", "master"});
  }
  for (int r = kMasters; r < 2 * kMasters; ++r)
    test::wait_until(
        5s,
        [&] {
          return field_of(
                     cluster.node(static_cast<std::size_t>(r)).command({"INFO", "replication"}),
                     "master_link_status") == "down";
        },
        "a replica's link is down");
  for (const std::string& k : keys) REQUIRE(writer.cache.set(test::ctx(), k, "new"));
  REQUIRE(writer.cache.flush(test::ctx()));

  ClusterCache reader = test::open_cluster_cache(replica_options(cluster, true));
  REQUIRE(reader.backend->replicas().size() == kMasters);
  std::vector<std::string> failures;
  for (const std::string& k : keys) {
    auto v = reader.cache.get(test::ctx_with_timeout(5s), k);
    if (!v) {
      failures.push_back(k + ": " + v.error().detail);
    } else if (*v != "new") {
      failures.push_back(k + ": read " + *v);
    }
  }
  for (const std::string& f : failures) UNSCOPED_INFO(f);
  CHECK(failures.empty());
}
