// Redis Cluster as L2 (adapters/redis/cluster_backend.hpp), on a real local cluster the harness
// builds (tests/support/redis_cluster.hpp): slots as the specification computes them, keys over
// every master, hash tags, a second instance, invalidation from every master, bad seeds, and
// resharding under load with MOVED and ASK followed and nothing acknowledged lost. Failover has
// a file of its own (redis_cluster_failover_test.cpp): it needs replicas.
#include <atomic>
#include <map>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "adapters/redis/cluster_backend.hpp"
#include "adapters/redis/cluster_redirect.hpp"
#include "adapters/redis/cluster_topology.hpp"
#include "adapters/redis/hash_slot.hpp"
#include "tests/support/cluster_cache.hpp"
#include "tests/support/cluster_replies.hpp"
#include "tests/support/redis_cache.hpp"
#include "tests/support/redis_cluster.hpp"
#include "tests/support/socket.hpp"
#include "tiercache/prometheus.hpp"

using test::bulk;
using test::ClusterCache;
using test::reply_of;
using tiercache::Cache;
using tiercache::errc;
using tiercache::redis::Redirect;
using namespace std::chrono_literals;

namespace {

// One cluster for the file: building one costs a second or so, and every test keeps to keys
// under its own prefix.
test::RedisCluster& shared_cluster() {
  static test::RedisCluster cluster;
  return cluster;
}

tiercache::RedisOptions cluster_redis_options(const test::RedisCluster& cluster,
                                              std::string prefix) {
  tiercache::RedisOptions r;
  r.cluster_nodes = cluster.seeds();
  r.key_prefix = std::move(prefix);
  r.command_timeout = 200ms;
  r.reconnect_backoff_max = 50ms;
  return r;
}

// A cache on the cluster whose backend the test keeps, for its masters.
test::ClusterCache open_cluster_cache(const test::RedisCluster& cluster, std::string prefix,
                                      tiercache::Options options = {}) {
  return test::open_cluster_cache(cluster_redis_options(cluster, std::move(prefix)),
                                  std::move(options));
}

std::string unique_prefix(const char* name) {
  static std::atomic<int> n{0};
  return std::string(name) + std::to_string(n.fetch_add(1)) + ":";
}

}  // namespace

TEST_CASE("a key's slot is the one Redis Cluster computes, hash tags included",
          "[redis][cluster]") {
  CHECK(tiercache::redis::crc16("123456789") == 0x31C3);
  test::RedisCluster& cluster = shared_cluster();
  std::vector<std::string> keys = {"",
                                   "a",
                                   "{user1000}.following",
                                   "{}",
                                   "foo{}{bar}",
                                   "foo{{bar}}zap",
                                   "foo{bar}{zap}",
                                   "{",
                                   "}{x}",
                                   "x{y",
                                   "p:{tag}:1",
                                   "p:{tag}:2"};
  std::mt19937 rng(test::seed());
  for (int i = 0; i < 100; ++i) {
    std::string k;
    const int len = static_cast<int>(rng() % 12);
    for (int j = 0; j < len; ++j) k += "ab{}\xff:"[rng() % 6];
    keys.push_back(k);
  }
  for (const std::string& key : keys) {
    INFO("key \"" << key << "\"");
    CHECK(tiercache::redis::hash_slot(key) == cluster.slot_of(key));
  }
}

TEST_CASE("cluster redirects are read as the specification writes them", "[redis][cluster]") {
  Redirect moved = tiercache::redis::parse_redirect("MOVED 3999 127.0.0.1:6381");
  CHECK(moved.kind == Redirect::Kind::moved);
  CHECK(moved.slot == 3999);
  CHECK(moved.target.to_string() == "127.0.0.1:6381");
  Redirect ask = tiercache::redis::parse_redirect("ASK 1 [::1]:7000");
  CHECK(ask.kind == Redirect::Kind::ask);
  CHECK(ask.target.to_string() == "[::1]:7000");
  // An unknown endpoint: the host the command went to, with this port.
  Redirect unknown = tiercache::redis::parse_redirect("MOVED 7 :6380");
  CHECK(unknown.kind == Redirect::Kind::moved);
  CHECK(unknown.target == tiercache::redis::NodeAddress{"", 6380});
  CHECK(tiercache::redis::parse_redirect("TRYAGAIN Multiple keys request during rehashing").kind ==
        Redirect::Kind::try_again);
  CHECK(tiercache::redis::parse_redirect("CLUSTERDOWN The cluster is down").kind ==
        Redirect::Kind::cluster_down);
  for (const char* bad : {"MOVED 16384 127.0.0.1:1", "MOVED 1 127.0.0.1", "MOVED x h:1",
                          "ASK 1 h:0", "ERR wrong", "MOVED"})
    CHECK(tiercache::redis::parse_redirect(bad).kind == Redirect::Kind::none);
}

TEST_CASE("a node address has one spelling whichever way Redis writes it", "[redis][cluster]") {
  using tiercache::redis::NodeAddress;
  using tiercache::redis::parse_node_address;
  const std::vector<std::pair<const char*, NodeAddress>> good = {
      {"127.0.0.1:7000", {"127.0.0.1", 7000}},
      {"[::1]:7000", {"::1", 7000}},
      {"::1:7000", {"::1", 7000}},  // bare IPv6: the port is after the last colon
      {"[0:0:0::1]:7000", {"::1", 7000}},
      {"FE80::A:1:7001", {"fe80::a:1", 7001}},
      {"Redis-1.Example.COM:6379", {"redis-1.example.com", 6379}},
      {":6380", {"", 6380}},
  };
  for (const auto& [text, want] : good) {
    INFO(text);
    CHECK(parse_node_address(text) == want);
  }
  for (const char* bad : {"", "7000", "h:", "h:0", "h:65536", "h:7x"}) {
    INFO(bad);
    CHECK_FALSE(parse_node_address(bad).has_value());
  }
  CHECK(NodeAddress{"::1", 7000}.to_string() == "[::1]:7000");
  CHECK(NodeAddress{"10.0.0.1", 7000}.to_string() == "10.0.0.1:7000");
  // Brackets come off an IPv6 address only: anything else is a name of its own, spelt once.
  CHECK(parse_node_address("[[a]]:1") == NodeAddress{"[[a]]", 1});
  CHECK(tiercache::redis::canonical_host("[[A]]") == "[[a]]");
  CHECK(tiercache::redis::canonical_host(std::string_view("::1\0x", 5)) ==
        std::string("::1\0x", 5));
  // What a topology may name a master: a colon only in an IPv6 address.
  CHECK(tiercache::redis::is_well_formed({"::1", 7000}));
  CHECK(tiercache::redis::is_well_formed({"node-a", 7000}));
  CHECK_FALSE(tiercache::redis::is_well_formed({"a:b", 7000}));
  CHECK_FALSE(tiercache::redis::is_well_formed({"", 7000}));
}

TEST_CASE("a topology whose ranges cover a slot twice is refused", "[redis][cluster]") {
  auto entry = [](int port) {
    return "*3\r\n:0\r\n:16383\r\n*2\r\n$9\r\n127.0.0.1\r\n:" + std::to_string(port) + "\r\n";
  };
  auto one = reply_of("*1\r\n" + entry(7000));
  REQUIRE(one != nullptr);
  CHECK(tiercache::redis::parse_cluster_slots(*one).has_value());
  // Every slot claimed by two masters: a peer could name as many masters to connect as it likes.
  auto two = reply_of("*2\r\n" + entry(7000) + entry(7001));
  REQUIRE(two != nullptr);
  const auto parsed = tiercache::redis::parse_cluster_slots(*two);
  REQUIRE_FALSE(parsed.has_value());
  CHECK(parsed.error() == errc::backend_error);
}

namespace {

// One CLUSTER SHARDS shard as Redis 7 sends it: `slots` a flat list of first, last; one master.
std::string shard(const std::vector<int>& slots, int port, const std::string& health,
                  const std::string& hostname = "?") {
  std::string r = "*4\r\n" + bulk("slots") + "*" + std::to_string(slots.size()) + "\r\n";
  for (const int s : slots) r += ":" + std::to_string(s) + "\r\n";
  r += bulk("nodes") + "*1\r\n*12\r\n" + bulk("ip") + bulk("127.0.0.1") + bulk("port") + ":" +
       std::to_string(port) + "\r\n" + bulk("role") + bulk("master") + bulk("health") +
       bulk(health) + bulk("endpoint") + bulk(hostname == "?" ? "127.0.0.1" : hostname) +
       bulk("hostname") + bulk(hostname);
  return r;
}

}  // namespace

TEST_CASE("a master with no slots is in the topology only while it is up", "[redis][cluster]") {
  auto reply = reply_of("*3\r\n" + shard({0, 16383}, 7000, "online") + shard({}, 7001, "online") +
                        shard({}, 7002, "fail"));
  REQUIRE(reply != nullptr);
  const auto t = tiercache::redis::parse_cluster_shards(*reply);
  REQUIRE(t);
  REQUIRE(t->ranges.size() == 1);
  CHECK(t->ranges[0].address() == "127.0.0.1:7000");
  std::vector<std::string> masters;
  for (const auto& m : t->masters) masters.push_back(m.address());
  CHECK(masters == std::vector<std::string>{"127.0.0.1:7000", "127.0.0.1:7001"});
}

TEST_CASE("a master's hostname is kept as another name for it", "[redis][cluster]") {
  auto reply = reply_of("*1\r\n" + shard({0, 16383}, 7000, "online", "Node-A.local"));
  REQUIRE(reply != nullptr);
  const auto t = tiercache::redis::parse_cluster_shards(*reply);
  REQUIRE(t);
  REQUIRE(t->masters.size() == 1);
  CHECK(t->masters[0].host == "127.0.0.1");
  CHECK(t->masters[0].other_hosts == std::vector<std::string>{"node-a.local"});
}

TEST_CASE("keys spread over every master round-trip and a second instance reads them",
          "[redis][cluster]") {
  test::RedisCluster& cluster = shared_cluster();
  const std::string prefix = unique_prefix("spread");
  tiercache::Options options;
  options.writer.mode = tiercache::WriteMode::sync;
  ClusterCache a = open_cluster_cache(cluster, prefix, options);
  constexpr int kKeys = 120;
  std::set<std::size_t> masters_used;
  std::vector<std::string> keys;
  for (int i = 0; i < kKeys; ++i) {
    keys.push_back("key" + std::to_string(i));
    REQUIRE(a.cache.set(test::ctx(), keys.back(), "value" + std::to_string(i)));
  }
  for (int i = 0; i < kKeys; ++i) {
    const std::string full = prefix + keys[i];
    const std::size_t master = cluster.master_of(cluster.slot_of(full));
    masters_used.insert(master);
    INFO(full);
    CHECK(cluster.node(master).command({"EXISTS", full}) == ":1");
  }
  CHECK(masters_used.size() == 3);
  CHECK(a.backend->masters().size() == 3);

  ClusterCache b = open_cluster_cache(cluster, prefix);
  for (int i = 0; i < kKeys; ++i)
    CHECK(b.cache.get(test::ctx(), keys[i]) == "value" + std::to_string(i));
  ClusterCache c = open_cluster_cache(cluster, prefix);
  std::vector<std::string_view> wanted(keys.begin(), keys.begin() + 100);
  wanted.push_back("never-set");
  auto many = c.cache.get_many(test::ctx(), wanted);
  REQUIRE(many);
  REQUIRE(many->size() == wanted.size());
  for (int i = 0; i < 100; ++i) CHECK((*many)[i] == "value" + std::to_string(i));
  CHECK(many->back().error() == errc::not_found);
  CHECK(a.cache.stats().l2_moved_redirects == 0);
}

TEST_CASE("keys sharing a hash tag land on one master", "[redis][cluster]") {
  test::RedisCluster& cluster = shared_cluster();
  const std::string prefix = unique_prefix("tag");
  tiercache::Options options;
  options.writer.mode = tiercache::WriteMode::sync;
  ClusterCache a = open_cluster_cache(cluster, prefix, options);
  std::vector<std::pair<std::string, std::string>> items;
  for (int i = 0; i < 20; ++i) items.emplace_back("{user42}:field" + std::to_string(i), "v");
  std::vector<std::pair<std::string_view, std::string_view>> views(items.begin(), items.end());
  REQUIRE(a.cache.set_many(test::ctx(), views));
  const std::size_t master = cluster.master_of(cluster.slot_of(prefix + "{user42}"));
  for (const auto& [key, value] : items) {
    CHECK(cluster.slot_of(prefix + key) == cluster.slot_of(prefix + "{user42}"));
    CHECK(cluster.node(master).command({"EXISTS", prefix + key}) == ":1");
  }
  // One slot: the whole get_many is one script call on that master.
  ClusterCache b = open_cluster_cache(cluster, prefix);
  const long long evals_before = cluster.node(master).calls_of("eval");
  std::vector<std::string_view> keys;
  for (const auto& [key, value] : items) keys.push_back(key);
  auto many = b.cache.get_many(test::ctx(), keys);
  REQUIRE(many);
  for (const auto& r : *many) CHECK(r == "v");
  CHECK(cluster.node(master).calls_of("eval") == evals_before + 1);
}

TEST_CASE("a change made through one instance reaches another's L1 on every master",
          "[redis][cluster]") {
  test::RedisCluster& cluster = shared_cluster();
  const std::string prefix = unique_prefix("inval");
  tiercache::Options options;
  options.writer.mode = tiercache::WriteMode::sync;
  ClusterCache a = open_cluster_cache(cluster, prefix, options);
  ClusterCache b = open_cluster_cache(cluster, prefix, options);
  // One key per master.
  std::map<std::size_t, std::string> key_of_master;
  for (int i = 0; key_of_master.size() < 3; ++i) {
    const std::string key = "k" + std::to_string(i);
    key_of_master.emplace(cluster.master_of(cluster.slot_of(prefix + key)), key);
  }
  for (const auto& [master, key] : key_of_master) {
    REQUIRE(a.cache.set(test::ctx(), key, "old"));
    REQUIRE(b.cache.get(test::ctx(), key) == "old");  // now in b's L1
  }
  test::wait_until(
      2s, [&] { return b.cache.stats().l2_coherent; }, "b hears every master");
  for (const auto& [master, key] : key_of_master) REQUIRE(a.cache.set(test::ctx(), key, "new"));
  for (const auto& [master, key] : key_of_master) {
    INFO("master " << master << " key " << key);
    test::wait_until(
        2s, [&] { return b.cache.get(test::ctx(), key) == "new"; }, "b sees a's change");
  }
}

TEST_CASE("cluster options are checked at open", "[redis][cluster]") {
  auto open_with = [](tiercache::RedisOptions r) {
    tiercache::Options o;
    o.redis = std::move(r);
    return Cache::open(o);
  };
  tiercache::RedisOptions r;
  r.cluster_nodes = {"127.0.0.1:7000"};
  r.url = "redis://127.0.0.1:7000";
  CHECK(open_with(r).error() == errc::invalid_argument);
  r.url.clear();
  r.cluster_nodes = {"memcached://127.0.0.1:7000"};
  CHECK(open_with(r).error() == errc::invalid_argument);
  r.cluster_nodes = {"redis://127.0.0.1:7000/3"};
  auto db = open_with(r);
  REQUIRE(!db);
  CHECK(db.error() == errc::invalid_argument);
  CHECK(db.error().detail.find("database") != std::string::npos);
  r.cluster_nodes = {"127.0.0.1:0"};
  CHECK(open_with(r).error() == errc::invalid_argument);
  r.cluster_nodes = {"redis://:a@127.0.0.1:7000", "redis://:b@127.0.0.1:7001"};
  CHECK(open_with(r).error() == errc::invalid_argument);
  // A batch_timeout shorter than a parked write may wait: refused before any node is asked.
  tiercache::Options o;
  o.redis.cluster_nodes = {"127.0.0.1:7000"};
  o.writer.batch_timeout = std::chrono::milliseconds(1000);
  auto short_timeout = Cache::open(o);
  REQUIRE(!short_timeout);
  CHECK(short_timeout.error() == errc::invalid_argument);
  CHECK(short_timeout.error().detail.find("batch_timeout") != std::string::npos);
}

TEST_CASE("a seed list with no reachable node fails open with backend_unavailable",
          "[redis][cluster]") {
  auto port = test::pick_free_port();
  REQUIRE(port);
  tiercache::Options o;
  o.redis.cluster_nodes = {"127.0.0.1:" + std::to_string(*port)};
  o.redis.connect_timeout = 200ms;
  auto cache = Cache::open(o);
  REQUIRE(!cache);
  CHECK(cache.error() == errc::backend_unavailable);
  CHECK(cache.error().detail.find("cluster_nodes") != std::string::npos);
}

TEST_CASE("a seed that is not in cluster mode fails open with invalid_argument",
          "[redis][cluster]") {
  test::RedisServer plain;
  tiercache::Options o;
  o.redis.cluster_nodes = {"127.0.0.1:" + std::to_string(plain.port())};
  auto cache = Cache::open(o);
  REQUIRE(!cache);
  CHECK(cache.error() == errc::invalid_argument);
  CHECK(cache.error().detail.find("not in cluster mode") != std::string::npos);
}

namespace {

// 4 threads of 90 % get, 10 % set over `keys` on one cache, with a deadline that allows retries,
// until finish(). Thread t alone writes keys t, t + kThreads, ...: the last value it had
// acknowledged is the one each of its keys must hold.
class MixedLoad {
 public:
  static constexpr int kThreads = 4;

  MixedLoad(Cache& cache, const std::vector<std::string>& keys)
      : failures_(kThreads), acked_(kThreads) {
    const unsigned seed = test::seed();
    for (int t = 0; t < kThreads; ++t)
      threads_.emplace_back([&, t, seed] {
        std::mt19937 rng(seed + t);
        const std::size_t own = keys.size() / kThreads;
        for (int n = 0; !stop_.load(); ++n) {
          const auto ctx = test::ctx_with_timeout(10s);
          if (rng() % 10 == 0) {
            const std::size_t k = rng() % own * kThreads + t;
            const std::string value = std::to_string(n);
            auto r = cache.set(ctx, keys[k], value);
            if (r) {
              acked_[t][keys[k]] = value;
            } else {
              failures_[t].push_back("set " + keys[k] + ": " + r.error().detail);
            }
          } else {
            auto r = cache.get(ctx, keys[rng() % keys.size()]);
            if (!r) failures_[t].push_back("get: " + r.error().detail);
          }
        }
      });
  }
  ~MixedLoad() { finish(); }

  // Stops and joins the threads; then the results below may be read.
  void finish() {
    stop_ = true;
    for (auto& t : threads_)
      if (t.joinable()) t.join();
  }
  std::vector<std::string> failures() const {
    std::vector<std::string> all;
    for (const auto& f : failures_) all.insert(all.end(), f.begin(), f.end());
    return all;
  }
  std::map<std::string, std::string> acked() const {
    std::map<std::string, std::string> all;
    for (const auto& a : acked_) all.insert(a.begin(), a.end());
    return all;
  }

 private:
  std::atomic<bool> stop_{false};
  std::vector<std::vector<std::string>> failures_;
  std::vector<std::map<std::string, std::string>> acked_;
  std::vector<std::thread> threads_;
};

// Half the keys in the slot of "{moving}", half spread.
std::vector<std::string> moving_and_spread_keys(int count) {
  std::vector<std::string> keys;
  for (int i = 0; i < count; ++i)
    keys.push_back((i % 2 == 0 ? "{moving}:" : "spread:") + std::to_string(i));
  return keys;
}

// Every acknowledged value is in L2: read back through another instance, and the moved keys
// straight from their new owner.
void check_acked(const test::RedisCluster& cluster, const std::string& prefix, std::size_t owner,
                 const std::map<std::string, std::string>& acked) {
  ClusterCache b = open_cluster_cache(cluster, prefix);
  for (const auto& [key, value] : acked) {
    INFO(key);
    CHECK(b.cache.get(test::ctx(), key) == value);
    if (key.starts_with("{moving}"))
      CHECK(cluster.node(owner).command({"GET", prefix + key}) == value);
  }
}

}  // namespace

TEST_CASE("resharding a slot under a 90/10 load loses no acknowledged write and fails no call",
          "[redis][cluster]") {
  test::RedisCluster& cluster = shared_cluster();
  const std::string prefix = unique_prefix("reshard");
  tiercache::Options options;
  options.writer.mode = tiercache::WriteMode::sync;
  ClusterCache a = open_cluster_cache(cluster, prefix, options);
  constexpr int kKeys = 80;
  const std::vector<std::string> keys = moving_and_spread_keys(kKeys);
  for (const std::string& key : keys) REQUIRE(a.cache.set(test::ctx(), key, "0"));
  const std::uint16_t slot = cluster.slot_of(prefix + "{moving}");
  const std::size_t from = cluster.master_of(slot);
  const std::size_t to = (from + 1) % 3;

  MixedLoad load(a.cache, keys);
  cluster.begin_migration(slot, to);
  cluster.migrate_keys(slot, to, kKeys / 4);  // half of the slot's keys: ASK for those
  test::wait_until(
      5s, [&] { return a.cache.stats().l2_ask_redirects > 0; }, "a write is ASKed");
  {
    // Mid-migration, a read of the slot's keys meets keys on both sides: TRYAGAIN, then each
    // key where it is.
    ClusterCache reader = open_cluster_cache(cluster, prefix);
    std::vector<std::string_view> moving;
    for (const std::string& key : keys)
      if (key.starts_with("{moving}")) moving.push_back(key);
    auto many = reader.cache.get_many(test::ctx_with_timeout(10s), moving);
    REQUIRE(many);
    for (const auto& r : *many) CHECK(r.has_value());
    CHECK(reader.cache.stats().l2_cluster_retries > 0);
    CHECK(reader.cache.stats().l2_ask_redirects > 0);
  }
  cluster.end_migration(slot, to);
  test::wait_until(
      5s, [&] { return a.cache.stats().l2_moved_redirects > 0; }, "a write is MOVED");
  load.finish();
  REQUIRE(cluster.master_of(slot) == to);
  const std::vector<std::string> failures = load.failures();
  for (const auto& line : failures) UNSCOPED_INFO(line);
  CHECK(failures.empty());
  check_acked(cluster, prefix, to, load.acked());
  const tiercache::CacheStats stats = a.cache.stats();
  UNSCOPED_INFO("moved " << stats.l2_moved_redirects << " ask " << stats.l2_ask_redirects
                         << " retries " << stats.l2_cluster_retries << " refreshes "
                         << stats.l2_topology_refreshes);
  CHECK(stats.l2_moved_redirects > 0);
  CHECK(stats.l2_ask_redirects > 0);
  CHECK(stats.l2_topology_refreshes > 0);
  // The same counts in the metrics exposition.
  const std::string text = tiercache::to_prometheus(a.cache.metrics()).value();
  CHECK(text.find("tiercache_l2_moved_redirects_total " + std::to_string(stats.l2_moved_redirects) +
                  "\n") != std::string::npos);
  CHECK(text.find("tiercache_l2_ask_redirects_total " + std::to_string(stats.l2_ask_redirects) +
                  "\n") != std::string::npos);
  CHECK(text.find("tiercache_l2_cluster_retries_total") != std::string::npos);
  CHECK(text.find("tiercache_l2_topology_refreshes_total") != std::string::npos);
}

TEST_CASE("a slot moves to a master added empty under a 90/10 load and no call fails",
          "[redis][cluster]") {
  // A cluster of its own: the new master would change what the other tests see.
  test::RedisCluster cluster;
  const std::string prefix = unique_prefix("grow");
  tiercache::Options options;
  options.writer.mode = tiercache::WriteMode::sync;
  ClusterCache a = open_cluster_cache(cluster, prefix, options);
  constexpr int kKeys = 80;
  const std::vector<std::string> keys = moving_and_spread_keys(kKeys);
  for (const std::string& key : keys) REQUIRE(a.cache.set(test::ctx(), key, "0"));
  const std::uint16_t slot = cluster.slot_of(prefix + "{moving}");

  MixedLoad load(a.cache, keys);
  const std::size_t fresh = cluster.add_master();
  cluster.begin_migration(slot, fresh);
  // Half of the slot's keys go first: the new master, still without a slot, is ASKed for them.
  cluster.migrate_keys(slot, fresh, kKeys / 4);
  test::wait_until(
      5s, [&] { return a.cache.stats().l2_ask_redirects > 0; },
      "a call is ASKed to the new master");
  cluster.end_migration(slot, fresh);
  test::wait_until(
      5s, [&] { return a.cache.stats().l2_moved_redirects > 0; },
      "a call is MOVED to the new master");
  load.finish();
  REQUIRE(cluster.master_of(slot) == fresh);
  const std::vector<std::string> failures = load.failures();
  for (const auto& line : failures) UNSCOPED_INFO(line);
  CHECK(failures.empty());
  check_acked(cluster, prefix, fresh, load.acked());
  CHECK(a.backend->masters().size() == 4);
}

namespace {

// Sets `name` to `value` on every node of `cluster`.
void config_set_all(test::RedisCluster& cluster, const std::string& name,
                    const std::string& value) {
  for (std::size_t i = 0; i < cluster.size(); ++i)
    REQUIRE(cluster.node(i).command({"CONFIG", "SET", name, value}) == "+OK");
}

}  // namespace

TEST_CASE("a MOVED naming the node by hostname or by an empty host reaches the known node",
          "[redis][cluster]") {
  test::RedisCluster& cluster = shared_cluster();
  config_set_all(cluster, "cluster-announce-hostname", "LocalHost");
  for (const char* type : {"unknown-endpoint", "hostname"}) {
    INFO(type);
    config_set_all(cluster, "cluster-preferred-endpoint-type", type);
    const std::string prefix = unique_prefix("endpoint");
    tiercache::Options options;
    options.writer.mode = tiercache::WriteMode::sync;
    ClusterCache a = open_cluster_cache(cluster, prefix, options);
    for (const char* key : {"{e}:0", "{e}:1", "{e}:2"}) REQUIRE(a.cache.set(test::ctx(), key, "v"));
    const std::uint16_t slot = cluster.slot_of(prefix + "{e}");
    // The slot moves under an instance that has not read the key yet (not in its L1), so the
    // read goes to the old owner and is MOVED; unless a periodic refresh came first, hence a
    // few tries, each with a key not read before.
    ClusterCache b = open_cluster_cache(cluster, prefix);
    for (int attempt = 0; attempt < 3 && b.cache.stats().l2_moved_redirects == 0; ++attempt) {
      const std::size_t to = (cluster.master_of(slot) + 1) % 3;
      cluster.begin_migration(slot, to);
      cluster.end_migration(slot, to);
      cluster.wait_ok({slot});
      auto r = b.cache.get(test::ctx_with_timeout(10s), "{e}:" + std::to_string(attempt));
      if (!r) UNSCOPED_INFO(r.error().detail);
      REQUIRE(r == "v");
    }
    CHECK(b.cache.stats().l2_moved_redirects > 0);
    CHECK(b.backend->masters().size() == 3);  // no second connection to the same node
  }
  config_set_all(cluster, "cluster-preferred-endpoint-type", "ip");
  config_set_all(cluster, "cluster-announce-hostname", "");
}

TEST_CASE("a master with no slots that stops answering holds up no write", "[redis][cluster]") {
  // The cluster fails a node only after cluster-node-timeout: until then it lists it as up, and
  // the cache keeps it. No key is its: writes to the others must not wait for it.
  test::RedisCluster cluster({.masters = 3, .node_timeout = 30s});
  const std::string prefix = unique_prefix("idle");
  tiercache::Options options;
  options.writer.mode = tiercache::WriteMode::sync;
  ClusterCache a = open_cluster_cache(cluster, prefix, options);
  const std::size_t fresh = cluster.add_master();
  test::wait_until(
      5s, [&] { return a.backend->masters().size() == 4; }, "the new master is connected");
  cluster.node(fresh).pause();
  test::wait_until(
      5s, [&] { return !a.backend->health().available; }, "the paused master is seen down");
  std::vector<std::string> failures;
  for (int i = 0; i < 10; ++i) {
    const std::string key = "k" + std::to_string(i);
    auto r = a.cache.set(test::ctx_with_timeout(3s), key, "v");
    if (!r) failures.push_back(key + ": " + r.error().detail);
  }
  cluster.node(fresh).resume();
  for (const std::string& f : failures) UNSCOPED_INFO(f);
  CHECK(failures.empty());
}
