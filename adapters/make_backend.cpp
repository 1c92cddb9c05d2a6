// adapters/make_backend.cpp — the one place that maps Options to a built-in Backend, so that
// Cache::open names no adapter.
#include <chrono>

#include "adapters/redis/make_redis_backend.hpp"
#include "tiercache/backend.hpp"
#include "tiercache/options.hpp"

namespace tiercache {

// A write the cluster backend parks (a slot mid-migration, a master failing over) is sent again
// for up to ~1.3 s, longer if topology refreshes wait on unreachable nodes. The writer must not
// give up on its batch and send the key's newer writes before that: the parked one would land
// after them.
constexpr std::chrono::milliseconds kClusterMinBatchTimeout{10'000};

Result<std::unique_ptr<Backend>> make_backend(const Options& options) {
  if (options.redis.read_from_replicas && options.redis.cluster_nodes.empty())
    return fail(errc::invalid_argument,
                "Options.redis.read_from_replicas is set without redis.cluster_nodes; only a Redis "
                "Cluster has replicas to read from");
  // Tracked invalidation tells a cache of the keys it read on that master; a read a replica
  // answers is tracked nowhere, so no change to that key would ever reach L1.
  if (options.redis.read_from_replicas && options.redis.invalidation == InvalidationMode::tracked)
    return fail(errc::invalid_argument,
                "Options.redis.read_from_replicas is set with redis.invalidation tracked; a read a "
                "replica answers is tracked by no master, so its key's changes would never be "
                "heard: use bcast or off");
  if (!options.redis.cluster_nodes.empty()) {
    if (options.writer.batch_timeout < kClusterMinBatchTimeout)
      return fail(errc::invalid_argument, "Options.writer.batch_timeout is ",
                  options.writer.batch_timeout.count(),
                  "ms; with redis.cluster_nodes it must be at least ",
                  kClusterMinBatchTimeout.count(),
                  "ms, so a write parked while a slot moves or a master fails over is answered "
                  "before the writer gives up on it");
    return redis::make_cluster_backend(options.redis, options.l1.max_value_bytes);
  }
  if (options.redis.is_configured())
    return redis::make_redis_backend(options.redis, options.l1.max_value_bytes);
  return nullptr;
}

}  // namespace tiercache
