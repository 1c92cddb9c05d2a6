// tests/support/test_support.hpp — what every test file shares: contexts, a small cache, and
// wait_until, which polls a condition with a bound instead of sleeping a guessed time.
#pragma once

#include <chrono>
#include <random>
#include <string>
#include <thread>

#include <catch2/catch.hpp>

#include "engine/api/cache_test_access.hpp"
#include "tiercache/tiercache.hpp"

namespace test {

using namespace std::chrono_literals;

inline tiercache::Context ctx() {
  return tiercache::Context::background();
}
inline tiercache::Context ctx_with_timeout(std::chrono::milliseconds t) {
  return tiercache::Context::background().with_timeout(t);
}

// Polls `pred` every millisecond until it holds or `limit` passes; fails the test with `why`.
template <class Pred>
void wait_until(std::chrono::milliseconds limit, Pred pred, const char* why) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) FAIL("timed out waiting until " << why);
    std::this_thread::sleep_for(1ms);
  }
}

inline tiercache::Cache open_cache(tiercache::Options options = {}) {
  auto cache = tiercache::Cache::open(options);
  if (!cache) FAIL("open: " << cache.error().detail);
  return std::move(*cache);
}

inline bool invariants_hold(const tiercache::Cache& cache) {
  return tiercache::CacheTestAccess::check_invariants(cache);
}

// A Catch2 seed printer, so a failing randomized run can be replayed.
inline unsigned seed() {
  const unsigned s = Catch::rngSeed() != 0 ? Catch::rngSeed() : std::random_device{}();
  UNSCOPED_INFO("seed " << s << " (rerun with --rng-seed " << s << ")");
  return s;
}

}  // namespace test
