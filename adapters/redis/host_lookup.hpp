// adapters/redis/host_lookup.hpp — a host name resolved off the I/O thread.
//
// hiredis resolves inside redisAsyncConnect with a blocking getaddrinfo(3): a slow resolver
// would freeze the one I/O thread, and with it every deadline, reply and health check of both
// connections. A lookup runs on a short-lived thread of its own instead, and writes to a wake
// descriptor when it is done; the connection then connects to the numeric address. A lookup
// owns everything it touches (its result, a duplicate of the wake descriptor), so a connection
// may go away while one runs.
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "tiercache/error.hpp"

namespace tiercache::redis {

class HostLookup {
 public:
  // Whether `host` needs no lookup: an IPv4 or IPv6 literal.
  static bool is_numeric(const std::string& host);

  // Starts resolving `host` for `port`; writes 1 to `wake_fd` (which the lookup takes over and
  // closes) when done. Never throws: a thread that cannot start is a failed lookup.
  static std::shared_ptr<HostLookup> start(std::string host, int port, int wake_fd);

  bool is_done() const;
  // Valid once is_done(): the first address as a numeric string, or backend_unavailable naming
  // the host and getaddrinfo's error.
  Result<std::string> result() const;

 private:
  void finish(Result<std::string> r);

  mutable std::mutex mu_;
  bool done_ = false;           // guarded by mu_
  Result<std::string> result_;  // guarded by mu_
};

}  // namespace tiercache::redis
