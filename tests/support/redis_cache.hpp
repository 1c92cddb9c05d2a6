// tests/support/redis_cache.hpp — a Cache with Redis as L2, on a test::RedisServer.
#pragma once

#include "tests/support/redis_server.hpp"
#include "tests/support/test_support.hpp"

namespace test {

// `options` with redis.url pointing at `redis`; short timeouts so fault tests stay quick.
inline tiercache::Cache open_cache(const RedisServer& redis, tiercache::Options options = {}) {
  options.redis.url = redis.url();
  options.redis.command_timeout = std::chrono::milliseconds(200);
  options.redis.reconnect_backoff_max = std::chrono::milliseconds(50);
  return open_cache(options);
}

}  // namespace test
