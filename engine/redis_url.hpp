// engine/redis_url.hpp — redis://[[user]:password@]host[:port][/db], parsed for Options.redis.
#pragma once

#include <string>
#include <string_view>

#include "tiercache/error.hpp"

namespace tiercache::engine {

struct RedisUrl {
  std::string host;
  int port = 6379;
  std::string user;
  std::string password;
  int db = 0;
};

// invalid_argument quoting the URL (password masked) and what is wrong with it.
Result<RedisUrl> parse_redis_url(std::string_view url);

}  // namespace tiercache::engine
