// bench/l1_coalesce.cpp — coalesced_loads: every round, kCoalesceThreads threads wait at a latch,
// then all call get_or_load on one key no one has loaded; the loader counts its calls and
// sleeps kLoadTime, long enough for every thread to arrive while it runs. Target: exactly one
// call per round. A caller that arrives after the load finished hits L1, which is also fine.
#include "bench/l1_coalesce.hpp"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <latch>
#include <thread>
#include <vector>

#include "bench/figures_file.hpp"
#include "tiercache/context.hpp"

namespace tiercache::bench {
namespace {

// How long the loader takes, as design.md section 7's figure is measured: a slow origin.
constexpr std::chrono::milliseconds kLoadTime{20};
// What the loader returns; every caller must get exactly this.
constexpr std::string_view kLoadedValue = "loaded";

}  // namespace

std::string cold_key(const char* prefix, unsigned round) {
  return "coalesce:" + std::string(prefix) + ":" + std::to_string(round);
}

std::optional<CoalesceRound> coalesce_round(Cache& cache, const std::string& key) {
  // Relaxed: the count is read after the threads are joined, which orders it.
  std::atomic<std::uint64_t> calls{0};
  const Loader loader = [&](const Context&, std::string_view) -> Result<std::string> {
    calls.fetch_add(1, std::memory_order_relaxed);
    std::this_thread::sleep_for(kLoadTime);
    return std::string(kLoadedValue);
  };
  const CacheStats before = cache.stats();
  std::latch start(kCoalesceThreads);
  std::atomic<unsigned> wrong{0};
  {
    std::vector<std::jthread> callers;
    for (unsigned t = 0; t < kCoalesceThreads; ++t)
      callers.emplace_back([&] {
        const Context ctx = Context::background();
        start.arrive_and_wait();
        const Result<std::string> value = cache.get_or_load(ctx, key, loader);
        // Relaxed: read after the join.
        if (!value || *value != kLoadedValue) wrong.fetch_add(1, std::memory_order_relaxed);
      });
  }
  if (const unsigned n = wrong.load(std::memory_order_relaxed); n != 0) {
    std::fprintf(stderr, "coalesce: %s: %u of %u callers got an error or a wrong value\n",
                 key.c_str(), n, kCoalesceThreads);
    return std::nullopt;
  }
  const CacheStats after = cache.stats();
  return CoalesceRound{.loader_calls = calls.load(std::memory_order_relaxed),
                       .coalesced = after.coalesced - before.coalesced,
                       .l1_hits = after.l1_hits - before.l1_hits};
}

bool run_l1_coalesce_figure(const BenchSettings& settings) {
  auto cache = Cache::open({});
  if (!cache) {
    std::fprintf(stderr, "coalesce: Cache::open: %s\n", cache.error().detail.c_str());
    return false;
  }
  const unsigned rounds = settings.size == BenchSize::full ? kCoalesceRounds : kSmokeCoalesceRounds;
  CoalesceRound worst;
  std::uint64_t coalesced = 0;
  std::uint64_t l1_hits = 0;
  for (unsigned r = 0; r < rounds; ++r) {
    const auto round = coalesce_round(*cache, cold_key("l1", r));
    if (!round) return false;
    worst.loader_calls = std::max(worst.loader_calls, round->loader_calls);
    coalesced += round->coalesced;
    l1_hits += round->l1_hits;
  }
  const bool met = worst.loader_calls == 1;
  std::printf(
      "%-20s loads=%llu (most in a round)  target: ==1  met=%s  threads=%u rounds=%u "
      "load_ms=%lld  waited_on_leader=%llu hit_after_load=%llu (all rounds)\n",
      "coalesced_loads", static_cast<unsigned long long>(worst.loader_calls), met ? "yes" : "no",
      kCoalesceThreads, rounds, static_cast<long long>(kLoadTime.count()),
      static_cast<unsigned long long>(coalesced), static_cast<unsigned long long>(l1_hits));
  return record_figure({.name = "coalesced_loads",
                        .unit = "loader calls",
                        .value = static_cast<double>(worst.loader_calls),
                        .target = "exactly 1 (64 threads, one cold key)",
                        .met = met});
}

}  // namespace tiercache::bench
