#include "bench/l2_runs.hpp"

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string_view>

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

namespace {

// One get_many of `batch` into µs; false if any key missed L2 or answered a wrong value.
bool timed_get_many(Cache& cache, std::span<const std::string_view> batch, double& us) {
  const CacheStats before = cache.stats();
  const auto start = Clock::now();
  const auto got = cache.get_many(Context::background(), batch);
  us += std::chrono::duration<double, std::micro>(Clock::now() - start).count();
  if (!got || cache.stats().l2_hits - before.l2_hits != batch.size()) return false;
  for (const Result<std::string>& value : *got)
    if (!value || value->size() != kL2ValueBytes) return false;
  return true;
}

}  // namespace

std::optional<GetManyMeans> get_many_batches(Cache& a, Cache& b,
                                             const std::vector<std::string>& keys,
                                             std::size_t batch_keys, const char* who) {
  const std::size_t batches = keys.size() / batch_keys;
  GetManyMeans means;
  for (std::size_t i = 0; i < batches; ++i) {
    const std::vector<std::string_view> batch(keys.begin() + i * batch_keys,
                                              keys.begin() + (i + 1) * batch_keys);
    if (!timed_get_many(a, batch, means.a_us) || !timed_get_many(b, batch, means.b_us)) {
      std::fprintf(stderr,
                   "%s: batch %zu: a get_many missed L2 or answered a wrong value; run void\n", who,
                   i);
      return std::nullopt;
    }
  }
  means.a_us /= static_cast<double>(batches);
  means.b_us /= static_cast<double>(batches);
  return means;
}

}  // namespace tiercache::bench
