// examples/readme_example.cpp — the README's "Use it" example, kept here so it is compiled.
#include <iostream>
#include <string>

#include "tiercache/tiercache.hpp"

using namespace std::chrono_literals;

// One context per request: its deadline bounds every wait inside that request's calls.
tiercache::Context request_context() {
  return tiercache::Context::background().with_timeout(50ms);
}

int main() {
  auto cache = tiercache::Cache::open(
      {.l1 = {.max_bytes = 64 << 20}, .default_ttl = 30s, .negative_ttl = 5s});
  if (!cache) {
    std::cerr << "open: " << cache.error().detail << '\n';
    return 1;
  }

  if (auto r = cache->set(request_context(), "user:1", "Ada"); !r)
    std::cerr << r.error().detail << '\n';
  if (auto r = cache->get(request_context(), "user:1")) std::cout << "user:1 = " << *r << '\n';
  if (auto r = cache->get(request_context(), "user:2");
      !r && r.error() == tiercache::errc::not_found)
    std::cout << "user:2 is not cached\n";

  // Concurrent misses on one key share one loader call; the value is cached for default_ttl
  // (or the TTL the loader gives: Loaded(value, ttl)), a missing row for negative_ttl.
  // The loader gets the caller's context: pass its deadline on to the database.
  auto user = cache->get_or_load(
      request_context(), "user:3",
      [](const tiercache::Context&, std::string_view key) -> tiercache::Result<tiercache::Loaded> {
        // Query your database here; a missing row is tiercache::Loaded::absent().
        if (key == "user:404") return tiercache::Loaded::absent();
        return "loaded " + std::string(key);
      });
  if (!user) {
    std::cerr << "user:3: " << user.error().code.message() << ": " << user.error().detail << '\n';
    return 1;
  }
  std::cout << "user:3 = " << *user << '\n';
  // Refuses later calls with errc::closed, then waits for queued writes (none without an L2).
  if (auto r = cache->close(request_context()); !r) std::cerr << r.error().detail << '\n';
}
