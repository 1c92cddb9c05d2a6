// adapters/redis/make_redis_backend.hpp — the Redis backend's factory, free of hiredis, so
// adapters/make_backend.cpp can build one without seeing the adapter's insides.
#pragma once

#include <cstddef>
#include <memory>

#include "tiercache/backend.hpp"
#include "tiercache/options.hpp"

namespace tiercache::redis {

// Checks `options` (invalid_argument naming the field), then starts connecting in the
// background; the backend is unavailable until the first connect succeeds. Waits up to
// options.connect_timeout for it, so a healthy server is ready on return; invalid_argument if
// the server refuses the handshake for good (handshake_refusal.hpp) meanwhile. A value longer than
// max_value_bytes is refused (serialization) without being transferred.
Result<std::unique_ptr<Backend>> make_redis_backend(const RedisOptions& options,
                                                    std::size_t max_value_bytes);

// The same for Redis Cluster (options.cluster_nodes set): cluster_backend.hpp.
Result<std::unique_ptr<Backend>> make_cluster_backend(const RedisOptions& options,
                                                      std::size_t max_value_bytes);

}  // namespace tiercache::redis
