// adapters/redis/make_redis_backend.hpp — the Redis backend's factory, free of hiredis, so
// engine/open.cpp can build one without seeing the adapter's insides.
#pragma once

#include <memory>

#include "tiercache/backend.hpp"
#include "tiercache/options.hpp"

namespace tiercache::redis {

// `options` must be complete: url already parsed into host, port, user, password and db.
// Connects in the background; the backend is unavailable until the first connect succeeds.
std::unique_ptr<Backend> make_redis_backend(const RedisOptions& options);

}  // namespace tiercache::redis
