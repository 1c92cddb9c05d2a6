// adapters/redis/endpoint.hpp — where and how to reach one Redis server, checked and complete.
//
// Built from Options.redis by make_endpoint(), which is where every Redis option is validated:
// a url is parsed here, and a refusal names the field, its value and the rule.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "tiercache/error.hpp"
#include "tiercache/options.hpp"

namespace tiercache::redis {

struct Endpoint {
  std::string host;  // without IPv6 brackets
  int port = 6379;
  std::string unix_socket;
  std::string user;
  std::string password;
  int db = 0;
  std::chrono::milliseconds connect_timeout{500};
  std::chrono::milliseconds command_timeout{200};
  std::chrono::milliseconds backoff_min{10};
  std::chrono::milliseconds backoff_max{1000};
  std::chrono::milliseconds health_check_interval{1000};
  std::chrono::milliseconds invalidation_heartbeat{100};
  // A cluster replica read from: the read connection says READONLY, so the replica answers
  // reads of its master's slots instead of redirecting them.
  bool readonly = false;

  // "host:port" or the socket path, for error details.
  std::string address() const;
};

// invalid_argument naming the first bad field of `options`.
Result<Endpoint> make_endpoint(const RedisOptions& options);
// One endpoint per seed of options.cluster_nodes (which must not be empty), every other field
// as for make_endpoint; invalid_argument naming the seed that is wrong and why.
Result<std::vector<Endpoint>> make_cluster_endpoints(const RedisOptions& options);

}  // namespace tiercache::redis
