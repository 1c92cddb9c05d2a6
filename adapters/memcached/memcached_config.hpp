// adapters/memcached/memcached_config.hpp — MemcachedOptions checked whole and turned into what
// the lanes need: parsed server addresses and the timeouts in libmemcached's units.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "tiercache/error.hpp"
#include "tiercache/memcached.hpp"

namespace tiercache::memcached {

// The port of a server given without one.
inline constexpr std::uint16_t kDefaultPort = 11211;
// Longest timeout taken: libmemcached holds send/receive timeouts as int32 microseconds.
inline constexpr std::chrono::milliseconds kMaxTimeout{std::chrono::minutes(10)};

struct ServerAddress {
  std::string host;  // a host name or address, or the socket's path
  std::uint16_t port = kDefaultPort;
  bool unix_socket = false;

  // "host:port" or the path, for error details.
  std::string name() const;
};

struct Config {
  std::vector<ServerAddress> servers;
  std::string key_prefix;
  std::chrono::milliseconds connect_timeout;
  std::chrono::milliseconds command_timeout;
  std::chrono::milliseconds backoff_min;
  std::chrono::milliseconds backoff_max;
  std::size_t max_value_bytes;
};

// invalid_argument naming the first bad field, its value and the rule.
[[nodiscard]] Result<Config> check_options(const MemcachedOptions& options);

}  // namespace tiercache::memcached
