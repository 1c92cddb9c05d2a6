// examples/catalog/demo_args.hpp — the catalog demo's command line (make demo ARGS='...').
// Every option has a default, so that `make demo` alone runs the whole demo in about a minute.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <string>

namespace catalog {

struct DemoArgs {
  // Client threads of the load generator: 4 keep 2 cores busy without queueing every request
  // (and every Redis read) behind the others.
  unsigned threads = 4;
  unsigned seconds = 20;  // measured length of each phase
  // Load before each phase's figures start: it fills the L1s with the hot products (and gets
  // SQLite's connections open); its requests are checked but not counted.
  unsigned warmup_seconds = 5;
  unsigned put_percent = 5;  // requests that are PUTs, out of 100
  std::int64_t products = 100'000;
  double zipf = 0.99;  // skew of the product ids asked for
  // Each instance's L1 budget: ~70,000 products of ~900 bytes each (key, JSON, decoded
  // product, entry), 97 % of the Zipf 0.99 draws over 100,000.
  std::size_t l1_mib = 64;
  // A modelled network round trip that every database query pays (a sleep before it): SQLite
  // runs in process, a real catalog's database is on another host. 0: none.
  std::chrono::microseconds db_latency{2000};
  unsigned probes = 40;  // coherence probes during the cached phase
  std::string out_dir = "build/catalog-demo";
  bool uncached_phase = true;
  // Before the cached phase, every product into Redis (CatalogService::warm_cache); off: the
  // cached phase starts with Redis empty.
  bool warm_start = true;
  bool serve_only = false;  // start the service and serve until Ctrl-C
  std::uint16_t port = 0;   // serve: instance A's port (B's is the next); 0: free ones
  std::uint64_t seed = 1;
  bool help = false;
};

// The options of argv[1..argc), "--name value" or "--name=value"; a later one wins. The error
// names the option, the value and the rule (the demo exits 2 with it).
std::expected<DemoArgs, std::string> parse_demo_args(int argc, const char* const* argv);

// What --help prints.
std::string demo_usage();

}  // namespace catalog
