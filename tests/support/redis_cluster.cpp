// tests/support/redis_cluster.cpp — what test::RedisCluster adds to test::RedisServer: the cluster
// handshake and the waits that prove it done, over RedisServer::command (plain sockets, never
// hiredis: the fixture must stay usable to test the code that does).
#include "tests/support/redis_cluster.hpp"

#include "tests/support/socket.hpp"

#include <charconv>
#include <chrono>
#include <map>
#include <stdexcept>
#include <string_view>
#include <thread>

namespace test {
namespace {

using namespace std::chrono_literals;

// Slots in a cluster, fixed by its specification.
constexpr int kSlots = 16384;
// Bound on building the cluster, and on any later wait_ok().
constexpr auto kReadyTimeout = 20s;
// How often a wait looks again.
constexpr auto kPollInterval = 5ms;

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error("test::RedisCluster: " + what);
}

template <class Pred>
void poll_until(Pred pred, const std::string& why) {
  const auto deadline = std::chrono::steady_clock::now() + kReadyTimeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) fail("timed out waiting until " + why);
    std::this_thread::sleep_for(kPollInterval);
  }
}

std::string field_of(const std::string& info, const std::string& name) {
  const std::size_t at = info.find(name + ":");
  if (at == std::string::npos) return {};
  const std::size_t begin = at + name.size() + 1;
  return info.substr(begin, info.find_first_of("\r\n", begin) - begin);
}

// The bulk strings of a RESP array reply, as RedisServer::command passes it through raw.
std::vector<std::string> parse_list(const std::string& raw) {
  std::vector<std::string> out;
  if (raw.empty() || raw[0] != '*')
    fail("expected an array reply, got \"" + raw.substr(0, 80) + "\"");
  std::size_t pos = raw.find("\r\n") + 2;
  while (pos < raw.size()) {
    if (raw[pos] != '$') fail("expected a bulk string in \"" + raw.substr(0, 80) + "\"");
    const std::size_t eol = raw.find("\r\n", pos);
    const std::size_t len = std::stoul(raw.substr(pos + 1, eol - pos - 1));
    out.push_back(raw.substr(eol + 2, len));
    pos = eol + 2 + len + 2;
  }
  return out;
}

// The parts of `text` between `separator`s (none after a trailing one).
std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::size_t begin = 0;
  while (begin < text.size()) {
    const std::size_t end = text.find(separator, begin);
    parts.push_back(text.substr(begin, end - begin));
    begin = end == std::string::npos ? text.size() : end + 1;
  }
  return parts;
}

// The space-separated fields of a CLUSTER NODES line: id addr flags master ping pong epoch
// link slot...
std::vector<std::string> split_words(const std::string& line) {
  return split(line, ' ');
}

// The lines of `node`'s CLUSTER NODES, one per node it knows.
std::vector<std::string> cluster_nodes_lines(const RedisServer& node) {
  return split(node.command({"CLUSTER", "NODES"}), '\n');
}

}  // namespace

void RedisCluster::start_node() {
  // A port of its own for the cluster bus: the default, port + 10000, may be taken or (above
  // 55535) impossible.
  const auto bus_port = pick_free_port();
  if (!bus_port) fail(bus_port.error());
  bus_ports_.push_back(*bus_port);
  nodes_.push_back(std::make_unique<RedisServer>(RedisServerOptions{
      .extra_args = {"--cluster-enabled", "yes", "--cluster-port", std::to_string(*bus_port),
                     "--cluster-config-file", "nodes.conf", "--cluster-node-timeout",
                     std::to_string(options_.node_timeout.count()),
                     // Keep serving the slots that are up while one master fails over.
                     "--cluster-require-full-coverage", "no",
                     // Let a replica of a killed master take over at once, however stale.
                     "--cluster-replica-validity-factor", "0",
                     // A replica's full sync starts at once, not after the default 5 s wait
                     // for more replicas to share it.
                     "--repl-diskless-sync-delay", "0"}}));
  ids_.push_back(nodes_.back()->command({"CLUSTER", "MYID"}));
}

void RedisCluster::wait_all_known() const {
  poll_until(
      [&] {
        for (std::size_t i = 0; i < nodes_.size(); ++i)
          if (is_alive(i) && field_of(nodes_[i]->command({"CLUSTER", "INFO"}),
                                      "cluster_known_nodes") != std::to_string(nodes_.size()))
            return false;
        return true;
      },
      "every node knows every other");
}

RedisCluster::RedisCluster(Options options) : options_(options) {
  const int total = options_.masters * (1 + options_.replicas_per_master);
  for (int i = 0; i < total; ++i) start_node();
  for (int m = 0; m < options_.masters; ++m) {
    const int first = m * kSlots / options_.masters;
    const int last = (m + 1) * kSlots / options_.masters - 1;
    RedisServer& node = *nodes_[m];
    // Distinct epochs, so no collision has to be resolved before the cluster settles.
    node.command({"CLUSTER", "SET-CONFIG-EPOCH", std::to_string(m + 1)});
    const std::string r =
        node.command({"CLUSTER", "ADDSLOTSRANGE", std::to_string(first), std::to_string(last)});
    if (r != "+OK") fail("ADDSLOTSRANGE on node " + std::to_string(m) + ": " + r);
  }
  for (int i = 1; i < total; ++i)
    nodes_[0]->command({"CLUSTER", "MEET", "127.0.0.1", std::to_string(nodes_[i]->port()),
                        std::to_string(bus_ports_[i])});
  wait_all_known();
  for (int m = 0; m < options_.masters; ++m)
    for (int r = 0; r < options_.replicas_per_master; ++r) {
      RedisServer& replica = *nodes_[options_.masters + m * options_.replicas_per_master + r];
      // The replica must have heard of its master as a master before it can follow it.
      poll_until(
          [&] {
            return replica.command({"CLUSTER", "REPLICATE", ids_[m]}) == "+OK";
          },
          "node " + std::to_string(m) + "'s replica accepts CLUSTER REPLICATE");
      poll_until(
          [&] {
            return field_of(replica.command({"INFO", "replication"}), "master_link_status") == "up";
          },
          "the replica of node " + std::to_string(m) + " is in sync");
    }
  // The other nodes hear of a replica's new master by gossip, later: until then their CLUSTER
  // SHARDS, which the code under test reads, list it as a master with no slots.
  poll_until(
      [&] {
        for (std::size_t i = 0; i < nodes_.size(); ++i)
          for (int m = 0; m < options_.masters; ++m)
            for (int r = 0; r < options_.replicas_per_master; ++r)
              if (master_of_replica_in_view(
                      i, options_.masters + m * options_.replicas_per_master + r) != ids_[m])
                return false;
        return true;
      },
      "every node knows every replica's master");
  wait_ok();
}

std::string RedisCluster::master_of_replica_in_view(std::size_t viewer, std::size_t replica) const {
  for (const std::string& line : cluster_nodes_lines(*nodes_[viewer])) {
    const std::vector<std::string> f = split_words(line);
    if (f.size() > 3 && f[0] == ids_[replica] && f[2].find("slave") != std::string::npos)
      return f[3];
  }
  return {};
}

std::size_t RedisCluster::add_master() {
  start_node();
  const std::size_t added = nodes_.size() - 1;
  nodes_[any_live()]->command({"CLUSTER", "MEET", "127.0.0.1",
                               std::to_string(nodes_[added]->port()),
                               std::to_string(bus_ports_[added])});
  wait_all_known();
  // It must also have heard who serves every slot, or it refuses a key migrated to it.
  wait_ok();
  return added;
}

std::vector<std::string> RedisCluster::seeds() const {
  std::vector<std::string> out;
  for (const auto& n : nodes_) out.push_back("127.0.0.1:" + std::to_string(n->port()));
  return out;
}

std::size_t RedisCluster::any_live() const {
  for (std::size_t i = 0; i < nodes_.size(); ++i)
    if (is_alive(i)) return i;
  fail("no node is alive");
}

std::size_t RedisCluster::index_of_id(const std::string& id) const {
  for (std::size_t i = 0; i < ids_.size(); ++i)
    if (ids_[i] == id) return i;
  fail("no node has id " + id);
}

std::uint16_t RedisCluster::slot_of(const std::string& key) const {
  const std::string r = nodes_[any_live()]->command({"CLUSTER", "KEYSLOT", key});
  return static_cast<std::uint16_t>(std::stoi(r.substr(1)));
}

std::size_t RedisCluster::master_of(std::uint16_t slot) const {
  return master_in_view(any_live(), slot);
}

std::size_t RedisCluster::master_in_view(std::size_t viewer, std::uint16_t slot) const {
  // Not CLUSTER SHARDS, which the code under test parses: the text of CLUSTER NODES instead.
  for (const std::string& line : cluster_nodes_lines(*nodes_[viewer])) {
    if (line.find("master") == std::string::npos || line.find("fail") != std::string::npos)
      continue;
    const std::vector<std::string> f = split_words(line);
    for (std::size_t i = 8; i < f.size(); ++i) {
      if (f[i].empty() || f[i][0] == '[') continue;
      const std::size_t dash = f[i].find('-');
      const int first = std::stoi(f[i].substr(0, dash));
      const int last = dash == std::string::npos ? first : std::stoi(f[i].substr(dash + 1));
      if (slot >= first && slot <= last) return index_of_id(f[0]);
    }
  }
  return nodes_.size();  // none that is up
}

std::vector<std::size_t> RedisCluster::masters() const {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < nodes_.size(); ++i)
    if (is_alive(i) && field_of(nodes_[i]->command({"INFO", "replication"}), "role") == "master")
      out.push_back(i);
  return out;
}

void RedisCluster::wait_ok(const std::vector<std::uint16_t>& slots) const {
  poll_until(
      [&] {
        for (std::size_t i = 0; i < nodes_.size(); ++i) {
          if (!is_alive(i)) continue;
          const std::string info = nodes_[i]->command({"CLUSTER", "INFO"});
          if (field_of(info, "cluster_state") != "ok" ||
              field_of(info, "cluster_slots_ok") != std::to_string(kSlots))
            return false;
        }
        return true;
      },
      "every live node says cluster_state:ok");
  for (const std::uint16_t slot : slots)
    poll_until(
        [&] {
          const std::size_t owner = master_in_view(any_live(), slot);
          for (std::size_t i = 0; i < nodes_.size(); ++i)
            if (is_alive(i) && master_in_view(i, slot) != owner) return false;
          return is_alive(owner);
        },
        "every node agrees on the master of slot " + std::to_string(slot));
}

void RedisCluster::begin_migration(std::uint16_t slot, std::size_t to) {
  migrating_from_ = static_cast<std::uint16_t>(master_of(slot));
  const std::string s = std::to_string(slot);
  std::string r =
      nodes_[to]->command({"CLUSTER", "SETSLOT", s, "IMPORTING", ids_[migrating_from_]});
  if (r != "+OK") fail("SETSLOT IMPORTING: " + r);
  r = nodes_[migrating_from_]->command({"CLUSTER", "SETSLOT", s, "MIGRATING", ids_[to]});
  if (r != "+OK") fail("SETSLOT MIGRATING: " + r);
}

std::size_t RedisCluster::migrate_keys(std::uint16_t slot, std::size_t to, std::size_t count) {
  RedisServer& from = *nodes_[migrating_from_];
  const std::vector<std::string> keys = command_list(
      migrating_from_, {"CLUSTER", "GETKEYSINSLOT", std::to_string(slot), std::to_string(count)});
  if (keys.empty()) return 0;
  std::vector<std::string> args = {
      "MIGRATE", "127.0.0.1", std::to_string(nodes_[to]->port()), "", "0", "5000", "KEYS"};
  args.insert(args.end(), keys.begin(), keys.end());
  const std::string r = from.command(args);
  if (r != "+OK" && r != "+NOKEY") fail("MIGRATE: " + r);
  return keys.size();
}

void RedisCluster::end_migration(std::uint16_t slot, std::size_t to) {
  while (migrate_keys(slot, to, 100) > 0) {
  }
  const std::string s = std::to_string(slot);
  // The target first, so it never refuses (MOVED back) a key the source hands over.
  std::vector<std::size_t> order = {to, migrating_from_};
  for (std::size_t i = 0; i < nodes_.size(); ++i)
    if (i != to && i != migrating_from_) order.push_back(i);
  for (const std::size_t i : order) {
    if (!is_alive(i)) continue;
    const std::string r = nodes_[i]->command({"CLUSTER", "SETSLOT", s, "NODE", ids_[to]});
    // A replica refuses SETSLOT; it learns from its master.
    if (r != "+OK" && r.find("replica") == std::string::npos &&
        r.find("slave") == std::string::npos)
      fail("SETSLOT NODE on node " + std::to_string(i) + ": " + r);
  }
}

std::vector<std::string> RedisCluster::command_list(std::size_t i,
                                                    const std::vector<std::string>& args) const {
  return parse_list(nodes_.at(i)->command(args));
}

}  // namespace test
