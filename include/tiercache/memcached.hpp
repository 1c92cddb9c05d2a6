// tiercache/memcached.hpp — memcached (one server or a pool) as L2, through libmemcached.
//
//   auto l2 = tiercache::make_memcached_backend({.servers = {"10.0.0.1:11211", "10.0.0.2"}});
//   if (!l2) return report(l2.error());  // "MemcachedOptions.servers[1] is ..."
//   auto cache = tiercache::Cache::open({.backend = *l2, .default_ttl = 30s});
//
// What it keeps and what it cannot (docs/backends.md says more):
// - Several servers form one ketama ring (libmemcached's consistent hashing with its default
//   ketama hash), as other libmemcached users run a pool; a failed server stays on the ring, so
//   its keys fail (backend_unavailable) rather than move to another server.
// - memcached cannot tell a key's TTL left: values read answer TtlLeft::not_known(), so L1 keeps
//   them for Options.default_ttl (set one). TTLs are whole seconds, rounded up.
// - No invalidation: changes_heard() is ChangesHeard::none; L1's TTL bounds staleness.
// - Keys memcached cannot take are stored under a hash (see key_prefix below).
// - An error line in place of a read's reply fails the keys it left unanswered (SERVER_ERROR or
//   CLIENT_ERROR text: backend_error; a line that is no reply: backend_unavailable). Before the
//   first VALUE, libmemcached 1.1 cannot tell "SERVER_ERROR out of memory", "object too large",
//   ERROR or another command's reply from END: those read as not_found.
// - The servers must be trusted (ones you run, on a trusted network): libmemcached's reply
//   parser does not survive a hostile one (a VALUE key over 250 bytes overflows a stack buffer,
//   a length near 2^64 writes out of bounds, any declared length is allocated).
// A program that uses this links -lmemcached.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "tiercache/backend.hpp"
#include "tiercache/error.hpp"

namespace tiercache {

struct MemcachedOptions {
  // Each "host:port", "host" (port 11211), "[ipv6]:port", or a unix socket path starting with
  // '/'. At least one; no duplicates. The order does not matter (ketama).
  std::vector<std::string> servers;
  // Prepended to every key in memcached, so several caches can share a pool. At most
  // kMaxMemcachedKeyPrefixBytes bytes, none of them a space, a control byte or 0x7f. A key that
  // memcached cannot take after it (over 250 bytes, or with such a byte), or that starts with
  // '#', is stored as key_prefix + '#' + 32 hex digits of its XXH3-128 hash: other clients
  // cannot read such keys by name.
  std::string key_prefix;
  // Longest a connect to one server may take; then it fails and the server backs off.
  std::chrono::milliseconds connect_timeout{500};
  // Longest one command may wait for a server's answer (each poll for I/O). Then the command
  // fails with timeout (a write is in doubt and sent again), the connection is closed and the
  // server backs off.
  std::chrono::milliseconds command_timeout{200};
  // Wait before the first probe of a failed server; doubles per failed probe up to _max.
  std::chrono::milliseconds reconnect_backoff_min{10};
  std::chrono::milliseconds reconnect_backoff_max{1000};
  // Longest value read or written, in bytes. A longer value found in memcached is answered as
  // errc::serialization for that key (it is transferred: libmemcached cannot stop short; only
  // an honest server's item size limit, memcached -I, bounds it); a longer write fails with
  // errc::backend_error, like a value the server refuses. Keep it at Options.l1.max_value_bytes.
  std::size_t max_value_bytes = std::size_t{1} << 20;
};

// The longest MemcachedOptions.key_prefix: the hashed form of a key must still fit memcached's
// 250 bytes (prefix + '#' + 32 hex digits).
inline constexpr std::size_t kMaxMemcachedKeyPrefixBytes = 250 - 33;

// Checks `options` (invalid_argument naming the field), then starts the backend's two threads
// (reads, writes), each with its own connections. Returns at once: connections are made on
// first use, and a server that cannot be reached is found then.
[[nodiscard]] Result<std::shared_ptr<Backend>> make_memcached_backend(
    const MemcachedOptions& options);

}  // namespace tiercache
