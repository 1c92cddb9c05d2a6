#include "adapters/redis/cluster_topology.hpp"

#include <sys/time.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <memory>
#include <optional>
#include <string_view>
#include <tuple>
#include <vector>

#include "adapters/redis/handshake_refusal.hpp"
#include "adapters/redis/hash_slot.hpp"
#include "adapters/redis/reply_bounds.hpp"

namespace tiercache::redis {
namespace {

// A topology reply names at most a few entries per slot range and per node; far below these.
constexpr ReplyBounds kTopologyReplyBounds{std::size_t{1} << 20, std::size_t{1} << 16,
                                           std::size_t{64} << 20};

std::string_view text_of(const redisReply& r) {
  return r.str != nullptr ? std::string_view(r.str, r.len) : std::string_view();
}

bool is_text(const redisReply* r) {
  return r != nullptr && (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS);
}

// An integer sent as an integer or as its text (both occur across Redis versions).
bool integer_of(const redisReply* r, long long& out) {
  if (r == nullptr) return false;
  if (r->type == REDIS_REPLY_INTEGER) {
    out = r->integer;
    return true;
  }
  if (!is_text(r)) return false;
  const std::string_view t = text_of(*r);
  const auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), out);
  return ec == std::errc{} && end == t.data() + t.size();
}

Result<SlotRange> make_range(long long first, long long last, std::string_view host,
                             long long port) {
  if (first < 0 || last < first || last >= kSlotCount)
    return fail(errc::backend_error, "cluster topology: bad slot range ", first, "-", last);
  std::string canonical = canonical_host(host);
  if (port < 1 || port > 65535 || !is_well_formed({canonical, static_cast<int>(port)}))
    return fail(errc::backend_error, "cluster topology: bad node address \"", host, "\" port ",
                port);
  return SlotRange{static_cast<std::uint16_t>(first), static_cast<std::uint16_t>(last),
                   std::move(canonical), static_cast<int>(port)};
}

// A CLUSTER SHARDS node: a flat array of field, value pairs.
struct ShardNode {
  std::string_view ip, endpoint, hostname, role, health;
  long long port = 0;
};

ShardNode parse_node(const redisReply& node) {
  ShardNode n;
  if (node.type != REDIS_REPLY_ARRAY) return n;
  for (std::size_t i = 0; i + 1 < node.elements; i += 2) {
    if (!is_text(node.element[i])) continue;
    const std::string_view field = text_of(*node.element[i]);
    const redisReply* value = node.element[i + 1];
    if (field == "port") {
      integer_of(value, n.port);
    } else if (is_text(value)) {
      const std::string_view v = text_of(*value);
      if (field == "ip") n.ip = v;
      if (field == "endpoint") n.endpoint = v;
      if (field == "hostname") n.hostname = v;
      if (field == "role") n.role = v;
      if (field == "health") n.health = v;
    }
  }
  return n;
}

void add_master(ClusterTopology& t, const std::string& host, int port,
                std::initializer_list<std::string_view> names = {}) {
  ClusterMaster m{host, port, {}};
  for (const std::string_view name : names) {
    // "?": a node that does not know its own hostname or endpoint.
    if (name.empty() || name == "?") continue;
    std::string other = canonical_host(name);
    if (is_well_formed({other, port}) && other != host &&
        std::find(m.other_hosts.begin(), m.other_hosts.end(), other) == m.other_hosts.end())
      m.other_hosts.push_back(std::move(other));
  }
  t.masters.push_back(std::move(m));
}

// A replica is only ever read from: one whose address makes no sense is left out, not a reason
// to refuse the topology its master is in.
void add_replica(ClusterTopology& t, std::string_view named, long long port,
                 const std::string& master) {
  if (port < 1 || port > 65535) return;
  std::string host = canonical_host(named);
  if (!is_well_formed({host, static_cast<int>(port)})) return;
  t.replicas.push_back({std::move(host), static_cast<int>(port), master});
}

// Each slot has one master: a reply whose ranges cover more than every slot once is not a
// topology, and its size (ranges, masters to connect) would be the peer's to choose. Masters
// without slots are bounded apart: no real cluster nears one per slot.
Result<ClusterTopology> checked(ClusterTopology t, std::string_view command) {
  // Each master once (CLUSTER SLOTS names one per range).
  auto key = [](const ClusterMaster& m) { return std::tie(m.host, m.port); };
  std::sort(t.masters.begin(), t.masters.end(),
            [&](const ClusterMaster& a, const ClusterMaster& b) { return key(a) < key(b); });
  t.masters.erase(
      std::unique(t.masters.begin(), t.masters.end(),
                  [&](const ClusterMaster& a, const ClusterMaster& b) { return key(a) == key(b); }),
      t.masters.end());
  std::size_t covered = 0;
  for (const SlotRange& r : t.ranges) covered += std::size_t{r.last} - r.first + 1;
  if (covered > kSlotCount)
    return fail(errc::backend_error, command, ": the ranges cover ", covered, " slots, more than ",
                kSlotCount);
  if (t.masters.size() > kSlotCount)
    return fail(errc::backend_error, command, ": ", t.masters.size(), " masters, more than ",
                kSlotCount);
  auto replica_key = [](const ClusterReplica& r) { return std::tie(r.host, r.port); };
  std::sort(t.replicas.begin(), t.replicas.end(),
            [&](const ClusterReplica& a, const ClusterReplica& b) {
              return replica_key(a) < replica_key(b);
            });
  t.replicas.erase(std::unique(t.replicas.begin(), t.replicas.end(),
                               [&](const ClusterReplica& a, const ClusterReplica& b) {
                                 return replica_key(a) == replica_key(b);
                               }),
                   t.replicas.end());
  if (t.replicas.size() > kSlotCount)
    return fail(errc::backend_error, command, ": ", t.replicas.size(), " replicas, more than ",
                kSlotCount);
  return t;
}

}  // namespace

std::string SlotRange::address() const {
  return NodeAddress{host, port}.to_string();
}

std::string ClusterMaster::address() const {
  return NodeAddress{host, port}.to_string();
}

std::string ClusterReplica::address() const {
  return NodeAddress{host, port}.to_string();
}

Result<ClusterTopology> parse_cluster_shards(const redisReply& reply) {
  if (reply.type != REDIS_REPLY_ARRAY)
    return fail(errc::backend_error, "CLUSTER SHARDS: the reply is not an array");
  ClusterTopology t;
  for (std::size_t s = 0; s < reply.elements; ++s) {
    const redisReply& shard = *reply.element[s];
    if (shard.type != REDIS_REPLY_ARRAY)
      return fail(errc::backend_error, "CLUSTER SHARDS: shard ", s, " is not an array");
    const redisReply* slots = nullptr;
    const redisReply* nodes = nullptr;
    for (std::size_t i = 0; i + 1 < shard.elements; i += 2) {
      if (!is_text(shard.element[i])) continue;
      const std::string_view field = text_of(*shard.element[i]);
      if (field == "slots") slots = shard.element[i + 1];
      if (field == "nodes") nodes = shard.element[i + 1];
    }
    if (slots == nullptr || nodes == nullptr || slots->type != REDIS_REPLY_ARRAY ||
        nodes->type != REDIS_REPLY_ARRAY || slots->elements % 2 != 0)
      return fail(errc::backend_error, "CLUSTER SHARDS: shard ", s, " lacks slots or nodes");
    // The master that is up; a failed one only if it is all there is (the cluster has not
    // failed over yet: its slots stay its own, and calls to them fail until it does).
    std::optional<ShardNode> master;
    for (std::size_t n = 0; n < nodes->elements; ++n) {
      ShardNode node = parse_node(*nodes->element[n]);
      if (node.role != "master") continue;
      if (!master || (node.health == "online" && master->health != "online")) master = node;
    }
    // A shard serving nothing is kept only for a master that is up: one being added (ASK may
    // name it), not one that failed and was replaced (nothing would be sent there, and each
    // refresh would try to connect it).
    if (slots->elements == 0 && (!master || master->health != "online")) continue;
    if (!master) return fail(errc::backend_error, "CLUSTER SHARDS: shard ", s, " has no master");
    const std::string_view named = !master->ip.empty() ? master->ip : master->endpoint;
    const std::string host = canonical_host(named);
    if (master->port < 1 || master->port > 65535 ||
        !is_well_formed({host, static_cast<int>(master->port)}))
      return fail(errc::backend_error, "CLUSTER SHARDS: shard ", s, " has a bad master address \"",
                  named, "\" port ", master->port);
    add_master(t, host, static_cast<int>(master->port), {master->endpoint, master->hostname});
    for (std::size_t n = 0; n < nodes->elements; ++n) {
      const ShardNode node = parse_node(*nodes->element[n]);
      // "loading" too: Redis 7.0 says it of every replica until the cluster bus has carried its
      // replication offset, which may take seconds.
      if (node.role == "replica" && (node.health == "online" || node.health == "loading"))
        add_replica(t, !node.ip.empty() ? node.ip : node.endpoint, node.port,
                    t.masters.back().address());
    }
    for (std::size_t i = 0; i < slots->elements; i += 2) {
      long long first = -1, last = -1;
      integer_of(slots->element[i], first);
      integer_of(slots->element[i + 1], last);
      Result<SlotRange> range = make_range(first, last, host, master->port);
      if (!range) return std::unexpected(std::move(range.error()));
      t.ranges.push_back(std::move(*range));
    }
  }
  return checked(std::move(t), "CLUSTER SHARDS");
}

Result<ClusterTopology> parse_cluster_slots(const redisReply& reply) {
  if (reply.type != REDIS_REPLY_ARRAY)
    return fail(errc::backend_error, "CLUSTER SLOTS: the reply is not an array");
  ClusterTopology t;
  for (std::size_t s = 0; s < reply.elements; ++s) {
    const redisReply& entry = *reply.element[s];
    long long first = -1, last = -1, port = 0;
    if (entry.type != REDIS_REPLY_ARRAY || entry.elements < 3 ||
        !integer_of(entry.element[0], first) || !integer_of(entry.element[1], last) ||
        entry.element[2]->type != REDIS_REPLY_ARRAY || entry.element[2]->elements < 2 ||
        !is_text(entry.element[2]->element[0]) || !integer_of(entry.element[2]->element[1], port))
      return fail(errc::backend_error, "CLUSTER SLOTS: entry ", s,
                  " is not [first, last, [ip, port]]");
    Result<SlotRange> range = make_range(first, last, text_of(*entry.element[2]->element[0]), port);
    if (!range) return std::unexpected(std::move(range.error()));
    add_master(t, range->host, range->port);
    // Then each replica of the range's master: [ip, port, id, ...].
    for (std::size_t i = 3; i < entry.elements; ++i) {
      const redisReply* node = entry.element[i];
      long long replica_port = 0;
      if (node->type == REDIS_REPLY_ARRAY && node->elements >= 2 && is_text(node->element[0]) &&
          integer_of(node->element[1], replica_port))
        add_replica(t, text_of(*node->element[0]), replica_port, range->address());
    }
    t.ranges.push_back(std::move(*range));
  }
  return checked(std::move(t), "CLUSTER SLOTS");
}

Result<ClusterTopology> fetch_topology(const Endpoint& node) {
  auto to_timeval = [](std::chrono::milliseconds ms) {
    return timeval{static_cast<time_t>(ms.count() / 1000),
                   static_cast<suseconds_t>((ms.count() % 1000) * 1000)};
  };
  // Declared first: it must outlive the context's reader.
  ReplyGuard guard(kTopologyReplyBounds);
  std::unique_ptr<redisContext, decltype(&redisFree)> c(
      redisConnectWithTimeout(node.host.c_str(), node.port, to_timeval(node.connect_timeout)),
      &redisFree);
  if (c == nullptr || c->err != 0)
    return fail(errc::backend_unavailable, "cluster node ", node.address(),
                " cannot be reached: ", c != nullptr ? c->errstr : "out of memory");
  // Bounds each blocking send and recv, not a whole reply: see command() below.
  redisSetTimeout(c.get(), to_timeval(node.command_timeout));
  guard.attach(c->reader);
  using Reply = std::unique_ptr<redisReply, decltype(&freeReplyObject)>;
  auto lost = [&](std::string_view what) {
    // A reply the guard refused shows in hiredis only as "Out of memory": say what it was.
    if (!guard.refusal().empty())
      return fail(errc::backend_unavailable, "cluster node ", node.address(), " answered ", what,
                  ": the server sent ", guard.refusal());
    return fail(errc::backend_unavailable, "cluster node ", node.address(), " did not answer ",
                what, ": ", c->errstr);
  };
  // hiredis's redisCommandArgv waits for the whole reply, buffering all its bytes until the last
  // arrives: the guard sees a string only once it is whole, and the socket timeout bounds each
  // recv, not the reply. So a node could make it buffer what a string's header names, or keep it
  // waiting forever at a byte per command_timeout (at open, or on the refresh thread, which the
  // backend's destructor joins). Hence the read below, bounding both (as RedisConnection bounds
  // its buffered bytes on the async connections):
  // - The unparsed bytes: what follows the elements parsed is at most one unfinished element,
  //   within the guard's bound for a string plus its header ("$", 20 digits, CRLF) and CRLF.
  // - The time: command_timeout is what a server is given to answer; one more second carries
  //   any real topology (CLUSTER SHARDS of a cluster of hundreds of nodes is some hundred KiB)
  //   over any link the cache could run on. A recv started just before the deadline may still
  //   take command_timeout, so one reply takes at most 2 x command_timeout + 1 s.
  const std::size_t max_buffered = kTopologyReplyBounds.max_string_bytes + 32;
  const auto reply_time = node.command_timeout + std::chrono::seconds(1);
  auto command = [&](std::string_view what,
                     std::initializer_list<const char*> args) -> Result<Reply> {
    std::vector<const char*> argv(args);
    if (redisAppendCommandArgv(c.get(), static_cast<int>(argv.size()), argv.data(), nullptr) !=
        REDIS_OK)
      return lost(what);
    const auto deadline = std::chrono::steady_clock::now() + reply_time;
    auto late = [&] {
      return fail(errc::backend_unavailable, "cluster node ", node.address(),
                  " did not finish its answer to ", what, " within ", reply_time.count(),
                  " ms (command_timeout + 1 s)");
    };
    for (int done = 0; done == 0;) {
      if (redisBufferWrite(c.get(), &done) != REDIS_OK) return lost(what);
      if (done == 0 && std::chrono::steady_clock::now() >= deadline) return late();
    }
    for (;;) {
      void* reply = nullptr;
      if (redisGetReplyFromReader(c.get(), &reply) != REDIS_OK) return lost(what);
      if (reply != nullptr) return Reply(static_cast<redisReply*>(reply), &freeReplyObject);
      const std::size_t buffered = c->reader->len - c->reader->pos;
      if (buffered > max_buffered)
        return fail(errc::backend_unavailable, "cluster node ", node.address(), " answered ", what,
                    ": the server sent ", buffered, " bytes of one element, over the bound of ",
                    max_buffered);
      if (std::chrono::steady_clock::now() >= deadline) return late();
      if (redisBufferRead(c.get()) != REDIS_OK) return lost(what);
    }
  };
  if (!node.password.empty()) {
    Result<Reply> auth = node.user.empty()
                             ? command("AUTH", {"AUTH", node.password.c_str()})
                             : command("AUTH", {"AUTH", node.user.c_str(), node.password.c_str()});
    if (!auth) return std::unexpected(std::move(auth.error()));
    if ((*auth)->type == REDIS_REPLY_ERROR)
      return fail(
          is_refused_for_good(text_of(**auth)) ? errc::invalid_argument : errc::backend_unavailable,
          "cluster node ", node.address(), " refused AUTH: ", text_of(**auth));
  }
  bool legacy = false;
  Result<Reply> answer = command("CLUSTER SHARDS", {"CLUSTER", "SHARDS"});
  if (answer && (*answer)->type == REDIS_REPLY_ERROR &&
      text_of(**answer).find("nknown subcommand") != std::string_view::npos) {
    legacy = true;
    answer = command("CLUSTER SLOTS", {"CLUSTER", "SLOTS"});
  }
  if (!answer) return std::unexpected(std::move(answer.error()));
  const Reply& reply = *answer;
  if (reply->type == REDIS_REPLY_ERROR) {
    const std::string_view text = text_of(*reply);
    if (text.find("cluster support disabled") != std::string_view::npos)
      return fail(errc::invalid_argument, "Options.redis.cluster_nodes: ", node.address(),
                  " is not in cluster mode (", text, ")");
    // No password given to a node that wants one, or an ACL forbidding the command: as a
    // refused AUTH.
    return fail(is_refused_for_good(text) ? errc::invalid_argument : errc::backend_error,
                "cluster node ", node.address(), ": ", text);
  }
  return legacy ? parse_cluster_slots(*reply) : parse_cluster_shards(*reply);
}

}  // namespace tiercache::redis
