// adapters/redis/cluster_redirect.hpp — what a Redis Cluster error reply asks the client to do.
//
//   MOVED <slot> <host>:<port>   the slot lives there now: update the map, send there
//   ASK <slot> <host>:<port>     this key is being migrated there: ASKING, then send there once
//   TRYAGAIN ...                 a multi-key command met a slot mid-migration: retry later
//   CLUSTERDOWN ...              the cluster cannot serve the slot now: retry later
// Anything else is not a redirect (Kind::none): the error is the command's own.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "adapters/redis/node_address.hpp"

namespace tiercache::redis {

struct Redirect {
  enum class Kind : std::uint8_t { none, moved, ask, try_again, cluster_down };
  Kind kind = Kind::none;
  std::uint16_t slot = 0;  // moved, ask
  NodeAddress target;      // moved, ask; host "" means the host the command was sent to
};

// Classifies an error reply's text. A MOVED or ASK that does not parse (a slot out of range, no
// port) is Kind::none: it is answered as the error it is, never followed. The target's host is
// made canonical (node_address.hpp).
Redirect parse_redirect(std::string_view error);

}  // namespace tiercache::redis
