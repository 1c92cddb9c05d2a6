// adapters/redis/cluster_topology.hpp — which master serves which slots, as a cluster node says.
//
// Asked with CLUSTER SHARDS (Redis 7), or CLUSTER SLOTS where that is unknown (Redis 6), on a
// blocking connection of its own: topology is fetched on the cluster backend's own thread, never
// on an I/O thread. Replicas that are up are listed, for Options.redis.read_from_replicas. Masters
// that serve no slot are kept (CLUSTER SHARDS lists them; CLUSTER SLOTS cannot): a master just
// added is where ASK sends the first keys migrated to it. Parsing is kept apart from I/O so that
// tests (and a fuzz target) can feed it any reply.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <hiredis/hiredis.h>

#include "adapters/redis/endpoint.hpp"
#include "adapters/redis/node_address.hpp"
#include "tiercache/error.hpp"

namespace tiercache::redis {

struct SlotRange {
  std::uint16_t first = 0;  // inclusive
  std::uint16_t last = 0;   // inclusive
  std::string host;         // of the master serving the range, canonical_host() spelling
  int port = 0;
  // "host:port" ("[v6]:port"), as MOVED and ASK name a node.
  std::string address() const;
};

// A master, with or without slots.
struct ClusterMaster {
  std::string host;  // its IP if the node knows it, else its endpoint; canonical_host() spelling
  int port = 0;
  // The other names a MOVED or ASK may give it (cluster-preferred-endpoint-type hostname):
  // its hostname and endpoint where they differ from host, canonical.
  std::vector<std::string> other_hosts;
  std::string address() const;  // as SlotRange::address()
};

// A replica that is up, and whose slots it can answer reads of (READONLY).
struct ClusterReplica {
  std::string host;  // canonical_host() spelling
  int port = 0;
  std::string master;           // its master's address()
  std::string address() const;  // as SlotRange::address()
};

struct ClusterTopology {
  std::vector<SlotRange> ranges;         // slots no master serves are in none
  std::vector<ClusterMaster> masters;    // every master a range names, and those with no slots
  std::vector<ClusterReplica> replicas;  // each once; one with a bad address is left out
};

// From a CLUSTER SHARDS reply. backend_error quoting what is not shaped as Redis 7 sends it.
Result<ClusterTopology> parse_cluster_shards(const redisReply& reply);
// From a CLUSTER SLOTS reply, likewise.
Result<ClusterTopology> parse_cluster_slots(const redisReply& reply);

// Connects to `node` (AUTH as the endpoint says), asks CLUSTER SHARDS (or SLOTS) and disconnects.
// backend_unavailable if the node cannot be reached or does not answer within connect_timeout
// and command_timeout; invalid_argument if it is not in cluster mode; backend_error if it
// answers something else.
Result<ClusterTopology> fetch_topology(const Endpoint& node);

}  // namespace tiercache::redis
