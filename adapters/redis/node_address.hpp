// adapters/redis/node_address.hpp — a cluster node's address in one spelling, so that a MOVED or
// ASK target and the topology's entry for the same node compare equal.
//
// Redis names a node "host:port" where host is its preferred endpoint
// (cluster-preferred-endpoint-type): an IP (an IPv6 one bare, "::1:7000", or in brackets), a
// hostname, or empty (":7000", an unknown endpoint: the cluster specification says to use the
// host the redirecting request went to, with this port).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tiercache::redis {

struct NodeAddress {
  std::string host;  // canonical_host() spelling; "" only for a redirect's unknown endpoint
  int port = 0;      // 1..65535

  // "host:port", "[v6]:port" for an IPv6 host.
  std::string to_string() const;
  bool operator==(const NodeAddress&) const = default;
};

// An IP as inet_ntop writes it (IPv6 lowercase and shortest, brackets dropped), anything else
// (a hostname) lowercased: DNS names compare without case. canonical_host of its own result
// gives it back.
std::string canonical_host(std::string_view host);

// "host:port", "[v6]:port", bare "v6:port" (the port is after the last colon) or ":port"; the
// host made canonical (a host no node has, such as "[x", simply matches none). nullopt if the
// port is missing, not a number or not in 1..65535.
std::optional<NodeAddress> parse_node_address(std::string_view text);

// Whether `address` has a host and is given back unchanged by to_string() then
// parse_node_address(): what a topology requires of a master's address, so that a MOVED naming
// it finds it. False for a host with a colon that is not an IPv6 address.
bool is_well_formed(const NodeAddress& address);

}  // namespace tiercache::redis
