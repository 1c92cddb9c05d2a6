// examples/catalog/demo_args.hpp — the catalog demo's command line (make demo ARGS='...').
// Every option has a default, so that `make demo` alone runs the whole demo in about a minute.
#pragma once

#include <cstddef>
#include <cstdint>
#include <expected>
#include <string>

namespace catalog {

struct DemoArgs {
  unsigned threads = 8;      // client threads of the load generator
  unsigned seconds = 25;     // length of each phase
  unsigned put_percent = 5;  // requests that are PUTs, out of 100
  std::int64_t products = 100'000;
  double zipf = 0.99;      // skew of the product ids asked for
  std::size_t l1_mib = 8;  // each instance's L1 budget
  unsigned probes = 40;    // coherence probes during the cached phase
  std::string out_dir = "build/catalog-demo";
  bool uncached_phase = true;
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
