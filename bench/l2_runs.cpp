#include "bench/l2_runs.hpp"

#include <chrono>
#include <cstdint>
#include <cstdio>

#include "bench/l2_figures.hpp"

namespace tiercache::bench {

namespace {
using Clock = std::chrono::steady_clock;
}  // namespace

std::optional<double> async_sets(Cache& cache, const std::vector<std::string>& keys,
                                 const std::string& value, const char* who) {
  const Context ctx = Context::background();
  const CacheStats before = cache.stats();
  const auto start = Clock::now();
  for (const std::string& key : keys)
    if (!cache.set(ctx, key, value)) {
      std::fprintf(stderr, "%s: async set failed; run void\n", who);
      return std::nullopt;
    }
  const Result<void> flushed = cache.flush(ctx);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const CacheStats after = cache.stats();
  if (!flushed || after.writes_sent - before.writes_sent != keys.size() ||
      after.write_errors.total() != before.write_errors.total()) {
    std::fprintf(stderr, "%s: %llu of %zu writes sent, flush %s; run void\n", who,
                 static_cast<unsigned long long>(after.writes_sent - before.writes_sent),
                 keys.size(), flushed ? "ok" : flushed.error().detail.c_str());
    return std::nullopt;
  }
  return keys.size() / seconds;
}

std::optional<double> l2_hit_gets(Cache& cache, const std::vector<std::string>& keys,
                                  const char* who) {
  const Context ctx = Context::background();
  const CacheStats before = cache.stats();
  std::size_t wrong = 0;
  const auto start = Clock::now();
  for (const std::string& key : keys) {
    const Result<std::string> value = cache.get(ctx, key);
    if (!value || value->size() != kL2ValueBytes) ++wrong;
  }
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  const std::uint64_t hits = cache.stats().l2_hits - before.l2_hits;
  if (wrong != 0 || hits != keys.size()) {
    std::fprintf(stderr, "%s: %zu gets wrong, %llu L2 hits for %zu keys; run void\n", who, wrong,
                 static_cast<unsigned long long>(hits), keys.size());
    return std::nullopt;
  }
  return seconds * 1e6 / keys.size();
}

}  // namespace tiercache::bench
