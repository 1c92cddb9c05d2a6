// tests/support/redis_cluster.hpp — test::RedisCluster, a real Redis Cluster owned by one test:
// a test::RedisServer per node (free loopback ports, private temp dirs, killed on scope exit,
// test failure included), slots split evenly over the masters, a replica per master if asked,
// ready on return (every live node says cluster_state:ok and knows every slot). Built with the
// cluster commands themselves (ADDSLOTSRANGE, SET-CONFIG-EPOCH, MEET, REPLICATE) rather than
// `redis-cli --cluster create`, which sleeps a whole second per step. Every wait polls an
// observable state with a bound and throws on expiry.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/redis_server.hpp"

namespace test {

struct RedisClusterOptions {
  int masters = 3;
  int replicas_per_master = 0;
  // cluster-node-timeout: how long a node may not answer before it is failed over.
  std::chrono::milliseconds node_timeout{1000};
};

class RedisCluster {
 public:
  using Options = RedisClusterOptions;

  // Throws std::runtime_error if the cluster is not ok within kReadyTimeout.
  explicit RedisCluster(Options options = {});

  RedisCluster(const RedisCluster&) = delete;
  RedisCluster& operator=(const RedisCluster&) = delete;

  std::size_t size() const { return nodes_.size(); }
  // Nodes 0..masters-1 start as masters; replica r of master m is masters + m * replicas + r.
  RedisServer& node(std::size_t i) const { return *nodes_.at(i); }
  const std::string& node_id(std::size_t i) const { return ids_.at(i); }
  // "127.0.0.1:port" of every node: the seed list.
  std::vector<std::string> seeds() const;
  // The node that serves `slot` as master now, as the first live node sees it; size() if none.
  std::size_t master_of(std::uint16_t slot) const;
  // The slot of `key` as the cluster computes it (CLUSTER KEYSLOT).
  std::uint16_t slot_of(const std::string& key) const;
  // Live nodes that are masters now.
  std::vector<std::size_t> masters() const;
  // Returns once every live node says cluster_state:ok, knows all 16384 slots served, and
  // agrees with the others on the master of each of `slots`.
  void wait_ok(const std::vector<std::uint16_t>& slots = {}) const;

  // Starts a master with no slots and joins it to the cluster (MEET); returns its index once
  // every live node knows it and it knows every slot's master. Give it slots with the migration
  // steps below.
  std::size_t add_master();

  // Resharding, in the steps a client can be caught between:
  // `slot` is importing on `to` and migrating on its master now.
  void begin_migration(std::uint16_t slot, std::size_t to);
  // Moves up to `count` keys of `slot` from its migrating master to `to` (MIGRATE); returns how
  // many were moved.
  std::size_t migrate_keys(std::uint16_t slot, std::size_t to, std::size_t count);
  // Every node is told `to` owns `slot` (SETSLOT NODE: target, source, then the rest).
  void end_migration(std::uint16_t slot, std::size_t to);

  // A command on node i whose reply is an array of bulk strings (CLUSTER GETKEYSINSLOT).
  std::vector<std::string> command_list(std::size_t i, const std::vector<std::string>& args) const;
  // Whether node i is still running (not kill()ed).
  bool is_alive(std::size_t i) const { return nodes_.at(i)->pid() > 0; }

 private:
  // Starts one cluster-enabled node (no slots, not met) and appends it.
  void start_node();
  // Returns once every live node knows every node started.
  void wait_all_known() const;
  std::size_t index_of_id(const std::string& id) const;
  // The master of `slot` as node `viewer` sees it; size() if it knows none that is up.
  std::size_t master_in_view(std::size_t viewer, std::uint16_t slot) const;
  // The id of the master node `viewer` says `replica` follows; empty if it knows none.
  std::string master_of_replica_in_view(std::size_t viewer, std::size_t replica) const;
  std::size_t any_live() const;

  Options options_;
  std::vector<std::unique_ptr<RedisServer>> nodes_;
  std::vector<std::string> ids_;
  std::vector<std::uint16_t> bus_ports_;  // --cluster-port of each node
  std::uint16_t migrating_from_ = 0;
};

}  // namespace test
