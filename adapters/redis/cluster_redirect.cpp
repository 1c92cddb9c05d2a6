#include "adapters/redis/cluster_redirect.hpp"

#include <charconv>

#include "adapters/redis/hash_slot.hpp"

namespace tiercache::redis {
namespace {

// "<slot> <host>:<port>", the tail of MOVED and ASK.
bool parse_target(std::string_view rest, Redirect& out) {
  const std::size_t space = rest.find(' ');
  if (space == std::string_view::npos) return false;
  unsigned slot = 0;
  const auto [end, ec] = std::from_chars(rest.data(), rest.data() + space, slot);
  if (ec != std::errc{} || end != rest.data() + space || slot >= kSlotCount) return false;
  std::optional<NodeAddress> target = parse_node_address(rest.substr(space + 1));
  if (!target) return false;
  out.slot = static_cast<std::uint16_t>(slot);
  out.target = std::move(*target);
  return true;
}

}  // namespace

Redirect parse_redirect(std::string_view error) {
  Redirect r;
  if (error.starts_with("MOVED ")) {
    if (parse_target(error.substr(6), r)) r.kind = Redirect::Kind::moved;
  } else if (error.starts_with("ASK ")) {
    if (parse_target(error.substr(4), r)) r.kind = Redirect::Kind::ask;
  } else if (error.starts_with("TRYAGAIN")) {
    r.kind = Redirect::Kind::try_again;
  } else if (error.starts_with("CLUSTERDOWN")) {
    r.kind = Redirect::Kind::cluster_down;
  }
  return r;
}

}  // namespace tiercache::redis
