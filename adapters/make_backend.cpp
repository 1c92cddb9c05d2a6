// adapters/make_backend.cpp — the one place that maps Options to a built-in Backend, so that
// Cache::open names no adapter.
#include "adapters/redis/make_redis_backend.hpp"
#include "tiercache/backend.hpp"
#include "tiercache/options.hpp"

namespace tiercache {

Result<std::unique_ptr<Backend>> make_backend(const Options& options) {
  if (!options.redis.cluster_nodes.empty())
    return redis::make_cluster_backend(options.redis, options.l1.max_value_bytes);
  if (options.redis.is_configured())
    return redis::make_redis_backend(options.redis, options.l1.max_value_bytes);
  return nullptr;
}

}  // namespace tiercache
