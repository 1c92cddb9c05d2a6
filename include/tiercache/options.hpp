// tiercache/options.hpp — everything Cache::open() takes, as one aggregate.
//
// Name every choice with designated initializers; open() validates the whole struct before it
// builds anything and answers errc::invalid_argument naming the field, its value and the rule.
// Each field's unit is in its type or its name; docs/configuration.md has one row per field.
#pragma once

#include <chrono>
#include <cstddef>
#include <string>

namespace tiercache {

struct L1Options {
  // Bytes the in-process tier may hold: key + value + per-entry overhead (see
  // CacheStats::overhead_bytes_per_entry), summed over every shard. Each shard gets an equal part.
  std::size_t max_bytes = std::size_t{64} << 20;
  // A second bound on the number of entries; 0 means "bytes only".
  std::size_t max_entries = 0;
  // Longest key accepted; longer keys get invalid_argument. At most 65535.
  std::size_t max_key_bytes = 512;
  // Longest value accepted; must fit in one shard's part of max_bytes.
  std::size_t max_value_bytes = std::size_t{1} << 20;
  // Independent parts the tier is split into (each with its own CLOCK hand and writer lock).
  // 0 picks one per 1 MiB of max_bytes, between 1 and 64; else a power of two, at most 1024.
  std::size_t shards = 0;
  // Expected key + value bytes of a typical entry. Only sizes each shard's hash array
  // (max_bytes / (this + overhead) cells in all); a poor guess costs memory or probe depth, never
  // correctness.
  std::size_t expected_entry_bytes = 128;
};

struct Options {
  L1Options l1;
  // TTL of a set() without its own, and of a value get_or_load() fills. 0: entries do not expire.
  std::chrono::milliseconds default_ttl{0};
};

// The effective options as one line of "field=value" pairs, for a log at startup.
std::string to_string(const Options& options);

}  // namespace tiercache
