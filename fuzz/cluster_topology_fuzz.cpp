// fuzz/cluster_topology_fuzz.cpp — whatever a cluster node answers, the topology and redirect
// parsers neither crash nor allocate past a bound, and what they accept is a slot map and a
// redirect the cluster backend can follow: every slot in 0..16383, ranges covering at most 16384
// slots in all, a node address with a host and a port in 1..65535 that a MOVED naming it gives
// back unchanged (addresses are in one spelling, node_address.hpp: canonical_host is idempotent).
// A redirect's host is canonical or empty (an unknown endpoint).
//
// Input: all of it is fed to a hiredis reader with small bounds (as RedisConnection and the
// topology connection bound theirs), in chunks whose sizes come from the input; every complete
// reply goes to parse_cluster_shards and parse_cluster_slots, and an error reply's text to
// parse_redirect. The whole input is also an error text of its own. The seeds
// (fuzz/corpus/cluster_topology_fuzz/) are replies of a real Redis 7.0 cluster: CLUSTER SHARDS
// and SLOTS of 3 masters with a replica each, with a failed master, after a failover and with
// hostnames announced; MOVED and ASK. The other errors (TRYAGAIN, CLUSTERDOWN, an IPv6 MOVED,
// no SHARDS, no cluster mode) are worded as Redis words them.
#include <hiredis/hiredis.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "adapters/redis/cluster_redirect.hpp"
#include "adapters/redis/cluster_topology.hpp"
#include "adapters/redis/hash_slot.hpp"
#include "adapters/redis/node_address.hpp"
#include "adapters/redis/reply_bounds.hpp"
#include "fuzz/chunked_replies.hpp"

namespace {

using tiercache::errc;
using tiercache::redis::canonical_host;
using tiercache::redis::ClusterTopology;
using tiercache::redis::kSlotCount;
using tiercache::redis::parse_redirect;
using tiercache::redis::Redirect;

// Small bounds, so that fuzzed lengths and counts reach them; a real 3-master reply fits.
constexpr tiercache::redis::ReplyBounds kBounds{.max_string_bytes = 4096,
                                                .max_array_elements = 256};

// Longest text inet_ntop writes for an IPv6 address: canonical_host may lengthen one
// ("::ffff:102:304" is written "::ffff:1.2.3.4").
constexpr std::size_t kMaxIpText = 46;

// A redirect MOVED or ASK names a node whose address the backend can look up as is.
bool is_lookup_ready(const std::string& host, int port, std::size_t error_size) {
  return port >= 1 && port <= 65535 && host.size() <= std::max(error_size, kMaxIpText) &&
         canonical_host(host) == host;
}

// The backend looks a MOVED naming `address` up under `address` itself.
void check_round_trip(const std::string& address, std::uint16_t slot) {
  const Redirect moved = parse_redirect("MOVED " + std::to_string(slot) + " " + address);
  if (moved.kind != Redirect::Kind::moved || moved.slot != slot ||
      moved.target.to_string() != address)
    std::abort();
}

void check_redirect(std::string_view error) {
  const Redirect r = parse_redirect(error);
  switch (r.kind) {
    case Redirect::Kind::moved:
    case Redirect::Kind::ask: {
      if (!error.starts_with(r.kind == Redirect::Kind::moved ? "MOVED " : "ASK ")) std::abort();
      if (r.slot >= kSlotCount) std::abort();
      if (!is_lookup_ready(r.target.host, r.target.port, error.size())) std::abort();
      break;
    }
    case Redirect::Kind::try_again:
      if (!error.starts_with("TRYAGAIN")) std::abort();
      break;
    case Redirect::Kind::cluster_down:
      if (!error.starts_with("CLUSTERDOWN")) std::abort();
      break;
    case Redirect::Kind::none:
      if (!r.target.host.empty() || r.target.port != 0) std::abort();
      break;
  }
}

void check_topology(const tiercache::Result<ClusterTopology>& t) {
  if (!t) {
    if (!(t.error() == errc::backend_error) || t.error().detail.empty()) std::abort();
    return;
  }
  std::size_t covered = 0;
  for (const auto& range : t->ranges) {
    if (range.first > range.last || range.last >= kSlotCount) std::abort();
    if (range.host.empty() || range.port < 1 || range.port > 65535) std::abort();
    covered += std::size_t{range.last} - range.first + 1;
    // The backend matches a redirect to a node by address: a MOVED naming this range's master
    // must name the same address the topology gives it.
    check_round_trip(range.address(), range.first);
  }
  // Each slot has one master: the peer cannot choose the map's size past the slot count.
  if (covered > kSlotCount) std::abort();
  if (t->masters.size() > kSlotCount) std::abort();
  for (const auto& master : t->masters) {
    if (master.host.empty() || master.port < 1 || master.port > 65535) std::abort();
    check_round_trip(master.address(), 0);
    for (const std::string& other : master.other_hosts) {
      if (other.empty() || other == master.host) std::abort();
      check_round_trip(tiercache::redis::NodeAddress{other, master.port}.to_string(), 0);
    }
  }
}

void check_reply(const redisReply& reply) {
  check_topology(tiercache::redis::parse_cluster_shards(reply));
  check_topology(tiercache::redis::parse_cluster_slots(reply));
  if (reply.type == REDIS_REPLY_ERROR) check_redirect(std::string_view(reply.str, reply.len));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  fuzz::for_each_reply(bytes, kBounds, [](const redisReply& r) { check_reply(r); });
  check_redirect(bytes);
  return 0;
}
