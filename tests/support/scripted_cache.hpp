// tests/support/scripted_cache.hpp — a Cache on a ScriptedBackend (which the cache owns), for
// tests that script L2's answers to force an exact interleaving.
#pragma once

#include <memory>
#include <utility>

#include "engine/api/cache_test_access.hpp"
#include "tests/support/scripted_backend.hpp"
#include "tests/support/test_support.hpp"

namespace test {

struct ScriptedCache {
  ScriptedBackend* l2;
  tiercache::Cache cache;
};

// `heard`: which changes the backend says it reports (ScriptedBackend's constructor).
inline ScriptedCache open_scripted(
    tiercache::Options options = {},
    tiercache::ChangesHeard heard = tiercache::ChangesHeard::every_key) {
  auto backend = std::make_unique<ScriptedBackend>(heard);
  ScriptedBackend* l2 = backend.get();
  auto cache = tiercache::CacheTestAccess::open_with(options, std::move(backend));
  if (!cache) FAIL("open: " << cache.error().detail);
  return {l2, std::move(*cache)};
}

}  // namespace test
