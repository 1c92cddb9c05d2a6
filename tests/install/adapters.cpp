// The install test's adapter consumer: a program that uses the optional adapters, linked the way
// docs/install.md says (libtiercache.a plus libmemcached and cpp-httplib). It makes a Memcached
// backend (no connection until first use) and a /metrics endpoint on a free loopback port, opens
// an L1-only cache that serves its metrics there, and says so.
#include <tiercache/tiercache.hpp>

#include <iostream>

int main() {
  auto memcached = tiercache::make_memcached_backend({.servers = {"127.0.0.1:11211"}});
  if (!memcached) {
    std::cerr << "make_memcached_backend: " << memcached.error().detail << '\n';
    return 1;
  }
  auto endpoint = tiercache::make_metrics_endpoint({.port = 0});
  if (!endpoint) {
    std::cerr << "make_metrics_endpoint: " << endpoint.error().detail << '\n';
    return 1;
  }
  tiercache::Options options{.l1 = {.max_bytes = 16 << 20}};
  options.metrics.endpoint = *endpoint;
  auto cache = tiercache::Cache::open(options);
  if (!cache) {
    std::cerr << "open: " << cache.error().detail << '\n';
    return 1;
  }
  std::cout << "adapters: a memcached backend, /metrics served\n";
}
