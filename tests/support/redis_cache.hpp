// tests/support/redis_cache.hpp — a Cache with Redis as L2, on a test::RedisServer, and a wait for
// what it hears from Redis.
#pragma once

#include <chrono>
#include <cstdint>

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

// Waits (within `limit`) until `cache` (a Cache or a TypedCache) has heard an invalidation
// message more than the `after` it had heard before the write. A write heard while a read of its
// key is on its way leaves the read's value out of L1 (the cache cannot tell the write is older
// than the read), so a test that counts reads waits for the write to be heard first.
template <class C>
void wait_until_heard(const C& cache, const char* why,
                      std::chrono::milliseconds limit = std::chrono::seconds(2),
                      std::uint64_t after = 0) {
  wait_until(
      limit, [&] { return cache.stats().invalidations > after; }, why);
}

}  // namespace test
