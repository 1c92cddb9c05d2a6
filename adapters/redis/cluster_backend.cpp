#include "adapters/redis/cluster_backend.hpp"

#include <algorithm>
#include <optional>
#include <unordered_map>
#include <utility>

namespace tiercache::redis {
namespace {

using Clock = std::chrono::steady_clock;

// Redirects one piece may follow: a slot moves once per resharding step, so more means the
// nodes disagree (a topology in flux): fail in doubt and let the writer or the caller retry.
constexpr std::uint8_t kMaxRedirects = 5;
// Parks one piece may take (TRYAGAIN, CLUSTERDOWN, no known owner), with backoff from
// kParkFirst doubling to kParkMax: about 1.3 s in all, which covers a migrating slot and most
// of a failover; then backend_unavailable (a write goes back to the writer, in doubt).
constexpr std::uint8_t kMaxRetries = 7;
constexpr auto kParkFirst = std::chrono::milliseconds(10);
constexpr auto kParkMax = std::chrono::milliseconds(320);
// How often the topology is asked for with no reason to; a MOVED or a lost node asks sooner.
constexpr auto kRefreshInterval = std::chrono::seconds(1);
// ... and while a master is down: its replica's promotion is found this soon after it happens.
constexpr auto kDegradedRefreshInterval = std::chrono::milliseconds(50);
// Least time between two refreshes, so a burst of MOVED costs one.
constexpr auto kMinRefreshGap = std::chrono::milliseconds(10);

bool is_in_doubt(const Error& e) {
  return e == errc::backend_unavailable || e == errc::timeout;
}

Error unavailable(std::string detail) {
  return Error{make_error_code(errc::backend_unavailable), std::move(detail)};
}

}  // namespace

// Forwards one node's events to the cluster's.
class ClusterBackend::NodeEvents final : public BackendEvents {
 public:
  NodeEvents(ClusterBackend& owner, std::string address)
      : owner_(owner), address_(std::move(address)) {}
  void keys_changed(std::span<const std::string_view> keys) override {
    std::lock_guard lock(owner_.events_mu_);
    if (owner_.events_ != nullptr) owner_.events_->keys_changed(keys);
  }
  void all_changed() override {
    std::lock_guard lock(owner_.events_mu_);
    if (owner_.events_ != nullptr) owner_.events_->all_changed();
  }
  void coherence_lost() override { owner_.node_coherence(address_, false); }
  void coherence_restored() override { owner_.node_coherence(address_, true); }

 private:
  ClusterBackend& owner_;
  const std::string address_;
};

struct ClusterBackend::Node {
  std::string address;
  Endpoint endpoint;
  // Declared before the backend, so it outlives it: the backend calls it until destroyed.
  std::unique_ptr<NodeEvents> events;
  std::unique_ptr<RedisBackend> backend;
  // Guarded by mu_. A master that owns no slot (one just added) answers no write or read but
  // one ASKed there: its being down holds nothing else up.
  bool owns_slots = false;
};

struct ClusterBackend::ReadJob {
  std::vector<Result<BackendValue>> results;
  std::atomic<std::size_t> outstanding{0};  // pieces not yet answered
  ReadDone done;
};

struct ClusterBackend::WriteJob {
  std::vector<Result<void>> results;
  std::atomic<std::size_t> outstanding{0};
  WriteDone done;
};

// What goes to one node as one unit: one slot's keys of a read, or one write.
struct ClusterBackend::Piece {
  std::uint16_t slot = 0;
  std::uint8_t redirects = 0;
  std::uint8_t retries = 0;
  std::string ask;           // an ASK target's address: sent there with ASKING, this once
  std::string sent_to_host;  // the host it was last sent to: a redirect's unknown endpoint
  std::shared_ptr<ReadJob> read;
  std::vector<std::size_t> indexes;  // read: where each key's result goes
  std::vector<std::string> keys;     // read: prefixed
  std::shared_ptr<WriteJob> write;
  std::size_t index = 0;         // write: where its result goes
  std::string command;           // write
  std::optional<Error> failure;  // set when it could not be routed
  bool on_replica = false;       // read: this attempt went to a replica
  bool master_only = false;      // read: a replica failed it once
};

struct ClusterBackend::Outbound {
  std::map<Node*, std::vector<RedisBackend::SlotRead>> reads;
  std::map<Node*, std::vector<RedisBackend::SlotWrite>> writes;
  std::vector<Piece> failed;
};

ClusterBackend::ClusterBackend(std::vector<Endpoint> seeds, std::string key_prefix,
                               std::size_t max_value_bytes, InvalidationMode invalidation,
                               bool read_from_replicas)
    : seeds_(std::move(seeds)),
      key_prefix_(std::move(key_prefix)),
      max_value_bytes_(max_value_bytes),
      invalidation_(invalidation),
      read_from_replicas_(read_from_replicas) {}

Result<std::unique_ptr<ClusterBackend>> ClusterBackend::start(std::vector<Endpoint> seeds,
                                                              std::string key_prefix,
                                                              std::size_t max_value_bytes,
                                                              InvalidationMode invalidation,
                                                              bool read_from_replicas) {
  std::unique_ptr<ClusterBackend> b(new ClusterBackend(
      std::move(seeds), std::move(key_prefix), max_value_bytes, invalidation, read_from_replicas));
  std::string why;
  for (const Endpoint& seed : b->seeds_) {
    Result<ClusterTopology> t = fetch_topology(seed);
    if (t) {
      b->apply(*t);
      b->thread_ = std::thread([self = b.get()] { self->run(); });
      return b;
    }
    if (t.error() == errc::invalid_argument) return std::unexpected(std::move(t.error()));
    why = t.error().detail;
  }
  return fail(errc::backend_unavailable,
              "Options.redis.cluster_nodes: no seed node gave the cluster's topology; last: ", why);
}

ClusterBackend::~ClusterBackend() {
  {
    std::lock_guard lock(mu_);
    closing_.store(true);
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) thread_.join();
  std::map<std::string, std::unique_ptr<Node>> nodes, replicas;
  {
    std::lock_guard lock(mu_);
    nodes.swap(nodes_);
    replicas.swap(replicas_);
    owner_.fill(nullptr);
    reader_.fill(nullptr);
  }
  // Outside mu_: each node answers what it holds with closed, through callbacks that lock it.
  replicas.clear();
  nodes.clear();
}

std::unique_ptr<ClusterBackend::Node> ClusterBackend::connect(const std::string& host, int port,
                                                              bool replica) {
  Endpoint endpoint = seeds_.front();
  endpoint.host = host;
  endpoint.port = port;
  endpoint.readonly = replica;
  // A replica hears no changes: the masters' streams tell them all.
  Result<std::unique_ptr<RedisBackend>> backend = RedisBackend::start(
      endpoint, key_prefix_, max_value_bytes_, replica ? InvalidationMode::off : invalidation_);
  if (!backend) return nullptr;
  auto node = std::make_unique<Node>();
  node->address = NodeAddress{host, port}.to_string();
  node->endpoint = endpoint;
  if (!replica) node->events = std::make_unique<NodeEvents>(*this, node->address);
  node->backend = std::move(*backend);
  return node;
}

void ClusterBackend::drop_unlisted(std::map<std::string, std::unique_ptr<Node>>& nodes,
                                   const std::set<std::string>& listed,
                                   std::vector<std::unique_ptr<Node>>& gone) {
  for (auto it = nodes.begin(); it != nodes.end();) {
    if (listed.contains(it->first)) {
      ++it;
      continue;
    }
    gone.push_back(std::move(it->second));
    it = nodes.erase(it);
  }
}

void ClusterBackend::run() {
  std::unique_lock lock(mu_);
  Clock::time_point next_refresh = Clock::now() + kRefreshInterval;
  Clock::time_point last_refresh = Clock::now();
  for (;;) {
    const Clock::time_point now = Clock::now();
    const bool degraded = std::any_of(nodes_.begin(), nodes_.end(), [](const auto& n) {
      return !n.second->backend->accepts_writes();
    });
    if (degraded) next_refresh = std::min(next_refresh, last_refresh + kDegradedRefreshInterval);
    const bool refresh_due =
        now >= next_refresh || (refresh_asked_ && now >= last_refresh + kMinRefreshGap);
    const bool parked_due = !parked_.empty() && now >= parked_until_;
    if (stopping_) break;
    if (refresh_due) {
      refresh_asked_ = false;
      lock.unlock();
      refresh();
      lock.lock();
      last_refresh = Clock::now();
      next_refresh = last_refresh + kRefreshInterval;
      continue;
    }
    if (parked_due) {
      std::vector<Piece> due;
      due.swap(parked_);
      for (const Piece& p : due)
        if (p.write != nullptr) --parked_writes_[p.slot];
      Outbound out;
      for (Piece& p : due) route_locked(std::move(p), out, true);
      send_locked(out);
      lock.unlock();
      answer_failed(out);
      lock.lock();
      continue;
    }
    Clock::time_point wake_at = next_refresh;
    if (refresh_asked_) wake_at = std::min(wake_at, last_refresh + kMinRefreshGap);
    if (!parked_.empty()) wake_at = std::min(wake_at, parked_until_);
    // A node going down says nothing to this thread: look again this soon.
    wake_at = std::min(wake_at, now + kDegradedRefreshInterval);
    wake_.wait_until(lock, wake_at);
  }
  // Closing: what is parked is answered closed (route_locked sees closing_).
  std::vector<Piece> due;
  due.swap(parked_);
  Outbound out;
  for (Piece& p : due) route_locked(std::move(p), out, true);
  lock.unlock();
  answer_failed(out);
}

void ClusterBackend::ask_refresh_locked() {
  refresh_asked_ = true;
  wake_.notify_one();
}

void ClusterBackend::ask_refresh() {
  std::lock_guard lock(mu_);
  ask_refresh_locked();
}

void ClusterBackend::refresh() {
  topology_refreshes_.fetch_add(1, std::memory_order_relaxed);
  // The masters known now first (they are the cluster as last seen), those up before those
  // down (a dead host may cost connect_timeout), then the seeds.
  std::vector<Endpoint> candidates;
  {
    std::lock_guard lock(mu_);
    for (const auto& [address, node] : nodes_)
      candidates.insert(node->backend->is_available() ? candidates.begin() : candidates.end(),
                        node->endpoint);
  }
  candidates.insert(candidates.end(), seeds_.begin(), seeds_.end());
  std::string why;
  for (const Endpoint& e : candidates) {
    if (closing_.load()) return;
    Result<ClusterTopology> t = fetch_topology(e);
    if (t) return apply(*t);
    why = t.error().detail;
  }
  std::lock_guard lock(mu_);
  topology_error_ = "cluster topology: no node answered; last: " + why;
}

void ClusterBackend::apply(const ClusterTopology& topology) {
  // Connect the masters not seen before, outside mu_: a connect may take connect_timeout.
  std::vector<std::unique_ptr<Node>> fresh;
  for (const ClusterMaster& master : topology.masters) {
    const std::string address = master.address();
    {
      std::lock_guard lock(mu_);
      if (nodes_.contains(address)) continue;
    }
    if (std::any_of(fresh.begin(), fresh.end(),
                    [&](const auto& n) { return n->address == address; }))
      continue;
    // Not started: its slots stay unowned (parked, then failed) until a refresh starts it.
    if (auto node = connect(master.host, master.port, false)) fresh.push_back(std::move(node));
  }
  std::vector<std::unique_ptr<Node>> gone;
  std::vector<Node*> added;
  {
    std::lock_guard lock(mu_);
    for (auto& node : fresh) {
      added.push_back(node.get());
      nodes_.emplace(node->address, std::move(node));
    }
    aliases_.clear();
    for (const ClusterMaster& master : topology.masters)
      for (const std::string& host : master.other_hosts)
        aliases_.emplace(NodeAddress{host, master.port}.to_string(), master.address());
    owner_.fill(nullptr);
    for (auto& [address, node] : nodes_) node->owns_slots = false;
    for (const SlotRange& range : topology.ranges) {
      auto it = nodes_.find(range.address());
      if (it == nodes_.end()) continue;
      it->second->owns_slots = true;
      for (unsigned s = range.first; s <= range.last; ++s) owner_[s] = it->second.get();
    }
    // A master with no slots stays: a slot moving to it sends ASK there first.
    std::set<std::string> listed;
    for (const ClusterMaster& master : topology.masters) listed.insert(master.address());
    drop_unlisted(nodes_, listed, gone);
    topology_error_.clear();
    has_topology_.store(true);
    std::lock_guard events_lock(events_mu_);
    const std::set<std::string> before = members_;
    members_.clear();
    for (const auto& [address, node] : nodes_) members_.insert(address);
    for (const auto& node : gone) coherent_nodes_.erase(node->address);
    recompute_coherence_locked(before != members_);
  }
  // Outside mu_ and events_mu_: set_events may call back at once, a destructor waits for its
  // node's thread, whose callbacks take both.
  for (Node* node : added) node->backend->set_events(node->events.get());
  gone.clear();
  apply_replicas(topology);
}

void ClusterBackend::apply_replicas(const ClusterTopology& topology) {
  if (!read_from_replicas_) return;
  std::vector<std::unique_ptr<Node>> fresh;
  for (const ClusterReplica& replica : topology.replicas) {
    const std::string address = replica.address();
    {
      std::lock_guard lock(mu_);
      if (replicas_.contains(address)) continue;
    }
    // Not started: its master answers its slots' reads.
    if (auto node = connect(replica.host, replica.port, true)) fresh.push_back(std::move(node));
  }
  std::vector<std::unique_ptr<Node>> gone;
  {
    std::lock_guard lock(mu_);
    for (auto& node : fresh) replicas_.emplace(node->address, std::move(node));
    std::map<std::string, std::vector<Node*>> of_master;
    std::set<std::string> listed;
    for (const ClusterReplica& replica : topology.replicas) {
      listed.insert(replica.address());
      if (auto it = replicas_.find(replica.address()); it != replicas_.end())
        of_master[replica.master].push_back(it->second.get());
    }
    reader_.fill(nullptr);
    for (const SlotRange& range : topology.ranges) {
      auto it = of_master.find(range.address());
      if (it == of_master.end()) continue;
      for (unsigned s = range.first; s <= range.last; ++s)
        reader_[s] = it->second[s % it->second.size()];
    }
    drop_unlisted(replicas_, listed, gone);
  }
  // Outside mu_: a replica dropped answers its reads closed, which sends them to the master.
  gone.clear();
}

void ClusterBackend::node_coherence(const std::string& address, bool coherent) {
  std::lock_guard lock(events_mu_);
  if (coherent) {
    // A node apply() just dropped may still say restored while it shuts down: remembered, it
    // would vouch for a later node at its address before that one's stream is up.
    if (members_.contains(address)) coherent_nodes_.insert(address);
  } else {
    coherent_nodes_.erase(address);
  }
  recompute_coherence_locked(false);
}

void ClusterBackend::recompute_coherence_locked(bool membership_changed) {
  if (invalidation_ == InvalidationMode::off) return;
  bool now = !members_.empty();
  for (const std::string& m : members_) now = now && coherent_nodes_.contains(m);
  // A master that came or went: values read before may have come from a node whose stream is
  // gone (or whose keys another node now serves): stop vouching for them.
  if (coherent_ && (membership_changed || !now)) {
    coherent_ = false;
    if (events_ != nullptr) events_->coherence_lost();
  }
  if (now && !coherent_) {
    coherent_ = true;
    if (events_ != nullptr) events_->coherence_restored();
  }
}

void ClusterBackend::churn_coherence() {
  std::lock_guard lock(events_mu_);
  if (!coherent_) return;
  if (events_ != nullptr) {
    events_->coherence_lost();
    events_->coherence_restored();
  }
}

void ClusterBackend::set_events(BackendEvents* events) {
  std::lock_guard lock(events_mu_);
  events_ = events;
  if (events_ != nullptr && coherent_) events_->coherence_restored();
}

void ClusterBackend::park_locked(Piece p) {
  if (parked_.empty()) {
    const auto delay = std::min<std::chrono::milliseconds>(kParkFirst * (1 << p.retries), kParkMax);
    parked_until_ = Clock::now() + delay;
    wake_.notify_one();
  }
  if (p.write != nullptr) ++parked_writes_[p.slot];
  parked_.push_back(std::move(p));
}

ClusterBackend::Node* ClusterBackend::find_locked(const std::string& address) const {
  auto it = nodes_.find(address);
  if (it == nodes_.end()) {
    auto alias = aliases_.find(address);
    if (alias != aliases_.end()) it = nodes_.find(alias->second);
  }
  return it != nodes_.end() ? it->second.get() : nullptr;
}

void ClusterBackend::route_locked(Piece p, Outbound& out, bool from_park) {
  if (closing_.load()) {
    p.failure = Error{make_error_code(errc::closed), "redis cluster: the cache is closing"};
    out.failed.push_back(std::move(p));
    return;
  }
  // Behind a parked write to the same slot: never overtake it.
  if (p.write != nullptr && !from_park && parked_writes_[p.slot] > 0)
    return park_locked(std::move(p));
  Node* node = nullptr;
  p.on_replica = false;
  if (p.ask.empty()) {
    node = owner_[p.slot];
    // A replica on a read's first try only: a redirect or a retry is the master's to answer.
    Node* replica = reader_[p.slot];
    if (p.read != nullptr && node != nullptr && replica != nullptr && !p.master_only &&
        p.redirects == 0 && p.retries == 0 && replica->backend->accepts_reads()) {
      node = replica;
      p.on_replica = true;
    }
  } else {
    node = find_locked(p.ask);
  }
  if (node == nullptr) {
    ask_refresh_locked();
    if (++p.retries > kMaxRetries) {
      p.failure =
          unavailable("redis cluster: no reachable master serves slot " + std::to_string(p.slot) +
                      (topology_error_.empty() ? "" : " (" + topology_error_ + ")"));
      out.failed.push_back(std::move(p));
      return;
    }
    return park_locked(std::move(p));
  }
  const bool asking = !p.ask.empty();
  p.sent_to_host = node->endpoint.host;
  if (p.read != nullptr) {
    std::vector<std::string> keys = p.keys;
    out.reads[node].push_back(
        {std::move(keys), asking,
         [this, p = std::move(p)](Redirect r, std::vector<Result<BackendValue>> results) mutable {
           answer_read(p, std::move(r), std::move(results));
         }});
  } else {
    std::string command = p.command;
    out.writes[node].push_back({std::move(command), asking,
                                [this, p = std::move(p)](Redirect r, Result<void> result) mutable {
                                  answer_write(p, std::move(r), std::move(result));
                                }});
  }
}

void ClusterBackend::send_locked(Outbound& out) {
  for (auto& [node, reads] : out.reads) node->backend->read_slots(std::move(reads));
  for (auto& [node, writes] : out.writes) node->backend->write_slots(std::move(writes));
}

void ClusterBackend::answer_failed(Outbound& out) {
  for (Piece& p : out.failed) {
    if (p.read != nullptr) {
      answer_read(p, {},
                  std::vector<Result<BackendValue>>(p.keys.size(), std::unexpected(*p.failure)));
    } else {
      answer_write(p, {}, std::unexpected(*p.failure));
    }
  }
}

ClusterBackend::Outcome ClusterBackend::follow(Piece& p, const Redirect& r) {
  p.ask.clear();  // ASK holds for one attempt
  if (r.kind == Redirect::Kind::none || closing_.load()) return Outcome::answer;
  if (r.kind == Redirect::Kind::moved || r.kind == Redirect::Kind::ask) {
    (r.kind == Redirect::Kind::moved ? moved_redirects_ : ask_redirects_)
        .fetch_add(1, std::memory_order_relaxed);
    // Tracked mode: the new owner never saw these keys read, so it will not tell their changes.
    if (invalidation_ == InvalidationMode::tracked) churn_coherence();
  } else {
    cluster_retries_.fetch_add(1, std::memory_order_relaxed);
  }
  Outbound out;
  {
    std::lock_guard lock(mu_);
    // Checked again under mu_: the destructor sets closing_ under it, and once the cluster thread
    // has answered what was parked, a piece parked here would never be answered.
    if (closing_.load()) return Outcome::answer;
    NodeAddress target = r.target;
    if (target.host.empty()) target.host = p.sent_to_host;
    switch (r.kind) {
      case Redirect::Kind::moved:
        ask_refresh_locked();
        if (++p.redirects > kMaxRedirects) return Outcome::exhausted;
        // A master not connected yet: no owner until the refresh connects it (parked meanwhile),
        // rather than back to the node that just refused.
        owner_[r.slot] = find_locked(target.to_string());
        if (owner_[r.slot] != nullptr) owner_[r.slot]->owns_slots = true;
        reader_[r.slot] = nullptr;  // a replica of the old owner would redirect too
        route_locked(std::move(p), out, false);
        break;
      case Redirect::Kind::ask:
        if (++p.redirects > kMaxRedirects) return Outcome::exhausted;
        p.ask = target.to_string();
        route_locked(std::move(p), out, false);
        break;
      default:
        if (r.kind == Redirect::Kind::try_again && p.read != nullptr && p.keys.size() > 1) {
          // The slot is migrating and its keys are on both sides: one key at a time is served
          // by its own side (at worst after an ASK), without waiting for the migration to end.
          // The piece's own count stays until its last part answers, so the job cannot finish
          // before.
          p.read->outstanding.fetch_add(p.keys.size() - 1, std::memory_order_relaxed);
          for (std::size_t i = 0; i < p.keys.size(); ++i) {
            Piece one;
            one.slot = p.slot;
            one.redirects = p.redirects;
            one.retries = p.retries;
            one.master_only = p.master_only;
            one.read = p.read;
            one.indexes = {p.indexes[i]};
            one.keys = {std::move(p.keys[i])};
            route_locked(std::move(one), out, false);
          }
          break;
        }
        if (++p.retries > kMaxRetries) return Outcome::exhausted;
        park_locked(std::move(p));
        break;
    }
    send_locked(out);
  }
  answer_failed(out);
  return Outcome::taken;
}

void ClusterBackend::answer_read(Piece& p, Redirect r, std::vector<Result<BackendValue>> results) {
  switch (follow(p, r)) {
    case Outcome::taken:
      return;
    case Outcome::exhausted:
      results.assign(p.keys.size(),
                     std::unexpected(unavailable("redis cluster: slot " + std::to_string(p.slot) +
                                                 " still redirected after the retries allowed")));
      break;
    case Outcome::answer:
      break;
  }
  bool lost = false, failed = false;
  for (Result<BackendValue>& v : results) {
    // A node dropped by a refresh answers closed; the cluster is not closing: in doubt.
    if (!v && v.error() == errc::closed && !closing_.load())
      v = std::unexpected(unavailable(v.error().detail));
    if (!v && is_in_doubt(v.error())) lost = true;
    failed = failed || (!v && v.error() != errc::closed);
  }
  if (failed && p.on_replica) {
    // The master answers, once, what its replica could not: one gone, slow, or still loading.
    p.master_only = true;
    return reroute(std::move(p));
  }
  if (lost) ask_refresh();
  for (std::size_t i = 0; i < p.indexes.size() && i < results.size(); ++i)
    p.read->results[p.indexes[i]] = std::move(results[i]);
  // acq_rel: the last piece sees every other piece's results.
  if (p.read->outstanding.fetch_sub(1, std::memory_order_acq_rel) == 1)
    p.read->done(std::move(p.read->results));
}

void ClusterBackend::answer_write(Piece& p, Redirect r, Result<void> result) {
  const bool refused =
      r.kind == Redirect::Kind::try_again || r.kind == Redirect::Kind::cluster_down;
  switch (follow(p, r)) {
    case Outcome::taken:
      return;
    case Outcome::exhausted:
      // Still refused for now (TRYAGAIN, CLUSTERDOWN): not run, and no evidence against the
      // write, which the writer sends again for as long as it takes (overloaded). Redirected
      // too often: the nodes disagree, in doubt.
      result = std::unexpected(
          refused ? Error{make_error_code(errc::overloaded),
                          "redis cluster: slot " + std::to_string(p.slot) +
                              " still refused for now after the retries allowed (" +
                              std::string(result ? "" : result.error().detail) + ")"}
                  : unavailable("redis cluster: slot " + std::to_string(p.slot) +
                                " still redirected after the retries allowed"));
      break;
    case Outcome::answer:
      break;
  }
  if (!result && result.error() == errc::closed && !closing_.load())
    result = std::unexpected(unavailable(result.error().detail));
  if (!result && is_in_doubt(result.error())) ask_refresh();
  p.write->results[p.index] = std::move(result);
  if (p.write->outstanding.fetch_sub(1, std::memory_order_acq_rel) == 1)
    p.write->done(std::move(p.write->results));
}

void ClusterBackend::reroute(Piece p) {
  Outbound out;
  {
    std::lock_guard lock(mu_);
    route_locked(std::move(p), out, false);
    send_locked(out);
  }
  answer_failed(out);
}

void ClusterBackend::read(std::vector<std::string> keys, ReadDone done) {
  if (keys.empty()) return done({});
  auto job = std::make_shared<ReadJob>();
  job->results.resize(keys.size());
  job->done = std::move(done);
  std::vector<Piece> pieces;
  std::unordered_map<std::uint16_t, std::size_t> piece_of_slot;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    std::string key = key_prefix_ + keys[i];
    const std::uint16_t slot = hash_slot(key);
    auto [it, inserted] = piece_of_slot.try_emplace(slot, pieces.size());
    if (inserted) {
      pieces.emplace_back();
      pieces.back().slot = slot;
      pieces.back().read = job;
    }
    pieces[it->second].indexes.push_back(i);
    pieces[it->second].keys.push_back(std::move(key));
  }
  job->outstanding.store(pieces.size(), std::memory_order_relaxed);
  Outbound out;
  {
    std::lock_guard lock(mu_);
    for (Piece& p : pieces) route_locked(std::move(p), out, false);
    send_locked(out);
  }
  answer_failed(out);
}

void ClusterBackend::write(std::span<const BackendWrite> writes, WriteDone done) {
  if (writes.empty()) return done({});
  auto job = std::make_shared<WriteJob>();
  job->results.resize(writes.size());
  job->done = std::move(done);
  job->outstanding.store(writes.size(), std::memory_order_relaxed);
  std::vector<Piece> pieces(writes.size());
  for (std::size_t i = 0; i < writes.size(); ++i) {
    pieces[i].slot = hash_slot(key_prefix_ + std::string(writes[i].key));
    pieces[i].write = job;
    pieces[i].index = i;
    pieces[i].command = RedisBackend::format_write(writes[i], key_prefix_);
  }
  Outbound out;
  {
    std::lock_guard lock(mu_);
    for (Piece& p : pieces) route_locked(std::move(p), out, false);
    send_locked(out);
  }
  answer_failed(out);
}

bool ClusterBackend::is_available() const noexcept {
  if (!has_topology_.load()) return false;
  std::lock_guard lock(mu_);
  return !nodes_.empty() && std::all_of(nodes_.begin(), nodes_.end(), [](const auto& n) {
    return !n.second->owns_slots || n.second->backend->is_available();
  });
}

bool ClusterBackend::accepts_writes() const noexcept {
  // All masters that own slots, not any: the writer then holds its writes through a failover
  // instead of spending their attempts on a master that is gone.
  if (!has_topology_.load()) return false;
  std::lock_guard lock(mu_);
  return !nodes_.empty() && std::all_of(nodes_.begin(), nodes_.end(), [](const auto& n) {
    return !n.second->owns_slots || n.second->backend->accepts_writes();
  });
}

bool ClusterBackend::accepts_reads() const noexcept {
  // Any master: a read of a key on a master that is down fails alone.
  if (!has_topology_.load()) return false;
  std::lock_guard lock(mu_);
  return std::any_of(nodes_.begin(), nodes_.end(),
                     [](const auto& n) { return n.second->backend->accepts_reads(); });
}

BackendHealth ClusterBackend::health() const {
  BackendHealth h;
  std::lock_guard lock(mu_);
  h.available = has_topology_.load() && !nodes_.empty();
  for (const auto& [address, node] : nodes_) {
    BackendHealth n = node->backend->health();
    h.available = h.available && n.available;
    if (h.last_error.empty() || (!n.available && !n.last_error.empty()))
      if (!n.last_error.empty()) h.last_error = address + ": " + n.last_error;
    h.reconnects += n.reconnects;
    h.invalidation_reconnects += n.invalidation_reconnects;
    h.unreadable_values += n.unreadable_values;
  }
  if (!topology_error_.empty()) h.last_error = topology_error_;
  h.moved_redirects = moved_redirects_.load(std::memory_order_relaxed);
  h.ask_redirects = ask_redirects_.load(std::memory_order_relaxed);
  h.cluster_retries = cluster_retries_.load(std::memory_order_relaxed);
  h.topology_refreshes = topology_refreshes_.load(std::memory_order_relaxed);
  return h;
}

ChangesHeard ClusterBackend::changes_heard() const noexcept {
  return changes_heard_in(invalidation_);
}

std::vector<std::string> ClusterBackend::masters() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [address, node] : nodes_) out.push_back(address);
  return out;
}

std::vector<std::string> ClusterBackend::replicas() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [address, node] : replicas_) out.push_back(address);
  return out;
}

Result<std::unique_ptr<Backend>> make_cluster_backend(const RedisOptions& options,
                                                      std::size_t max_value_bytes) {
  Result<std::vector<Endpoint>> seeds = make_cluster_endpoints(options);
  if (!seeds) return std::unexpected(std::move(seeds.error()));
  Result<std::unique_ptr<ClusterBackend>> backend =
      ClusterBackend::start(std::move(*seeds), options.key_prefix, max_value_bytes,
                            options.invalidation, options.read_from_replicas);
  if (!backend) return std::unexpected(std::move(backend.error()));
  return std::unique_ptr<Backend>(std::move(*backend));
}

}  // namespace tiercache::redis
