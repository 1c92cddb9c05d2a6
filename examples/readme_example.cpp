// examples/readme_example.cpp — the README's "Use it" example, kept here so it is compiled.
#include <iostream>
#include <string>

#include "tiercache/tiercache.hpp"

using namespace std::chrono_literals;

int main() {
  auto cache = tiercache::Cache::open({.l1 = {.max_bytes = 64 << 20}, .default_ttl = 30s});
  if (!cache) {
    std::cerr << "open: " << cache.error().detail << '\n';
    return 1;
  }
  const auto ctx = tiercache::Context::background().with_timeout(50ms);

  if (auto r = cache->set(ctx, "user:1", "Ada"); !r) std::cerr << r.error().detail << '\n';
  if (auto r = cache->get(ctx, "user:1")) std::cout << "user:1 = " << *r << '\n';
  if (auto r = cache->get(ctx, "user:2"); !r && r.error() == tiercache::errc::not_found)
    std::cout << "user:2 is not cached\n";

  // Concurrent misses on one key share one loader call; the value is cached for default_ttl.
  auto user = cache->get_or_load(
      ctx, "user:3",
      [](const tiercache::Context&, std::string_view key) -> tiercache::Result<std::string> {
        return "loaded " + std::string(key);  // query your database here
      });
  if (!user) {
    std::cerr << "user:3: " << user.error().code.message() << ": " << user.error().detail << '\n';
    return 1;
  }
  std::cout << "user:3 = " << *user << '\n';
}
