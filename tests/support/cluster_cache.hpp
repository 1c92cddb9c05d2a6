// tests/support/cluster_cache.hpp — a cache on Redis Cluster whose ClusterBackend the test keeps,
// to read its masters.
#pragma once

#include <memory>

#include "adapters/redis/cluster_backend.hpp"
#include "tests/support/test_support.hpp"
#include "tiercache/cache.hpp"

namespace test {

struct ClusterCache {
  std::shared_ptr<tiercache::redis::ClusterBackend> backend;
  tiercache::Cache cache;
};

// The backend is started from `r` (cluster_nodes set) and handed to the cache as
// options.backend.
inline ClusterCache open_cluster_cache(const tiercache::RedisOptions& r,
                                       tiercache::Options options = {}) {
  auto seeds = tiercache::redis::make_cluster_endpoints(r);
  REQUIRE(seeds);
  auto backend = tiercache::redis::ClusterBackend::start(
      *seeds, r.key_prefix, options.l1.max_value_bytes, r.invalidation, r.read_from_replicas);
  if (!backend) FAIL("ClusterBackend::start: " << backend.error().detail);
  std::shared_ptr<tiercache::redis::ClusterBackend> shared(std::move(*backend));
  options.backend = shared;
  return {shared, open_cache(options)};
}

}  // namespace test
