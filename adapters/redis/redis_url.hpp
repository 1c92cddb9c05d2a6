// adapters/redis/redis_url.hpp — the URL forms Options.redis.url takes:
//   redis://[[user]:password@]host[:port][/db]     host may be an IPv6 literal in brackets
//   unix://[[user]:password@]/path/to/redis.sock[?db=N]
#pragma once

#include <string>
#include <string_view>

#include "tiercache/error.hpp"

namespace tiercache::redis {

struct RedisUrl {
  std::string host;  // without brackets; empty for unix://
  int port = 6379;
  std::string unix_socket;  // unix:// only
  std::string user;
  std::string password;
  int db = 0;
};

// invalid_argument quoting the URL (password masked) and what is wrong with it.
Result<RedisUrl> parse_redis_url(std::string_view url);

}  // namespace tiercache::redis
