#include "adapters/redis/node_address.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <charconv>

namespace tiercache::redis {

std::string NodeAddress::to_string() const {
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

std::string canonical_host(std::string_view host) {
  unsigned char bytes[sizeof(in6_addr)];
  char out[INET6_ADDRSTRLEN];
  // Brackets go only around an IPv6 address, so that a spelling is canonical once: "[[a]]" is
  // a (strange) name of its own, not "[a]" and then "a".
  std::string inside(host);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']')
    inside = std::string(host.substr(1, host.size() - 2));
  const std::string text(host);
  // inet_pton reads up to a NUL: "::1\0x" is a name, not ::1.
  const bool has_nul = text.find('\0') != std::string::npos;
  if (!has_nul && inet_pton(AF_INET6, inside.c_str(), bytes) == 1 &&
      inet_ntop(AF_INET6, bytes, out, sizeof out) != nullptr)
    return out;
  if (!has_nul && inet_pton(AF_INET, text.c_str(), bytes) == 1 &&
      inet_ntop(AF_INET, bytes, out, sizeof out) != nullptr)
    return out;
  std::string lower = text;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return lower;
}

bool is_well_formed(const NodeAddress& address) {
  return !address.host.empty() && parse_node_address(address.to_string()) == address;
}

std::optional<NodeAddress> parse_node_address(std::string_view text) {
  const std::size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon + 1 == text.size()) return std::nullopt;
  const std::string_view port_text = text.substr(colon + 1);
  int port = 0;
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc{} || end != port_text.data() + port_text.size() || port < 1 || port > 65535)
    return std::nullopt;
  return NodeAddress{canonical_host(text.substr(0, colon)), port};
}

}  // namespace tiercache::redis
