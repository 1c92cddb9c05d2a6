// tiercache/stats.hpp — counters a Cache keeps, read with Cache::stats().
//
// Counters are per-thread stripes summed on read: a snapshot is not atomic across fields, and a
// counter may lag a concurrent operation by that operation.
#pragma once

#include <cstddef>
#include <cstdint>

namespace tiercache {

struct CacheStats {
  std::uint64_t l1_hits = 0;        // get / get_into / get_or_load answered from L1
  std::uint64_t l1_misses = 0;      // ... not answered from L1 (absent, expired or loading)
  std::uint64_t loads = 0;          // loader calls started by get_or_load
  std::uint64_t load_failures = 0;  // loader calls that returned an error or threw
  std::uint64_t coalesced = 0;      // get_or_load calls that waited on another caller's load
  std::uint64_t evictions = 0;      // entries removed to make room
  std::uint64_t expirations = 0;    // expired entries reclaimed by the CLOCK sweep
  std::size_t entries = 0;          // entries in L1 now (values only, not loads in progress)
  std::size_t bytes = 0;            // bytes charged for them: key + value + overhead each
  std::size_t max_bytes = 0;        // Options.l1.max_bytes
  // What one entry costs beyond its key and value: header, allocator rounding, its share of the
  // hash array and of the CLOCK ring. Charged against max_bytes for every entry.
  std::size_t overhead_bytes_per_entry = 0;
};

}  // namespace tiercache
