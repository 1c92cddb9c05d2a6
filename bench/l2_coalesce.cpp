// bench/l2_coalesce.cpp — coalesced_loads_l2 and coalesced_redis_gets: the rounds of
// bench/l1_coalesce.hpp on a cache with Redis as L2, the key absent from both tiers. The leader
// asks Redis (one read script: the key's length, value and PTTL) before it runs the loader; the
// reads Redis served during the round are the length checks (STRLEN) the script makes in
// its INFO commandstats, read before and after: one per key read, whatever the script does next.
#include "bench/l2_coalesce.hpp"

#include <algorithm>
#include <charconv>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include "bench/figures_file.hpp"
#include "bench/l1_coalesce.hpp"
#include "bench/l2_figures.hpp"
#include "tiercache/context.hpp"

namespace tiercache::bench {
namespace {

// "cmdstat_strlen:calls=12,usec=..." in INFO commandstats; absent until the first read. The
// read script calls STRLEN once per key, whether or not the key exists.
constexpr std::string_view kGetCallsField = "cmdstat_strlen:calls=";

// Keys the server has read for the cache since it started (or its stats were reset); nullopt
// (said on stderr) if INFO did not answer as expected.
std::optional<std::uint64_t> redis_get_calls(const test::RedisServer& server) {
  const std::string info = server.command({"INFO", "commandstats"});
  if (info.find("# Commandstats") == std::string::npos) {
    std::fprintf(stderr, "l2: INFO commandstats answered %s\n", info.c_str());
    return std::nullopt;
  }
  const std::size_t at = info.find(kGetCallsField);
  if (at == std::string::npos) return 0;
  std::uint64_t calls = 0;
  const char* from = info.data() + at + kGetCallsField.size();
  if (std::from_chars(from, info.data() + info.size(), calls).ec != std::errc{}) {
    std::fprintf(stderr, "l2: INFO commandstats: unreadable %s\n", kGetCallsField.data());
    return std::nullopt;
  }
  return calls;
}

}  // namespace

bool run_l2_coalesce_figure(const test::RedisServer& server, BenchSize size) {
  if (!empty_redis(server)) return false;
  auto cache = open_l2_cache(server, {});
  if (!cache) return false;
  const unsigned rounds = size == BenchSize::full ? kCoalesceRounds : kSmokeCoalesceRounds;
  std::uint64_t most_loads = 0;
  std::uint64_t most_gets = 0;
  for (unsigned r = 0; r < rounds; ++r) {
    const std::optional<std::uint64_t> gets_before = redis_get_calls(server);
    if (!gets_before) return false;
    const auto round = coalesce_round(*cache, cold_key("l2", r));
    if (!round) return false;
    const std::optional<std::uint64_t> gets_after = redis_get_calls(server);
    if (!gets_after) return false;
    most_loads = std::max(most_loads, round->loader_calls);
    most_gets = std::max(most_gets, *gets_after - *gets_before);
  }
  // The loaded values are queued for Redis; let them land before the server is emptied.
  if (const Result<void> flushed = cache->flush(Context::background()); !flushed) {
    std::fprintf(stderr, "l2: coalesce: flush: %s\n", flushed.error().detail.c_str());
    return false;
  }
  const bool loads_met = most_loads == 1;
  const bool gets_met = most_gets == 1;
  std::printf(
      "%-20s loads=%llu redis_gets=%llu (most in a round)  target: ==1 load, ==1 read  "
      "met=loads:%s,gets:%s  threads=%u rounds=%u\n",
      "coalesced_loads_l2", static_cast<unsigned long long>(most_loads),
      static_cast<unsigned long long>(most_gets), loads_met ? "yes" : "no", gets_met ? "yes" : "no",
      kCoalesceThreads, rounds);
  return record_figure({.name = "coalesced_loads_l2",
                        .unit = "loader calls",
                        .value = static_cast<double>(most_loads),
                        .target = "exactly 1 (64 threads, one cold key, Redis as L2)",
                        .met = loads_met}) &&
         record_figure({.name = "coalesced_redis_gets",
                        .unit = "Redis reads of the key",
                        .value = static_cast<double>(most_gets),
                        .target = "exactly 1 (64 threads, one cold key)",
                        .met = gets_met}) &&
         empty_redis(server);
}

}  // namespace tiercache::bench
