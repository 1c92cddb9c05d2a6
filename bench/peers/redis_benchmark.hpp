// bench/peers/redis_benchmark.hpp — runs redis-benchmark (redis-tools), Redis's own load
// generator, against a server and reads back its requests per second: the bar design.md sets
// for tiercache's write path.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>

namespace tiercache::bench {

struct RedisBenchmarkSetRun {
  std::uint16_t port = 0;  // on 127.0.0.1
  unsigned clients = 1;    // -c
  unsigned pipeline = 1;   // -P
  std::size_t requests = 0;
  std::size_t value_bytes = 0;
  std::size_t keyspace = 0;  // -r: keys drawn at random from this many
};

// The command line run() executes, for the record.
std::string redis_benchmark_command(const RedisBenchmarkSetRun& run);

// Runs `redis-benchmark -t set -q` as described and returns its "SET: N requests per second",
// or nullopt (having said why on stderr) if it could not run or printed no such line.
std::optional<double> run_redis_benchmark_set(const RedisBenchmarkSetRun& run);

}  // namespace tiercache::bench
