// tests/support/file_store_hammer.hpp — one process's share of the multi-process file store test:
// a writer thread sets, fills and purges one key with self-describing values of many sizes while
// a reader thread reads it and checks that every value it gets is whole. Runs in the test process
// and, through child_process.hpp, in helper processes on the same directory.
//
// No Catch2 here: a helper process has no test session. Counts come back to be checked.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace test {

inline constexpr const char* kFileStoreHammerMode = "file_store_hammer";
// The helper's inputs, as environment variables.
inline constexpr const char* kHammerDirEnv = "TIERCACHE_HAMMER_DIR";
inline constexpr const char* kHammerRoundsEnv = "TIERCACHE_HAMMER_ROUNDS";
inline constexpr const char* kHammerSeedEnv = "TIERCACHE_HAMMER_SEED";

struct HammerCounts {
  std::uint64_t whole_reads = 0;  // values read that checked out
  std::uint64_t torn_reads = 0;   // values read that did not: must stay 0
  std::uint64_t misses = 0;       // not_found (purged, or not written yet)
  std::uint64_t failures = 0;     // failed reads or writes, or a store that would not open
  std::uint64_t unreadable = 0;   // the backend's unreadable_values: must stay 0
};

// A value of `bytes` (at least 16) bytes: its length, `fill` repeated, and a checksum of the rest.
std::string self_describing_value(std::size_t bytes, char fill);
// Whether `v` is such a value, whole.
bool is_whole_value(std::string_view v);

// Runs `rounds` writes against the key the hammer uses, in `directory`, reading all along.
HammerCounts hammer_file_store(const std::string& directory, int rounds, unsigned seed);

// The helper process: reads the inputs, hammers, prints the counts to stderr; 0 if nothing was
// torn, unreadable or failed and something was read whole.
int file_store_hammer_child();

}  // namespace test
