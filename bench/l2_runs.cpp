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

// One get of `key` into µs; false unless it was an L2 hit with a value of kL2ValueBytes.
bool timed_get(Cache& cache, const std::string& key, double& us) {
  const CacheStats before = cache.stats();
  const auto start = Clock::now();
  const Result<std::string> value = cache.get(Context::background(), key);
  us += std::chrono::duration<double, std::micro>(Clock::now() - start).count();
  return value && value->size() == kL2ValueBytes && cache.stats().l2_hits - before.l2_hits == 1;
}

// One get_many of `batch` into µs; false unless every key was an L2 hit with a value of
// kL2ValueBytes.
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

// Runs step(cache, i, us) for i in [0, steps) on a and b in turn, a first on even steps.
template <typename Step>
std::optional<PairedMeans> in_turn(Cache& a, Cache& b, std::size_t steps, const char* who,
                                   Step step) {
  PairedMeans means;
  for (std::size_t i = 0; i < steps; ++i) {
    const bool ok = i % 2 == 0 ? step(a, i, means.a_us) && step(b, i, means.b_us)
                               : step(b, i, means.b_us) && step(a, i, means.a_us);
    if (!ok) {
      std::fprintf(stderr, "%s: step %zu missed L2 or answered a wrong value; run void\n", who, i);
      return std::nullopt;
    }
  }
  means.a_us /= static_cast<double>(steps);
  means.b_us /= static_cast<double>(steps);
  return means;
}

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

std::optional<PairedMeans> l2_hit_gets(Cache& a, Cache& b, const std::vector<std::string>& keys,
                                       const char* who) {
  return in_turn(a, b, keys.size(), who, [&](Cache& cache, std::size_t i, double& us) {
    return timed_get(cache, keys[i], us);
  });
}

std::optional<PairedMeans> get_many_batches(Cache& a, Cache& b,
                                            const std::vector<std::string>& keys,
                                            std::size_t batch_keys, const char* who) {
  return in_turn(a, b, keys.size() / batch_keys, who, [&](Cache& cache, std::size_t i, double& us) {
    const std::vector<std::string_view> batch(keys.begin() + i * batch_keys,
                                              keys.begin() + (i + 1) * batch_keys);
    return timed_get_many(cache, batch, us);
  });
}

}  // namespace tiercache::bench
