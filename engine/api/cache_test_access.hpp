// engine/api/cache_test_access.hpp — what tests and fuzz targets may see of a Cache's insides.
#pragma once

#include <memory>

#include "tiercache/backend.hpp"
#include "tiercache/cache.hpp"

namespace tiercache {

struct CacheTestAccess {
  // Every shard: ring positions, recounted bytes and entries, ring entry == cell entry, bounds.
  static bool check_invariants(const Cache& cache);
  // The longest probe any shard's index makes for a key it holds (EntryIndex::longest_probe).
  static std::size_t longest_probe(const Cache& cache);
  // The key's hash in `cache` (its seed is the cache's own).
  static std::uint64_t hash_of(const Cache& cache, std::string_view key);
  // Callers asleep waiting for room in the write queue (QueueFullPolicy::wait).
  static std::size_t room_waiters(const Cache& cache);
  // Flushes (a caller's, or a read's wait for its cache's own writes to a key) that the writer
  // has taken and that wait for the writes queued before them.
  static std::size_t flushes_waiting(const Cache& cache);
  // Cache::open with `l2` as L2 instead of the backend `options` names: for tests that script
  // L2's answers and events to force an exact interleaving.
  static Result<Cache> open_with(const Options& options, std::unique_ptr<Backend> l2);
};

}  // namespace tiercache
