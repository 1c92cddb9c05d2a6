// Redis Cluster failover (adapters/redis/cluster_backend.hpp) on a real local cluster with a
// replica per master: a coordinated CLUSTER FAILOVER, then the new master killed outright. Calls
// succeed again within a bound (the time is printed, never asserted), nothing a sync write had
// acknowledged is lost, and L1 stops being vouched for while a master is gone.
#include <chrono>
#include <cstdio>
#include <map>
#include <stop_token>
#include <string>
#include <thread>
#include <vector>

#include "adapters/redis/cluster_backend.hpp"
#include "tests/support/cluster_cache.hpp"
#include "tests/support/cluster_replies.hpp"
#include "tests/support/redis_cache.hpp"
#include "tests/support/redis_cluster.hpp"

using test::ClusterCache;
using test::field_of;
using tiercache::Cache;
using namespace std::chrono_literals;

namespace {

// Bound on a call made while the cluster fails over: node timeout, election and our refresh,
// with room for a loaded machine.
constexpr auto kRecoveryBound = 20s;

test::ClusterCache open_cluster_cache(const test::RedisCluster& cluster,
                                      const std::string& prefix) {
  tiercache::RedisOptions r;
  r.cluster_nodes = cluster.seeds();
  r.key_prefix = prefix;
  r.command_timeout = 200ms;
  r.reconnect_backoff_max = 50ms;
  tiercache::Options options;
  options.writer.mode = tiercache::WriteMode::sync;
  return test::open_cluster_cache(r, std::move(options));
}

std::string address_of(const test::RedisCluster& cluster, std::size_t i) {
  return "127.0.0.1:" + std::to_string(cluster.node(i).port());
}

bool has_master(const ClusterCache& c, const std::string& address) {
  for (const std::string& m : c.backend->masters())
    if (m == address) return true;
  return false;
}

}  // namespace

TEST_CASE(
    "a master failed over and then killed: calls succeed again and no acknowledged write "
    "is lost",
    "[redis][cluster][failover]") {
  test::RedisCluster cluster({.masters = 3, .replicas_per_master = 1});
  const std::size_t replica = 3;  // node 0's replica
  const std::string prefix = "failover:";
  ClusterCache a = open_cluster_cache(cluster, prefix);
  ClusterCache b = open_cluster_cache(cluster, prefix);
  std::vector<std::string> keys;
  std::string key_on_0;
  for (int i = 0; keys.size() < 40; ++i) {
    const std::string key = "k" + std::to_string(i);
    keys.push_back(key);
    if (key_on_0.empty() && cluster.master_of(cluster.slot_of(prefix + key)) == 0) key_on_0 = key;
  }
  REQUIRE(!key_on_0.empty());

  // One writer, so the last value it had acknowledged is each key's truth.
  std::map<std::string, std::string> acked;
  std::vector<std::string> failures;
  // A jthread: a failed wait below must not leave it running (its destructor stops and joins it).
  std::jthread writer([&](std::stop_token stop) {
    for (int n = 0; !stop.stop_requested(); ++n) {
      const std::string& key = keys[n % keys.size()];
      const std::string value = std::to_string(n);
      auto r = a.cache.set(test::ctx_with_timeout(kRecoveryBound), key, value);
      if (r) {
        acked[key] = value;
      } else {
        failures.push_back(key + ": " + r.error().detail);
      }
    }
  });
  test::wait_until(
      5s, [&] { return a.cache.stats().l2_coherent; }, "a hears every master");

  // 1. Coordinated: the replica takes over without losing a write.
  // Redis drops a manual failover it cannot finish within its own 5 s (CLUSTER_MF_TIMEOUT)
  // without a word: it is asked again until the replica serves the slots.
  REQUIRE(cluster.node(replica).command({"CLUSTER", "FAILOVER"}) == "+OK");
  auto asked = std::chrono::steady_clock::now();
  test::wait_until(
      kRecoveryBound,
      [&] {
        if (cluster.master_of(cluster.slot_of(prefix + key_on_0)) == replica) return true;
        if (std::chrono::steady_clock::now() - asked > 6s) {
          (void)cluster.node(replica).command({"CLUSTER", "FAILOVER"});
          asked = std::chrono::steady_clock::now();
        }
        return false;
      },
      "the replica serves node 0's slots");
  test::wait_until(
      kRecoveryBound, [&] { return has_master(a, address_of(cluster, replica)); },
      "the cache found the new master");
  test::wait_until(
      kRecoveryBound, [&] { return a.cache.set(test::ctx(), key_on_0, "probe").has_value(); },
      "a write to the moved slots succeeds");
  writer.request_stop();
  writer.join();
  REQUIRE(a.cache.set(test::ctx(), key_on_0, "before-kill"));
  acked[key_on_0] = "before-kill";

  // 2. Outright: the new master dies once its replica (the old master) has every write, since
  // Redis replicates asynchronously and tiercache does not WAIT (docs/operations.md).
  test::wait_until(
      kRecoveryBound,
      [&] {
        return field_of(cluster.node(0).command({"INFO", "replication"}), "master_link_status") ==
                   "up" &&
               field_of(cluster.node(replica).command({"INFO", "replication"}),
                        "master_repl_offset") ==
                   field_of(cluster.node(0).command({"INFO", "replication"}), "slave_repl_offset");
      },
      "the old master has replicated every write");
  REQUIRE(b.cache.get(test::ctx(), key_on_0) == "before-kill");  // in b's L1
  test::wait_until(
      5s, [&] { return b.cache.stats().l2_coherent; }, "b hears every master");
  cluster.node(replica).kill();
  const auto killed_at = std::chrono::steady_clock::now();
  test::wait_until(
      5s, [&] { return !b.cache.stats().l2_coherent; },
      "b stops vouching for L1 once a master is gone");
  auto r = a.cache.set(test::ctx_with_timeout(kRecoveryBound), key_on_0, "after-kill");
  const auto recovery_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - killed_at);
  REQUIRE(r);
  acked[key_on_0] = "after-kill";
  std::fprintf(stderr, "cluster failover: first successful sync set %lld ms after the kill\n",
               static_cast<long long>(recovery_ms.count()));
  test::wait_until(
      kRecoveryBound, [&] { return b.cache.stats().l2_coherent; }, "b hears every master again");

  CHECK(failures.empty());
  for (const std::string& f : failures) UNSCOPED_INFO(f);
  ClusterCache c = open_cluster_cache(cluster, prefix);
  for (const auto& [key, value] : acked) {
    INFO(key);
    CHECK(c.cache.get(test::ctx(), key) == value);
  }
  CHECK(b.cache.get(test::ctx(), key_on_0) == "after-kill");
}
