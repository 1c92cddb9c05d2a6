// adapters/redis/not_serving.hpp — error replies that mean "not run: Redis cannot serve this now".
//
// Redis answers a command it will not run yet with an error and runs nothing: LOADING (loading
// its data after a restart), BUSY (a script or function ran past busy-reply-threshold), READONLY
// (a master turned replica, as in a failover), MISCONF (its snapshots fail, so it takes no
// writes), MASTERDOWN and NOREPLICAS (replication not in the state the server's config wants),
// TRYAGAIN and CLUSTERDOWN (a cluster mid-resharding or without quorum). The command is safe to
// send again later; answering it as a final error would lose a write that was only early.
#pragma once

#include <array>
#include <string_view>

namespace tiercache::redis {

// The server runs no command at all now, reads included (it refuses even PING): a connection
// to it is not ready. Not MISCONF and the like, which refuse writes (and PING) but serve reads.
inline bool serves_no_command(std::string_view error) {
  return error.starts_with("LOADING ") || error.starts_with("BUSY ");
}

// Any refusal for now: the server's, or a cluster slot's (parked and sent again by
// ClusterBackend, which follows them as it follows redirects).
inline bool is_not_serving(std::string_view error) {
  constexpr std::array<std::string_view, 8> kPrefixes = {"LOADING ",  "BUSY ",       "READONLY ",
                                                         "MISCONF ",  "MASTERDOWN ", "NOREPLICAS ",
                                                         "TRYAGAIN ", "CLUSTERDOWN "};
  for (const std::string_view prefix : kPrefixes)
    if (error.starts_with(prefix)) return true;
  return false;
}

}  // namespace tiercache::redis
