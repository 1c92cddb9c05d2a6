// adapters/redis/cluster_backend.hpp — the Backend on Redis Cluster: a RedisBackend per master,
// and the routing between them.
//
// Each master gets one RedisBackend (its I/O thread, its read, write and invalidation
// connections, its breaker and write fence), so everything said in redis_backend.hpp holds per
// node. This class only decides where each key goes and follows the cluster's redirects:
//
//   route: slot = hash_slot(key_prefix + key) ─▶ owner_[slot] ─▶ that node's pipeline
//   reads:  grouped per slot (one script call reads one slot's keys: no CROSSSLOT), and every
//           group for one node sent in one read_slots() call, so one pipeline per node per batch
//   writes: one command per write, every write for one node in one write_slots() call
//   MOVED:  owner_[slot] = the named node (if known), topology refresh asked for, sent again
//   ASK:    ASKING + the command on the named node, this once; owner_ is not changed
//   the named node: by its canonical address (node_address.hpp), a hostname the topology gave
//           it (aliases_), or for ":port" the host the command went to, as the specification says
//   TRYAGAIN: a read of several keys is split into one piece per key (each then served where
//           its key is); anything else is parked like CLUSTERDOWN
//   CLUSTERDOWN / no known owner: parked, sent again after a backoff
//   at most kMaxRedirects redirects and kMaxRetries parks per piece, then backend_unavailable
//
// Order: a write's retries never let a later write to the same key overtake it. Routing and
// sending happen under mu_, so a MOVED's resend reaches the new owner's queue before any write
// routed after the map changed; a parked write makes every later write to its slot park behind
// it (parked_writes_), and parked pieces go out again in the order they were parked.
//
// Topology: CLUSTER SHARDS (or SLOTS) on the cluster's own thread, every kRefreshInterval and
// soon after a MOVED or a lost connection; a master that appears is connected (blocking that
// thread only, up to connect_timeout), slots or none (ASK names a master added empty before it
// owns a slot), one that is no longer a master is dropped. Its
// in-flight work then fails in doubt (backend_unavailable), which the writer sends again.
//
// Replicas (Options.redis.read_from_replicas): each slot's reads go to one of its master's
// replicas that are up (spread by slot), on a RedisBackend of their own whose read connection
// says READONLY and which hears no invalidations (the masters' streams tell every change).
// A replica that redirects, or fails a read in doubt, leaves that read to the master. Writes,
// and everything else said here, are the masters' alone.
//
// Coherence: each node tracks its own keys (bcast: every key under key_prefix written there).
// L1 is vouched for only while every master's invalidation stream is up; a master that comes or
// goes says coherence_lost() (the engine stops trusting earlier L1 values), and so does a MOVED
// or ASK in tracked mode (the new owner never saw those keys read).
//
// Threads: every Backend member from any thread; redirects are handled on the nodes' I/O threads,
// refresh and parked pieces on the cluster thread.
#pragma once

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "adapters/redis/cluster_topology.hpp"
#include "adapters/redis/endpoint.hpp"
#include "adapters/redis/hash_slot.hpp"
#include "adapters/redis/redis_backend.hpp"
#include "tiercache/backend.hpp"

namespace tiercache::redis {

class ClusterBackend final : public Backend {
 public:
  // Asks the seeds in turn for the topology and connects every master. invalid_argument if a
  // seed is not in cluster mode; backend_unavailable naming the last failure if no seed answers.
  static Result<std::unique_ptr<ClusterBackend>> start(std::vector<Endpoint> seeds,
                                                       std::string key_prefix,
                                                       std::size_t max_value_bytes,
                                                       InvalidationMode invalidation,
                                                       bool read_from_replicas);
  // Answers what is parked or in flight with errc::closed, then stops every node.
  ~ClusterBackend() override;

  void read(std::vector<std::string> keys, ReadDone done) override;
  void write(std::span<const BackendWrite> writes, WriteDone done) override;
  bool is_available() const noexcept override;
  bool accepts_writes() const noexcept override;
  bool accepts_reads() const noexcept override;
  // Every node's health summed, and the routing's counts (moved_redirects and the rest).
  BackendHealth health() const override;
  ChangesHeard changes_heard() const noexcept override;
  bool stores_absent() const noexcept override { return true; }
  void set_events(BackendEvents* events) override;

  // The masters now connected, as "host:port".
  std::vector<std::string> masters() const;
  // The replicas now connected for reads, as "host:port".
  std::vector<std::string> replicas() const;

 private:
  struct Node;
  struct ReadJob;
  struct WriteJob;
  struct Piece;
  struct Outbound;
  class NodeEvents;
  enum class Outcome { answer, taken, exhausted };

  ClusterBackend(std::vector<Endpoint> seeds, std::string key_prefix, std::size_t max_value_bytes,
                 InvalidationMode invalidation, bool read_from_replicas);
  void run();  // the cluster thread
  void refresh();
  void apply(const ClusterTopology& topology);
  // The replicas' part of apply(), after the masters'.
  void apply_replicas(const ClusterTopology& topology);
  // Sends `p` again, with its results or failures answered as route_locked says.
  void reroute(Piece p);
  void ask_refresh_locked();
  void ask_refresh();

  // Under mu_: the node at `address` ("host:port", canonical), or named so by the topology
  // (a hostname); null if none is connected.
  Node* find_locked(const std::string& address) const;
  // Under mu_: where `p` goes now; queued on `out`, parked, or failed.
  void route_locked(Piece p, Outbound& out, bool from_park);
  void park_locked(Piece p);
  // Under mu_: hands what `out` holds to the nodes, one call per node.
  void send_locked(Outbound& out);
  // Outside mu_: answers the pieces that could not be routed.
  void answer_failed(Outbound& out);
  // A node's answer to `p` redirected it: follow it (taken) or answer with it.
  Outcome follow(Piece& p, const Redirect& r);
  void answer_read(Piece& p, Redirect r, std::vector<Result<BackendValue>> results);
  void answer_write(Piece& p, Redirect r, Result<void> result);
  // Starts a node's RedisBackend (a replica: READONLY, no invalidations); null if it cannot.
  std::unique_ptr<Node> connect(const std::string& host, int port, bool replica);
  // Moves every node of `nodes` whose address is not in `listed` to `gone`.
  static void drop_unlisted(std::map<std::string, std::unique_ptr<Node>>& nodes,
                            const std::set<std::string>& listed,
                            std::vector<std::unique_ptr<Node>>& gone);

  // Coherence over all nodes (events_mu_).
  void node_coherence(const std::string& address, bool coherent);
  void recompute_coherence_locked(bool membership_changed);
  void churn_coherence();

  const std::vector<Endpoint> seeds_;
  const std::string key_prefix_;
  const std::size_t max_value_bytes_;
  const InvalidationMode invalidation_;
  const bool read_from_replicas_;

  mutable std::mutex mu_;
  std::map<std::string, std::unique_ptr<Node>> nodes_;  // by address; guarded by mu_
  std::map<std::string, std::string> aliases_;  // other "host:port" → nodes_ key; guarded by mu_
  std::array<Node*, kSlotCount> owner_{};       // guarded by mu_; null: no known owner
  std::map<std::string, std::unique_ptr<Node>> replicas_;  // by address; guarded by mu_
  std::array<Node*, kSlotCount> reader_{};                 // guarded by mu_; null: read the master
  std::array<std::uint32_t, kSlotCount> parked_writes_{};  // guarded by mu_
  std::vector<Piece> parked_;                              // guarded by mu_, in park order
  std::chrono::steady_clock::time_point parked_until_;     // guarded by mu_
  bool refresh_asked_ = false;                             // guarded by mu_
  bool stopping_ = false;                                  // guarded by mu_
  std::string topology_error_;                             // guarded by mu_
  std::condition_variable wake_;
  std::atomic<bool> closing_{false};
  std::atomic<bool> has_topology_{false};
  std::thread thread_;

  std::mutex events_mu_;
  BackendEvents* events_ = nullptr;       // guarded by events_mu_
  std::set<std::string> members_;         // guarded by events_mu_: the masters now in nodes_
  std::set<std::string> coherent_nodes_;  // guarded by events_mu_
  bool coherent_ = false;                 // guarded by events_mu_

  // BackendHealth's counts of the same names.
  std::atomic<std::uint64_t> moved_redirects_{0}, ask_redirects_{0}, cluster_retries_{0},
      topology_refreshes_{0};
};

}  // namespace tiercache::redis
