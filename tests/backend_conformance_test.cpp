// tests/backend_conformance_test.cpp — the conformance suite (tests/conformance/) on every
// backend that ships, each on a real store the test starts.
#include "tests/conformance/backend_conformance.hpp"
#include "examples/backend/map_backend.hpp"
#include "tests/support/memcached_server.hpp"
#include "tests/support/redis_server.hpp"
#include "tests/support/temp_dir.hpp"
#include "tiercache/file_store.hpp"
#include "tiercache/memcached.hpp"

namespace {

using tiercache::conformance::check_backend;

// A factory's backend, which the test needs: the factory's error fails it.
template <class Made>
std::shared_ptr<tiercache::Backend> made(Made backend) {
  if (!backend) FAIL("making the backend: " << backend.error().detail);
  return std::move(*backend);
}

TEST_CASE("the Redis backend conforms", "[conformance][redis]") {
  test::RedisServer redis;
  check_backend({
      .name = "redis",
      .open = [&] { return made(tiercache::make_backend({.redis = {.url = redis.url()}})); },
  });
}

TEST_CASE("the Memcached backend conforms", "[conformance][memcached]") {
  test::MemcachedServer memcached;
  check_backend({
      .name = "memcached",
      .open =
          [&] {
            return made(tiercache::make_memcached_backend({.servers = {memcached.address()}}));
          },
      .ttl_granularity = std::chrono::seconds(1),
      .tells_ttl_left = false,
  });
}

TEST_CASE("the file store conforms", "[conformance][file_store]") {
  test::TempDir dir;
  check_backend({
      .name = "file store",
      .open =
          [&] {
            return made(tiercache::make_file_store({.directory = dir.path(), .fsync = false}));
          },
  });
}

TEST_CASE("the example map backend conforms", "[conformance]") {
  auto store = std::make_shared<example::MapStore>();
  check_backend({
      .name = "map (examples/backend)",
      .open = [&] { return std::make_shared<example::MapBackend>(store); },
  });
}

}  // namespace
