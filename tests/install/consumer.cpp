// The install test's consumer: built against the installed files alone (no -I into the source
// tree), it opens an L1-only cache, sets a key, reads it back and prints it.
#include <tiercache/tiercache.hpp>

#include <iostream>

int main() {
  auto cache = tiercache::Cache::open({.l1 = {.max_bytes = 16 << 20}});
  if (!cache) {
    std::cerr << "open: " << cache.error().detail << '\n';
    return 1;
  }
  const auto ctx = tiercache::Context::background();
  if (auto r = cache->set(ctx, "greeting", "hello from an installed tiercache"); !r) {
    std::cerr << "set: " << r.error().detail << '\n';
    return 1;
  }
  auto value = cache->get(ctx, "greeting");
  if (!value) {
    std::cerr << "get: " << value.error().detail << '\n';
    return 1;
  }
  std::cout << "greeting = " << *value << '\n';
  if (auto r = cache->close(ctx); !r) {
    std::cerr << "close: " << r.error().detail << '\n';
    return 1;
  }
}
