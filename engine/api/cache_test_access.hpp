// engine/api/cache_test_access.hpp — what tests and fuzz targets may see of a Cache's insides.
#pragma once

#include "tiercache/cache.hpp"

namespace tiercache {

struct CacheTestAccess {
  // Every shard: ring positions, recounted bytes and entries, ring entry == cell entry, bounds.
  static bool check_invariants(const Cache& cache);
};

}  // namespace tiercache
