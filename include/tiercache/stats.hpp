// tiercache/stats.hpp — counters a Cache keeps, read with Cache::stats().
//
// Counters are per-thread stripes summed on read: a snapshot is not atomic across fields, and a
// counter may lag a concurrent operation by that operation.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "tiercache/error.hpp"

namespace tiercache {

// Failures counted by their error code: [errc::timeout] and so on; total() sums them.
struct ErrorCounts {
  // Index 0 ("no error") stays 0; one slot per errc.
  std::array<std::uint64_t, static_cast<std::size_t>(errc::buffer_too_small) + 1> by_code{};

  // The slot `code` counts in: its errc, or backend_error for a code of another category.
  static std::size_t slot(const std::error_code& code) noexcept {
    const auto value = static_cast<std::size_t>(code.value());
    return code.category() == error_category() && value > 0 &&
                   value < std::tuple_size_v<decltype(by_code)>
               ? value
               : static_cast<std::size_t>(errc::backend_error);
  }
  std::uint64_t operator[](errc code) const noexcept {
    return by_code[static_cast<std::size_t>(code)];
  }
  std::uint64_t total() const noexcept {
    std::uint64_t sum = 0;
    for (const std::uint64_t n : by_code) sum += n;
    return sum;
  }
};

struct CacheStats {
  std::uint64_t l1_hits = 0;    // keys of every read call (get, get_many, ...) that L1 answered
  std::uint64_t l1_misses = 0;  // ... not answered from L1 (absent, expired or loading)
  std::uint64_t sets = 0;       // values set (set, set_many) and taken by L1
  std::uint64_t purges = 0;     // purges taken by L1
  std::uint64_t loads = 0;      // keys given to a loader (one per key of a BatchLoader call)
  std::uint64_t negative_loads = 0;  // ... that answered "no such key" (Loaded::absent)
  std::uint64_t load_failures = 0;   // ... that returned an error (other than not_found, which
                                     // is an answer) or threw
  // Early refreshes run (early_refresh_beta, refresh_ahead, stale_while_revalidate), and those
  // whose loader failed (the value stayed until it expired). Counted in loads too.
  std::uint64_t refreshes = 0;
  std::uint64_t refresh_failures = 0;
  // Lookups answered not_found by a cached "no such key": in L1 (Options.negative_ttl; in
  // l1_hits too, but for the few found only on a second look, under the shard lock) or a marker
  // in L2 (negative_in_l2; in l2_hits too; once per L2 read, not per caller waiting on it).
  std::uint64_t negative_hits = 0;
  // TypedCache: values whose bytes the codec could not decode; each answered serialization and
  // dropped from L1.
  std::uint64_t decode_failures = 0;
  std::uint64_t coalesced = 0;    // L1 misses that waited on another caller's load or L2 read
  std::uint64_t l2_hits = 0;      // L1 misses answered by L2
  std::uint64_t l2_misses = 0;    // L1 misses L2 did not have either
  ErrorCounts l2_errors;          // L2 reads that failed (down, timeout, error reply), per key
  std::uint64_t evictions = 0;    // entries removed to make room
  std::uint64_t expirations = 0;  // expired entries reclaimed by the CLOCK sweep
  std::size_t entries = 0;        // entries in L1 now (values and cached "no such key"s, not
                                  // loads in progress)
  std::size_t bytes = 0;          // bytes charged for them: key + value + overhead each
  std::size_t max_bytes = 0;      // Options.l1.max_bytes
  // What one entry costs beyond its key and value: header, allocator rounding, its share of the
  // hash array and of the CLOCK ring. Charged against max_bytes for every entry.
  std::size_t overhead_bytes_per_entry = 0;
  // Bytes of replaced or removed L1 entries not yet freed (a reader may still hold them), for
  // every Cache in the process: they share one reclamation domain. Outside max_bytes, bounded
  // per writing thread (docs/architecture.md, invariant 3).
  std::size_t retired_bytes = 0;
  // The writer (all 0 without an L2).
  std::uint64_t write_batches = 0;     // pipelines sent to L2
  std::uint64_t writes_sent = 0;       // writes in them, after coalescing
  std::uint64_t writes_coalesced = 0;  // writes made redundant by a later one to the same key
  ErrorCounts write_errors;            // writes L2 refused, or given up (backend_error)
  std::uint64_t writes_retried = 0;    // writes sent again after L2 was lost
  std::uint64_t writes_refused = 0;    // set/purge refused with overloaded: queue full
  std::uint64_t writes_dropped = 0;    // queued writes dropped for room (drop_oldest)
  std::size_t write_queue_depth = 0;   // writes not yet acknowledged: queued, in flight, retried
  std::size_t write_queue_bytes = 0;   // their key + value bytes (Options.writer.queue_max_bytes)
  // Coherence with L2: changes others make there, heard through Redis invalidation (all 0, and
  // l2_coherent true, without it).
  std::uint64_t invalidations = 0;     // invalidation messages heard (a FLUSHALL counts one)
  std::uint64_t invalidated_keys = 0;  // L1 values those messages dropped
  std::uint64_t fills_discarded = 0;   // values read while their key changed: answered, not cached
  std::uint64_t flushes_heard = 0;     // FLUSHALL / FLUSHDB heard: every L1 value dropped
  std::uint64_t epoch_bumps = 0;       // change stream lost or regained, or L2 flushed
  std::uint64_t stale_refused = 0;     // misses that found an L1 value of an older epoch
  std::uint64_t stale_served = 0;      // ... answered, L2 being down (stale_if_l2_down; metrics.md)
  bool l2_coherent = true;             // changes in L2 are heard now: L1 values are trusted
  // L2's health (available = true, the rest empty, without an L2).
  bool l2_available = true;         // false while L2 cannot be reached: misses fail fast
  std::string l2_last_error;        // why it last failed to connect or answer, "" if it never did
  std::uint64_t l2_reconnects = 0;  // connections to L2 re-established after a loss
  std::uint64_t invalidation_reconnects = 0;  // ... of them, the one changes are heard on
  // Values L2 held that the backend could not read back (file store: a truncated or foreign
  // file), each answered as a miss.
  std::uint64_t l2_unreadable_values = 0;
  // Redis Cluster (all 0 otherwise; BackendHealth says more). A steady rate of redirects after a
  // resharding has ended means the slot map is not being refreshed.
  std::uint64_t l2_moved_redirects = 0;     // MOVED followed: sent to the slot's new master
  std::uint64_t l2_ask_redirects = 0;       // ASK followed: a key mid-migration
  std::uint64_t l2_cluster_retries = 0;     // TRYAGAIN / CLUSTERDOWN: sent again after a backoff
  std::uint64_t l2_topology_refreshes = 0;  // slot maps fetched from the cluster
};

}  // namespace tiercache
