// examples/catalog/demo_args.cpp — parsing and checking the demo's options.
#include "examples/catalog/demo_args.hpp"

#include <charconv>
#include <limits>
#include <sstream>
#include <string_view>

namespace catalog {
namespace {

// Bounds of the options, so that a typo cannot ask for a week's run or a million threads.
constexpr unsigned kMaxThreads = 256;
constexpr unsigned kMinSeconds = 2;
constexpr unsigned kMaxSeconds = 24 * 3600;
// Products the load generator's Zipf table may span (8 bytes each), and the fewest: more than
// the coherence check's reserved ids.
constexpr std::int64_t kMinProducts = 100;
constexpr std::int64_t kMaxDemoProducts = 10'000'000;
constexpr double kMaxZipf = 5;
constexpr std::size_t kMaxL1Mib = 64 * 1024;
constexpr unsigned kMaxProbes = 100'000;
constexpr unsigned kMaxWarmupSeconds = 3600;
constexpr std::chrono::microseconds kMaxDbLatency{1'000'000};

template <class T>
std::expected<T, std::string> whole(std::string_view option, std::string_view text, T min, T max) {
  T value{};
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || value < min || value > max)
    return std::unexpected(std::string(option) + " \"" + std::string(text) +
                           "\": must be a whole number from " + std::to_string(min) + " to " +
                           std::to_string(max));
  return value;
}

std::expected<double, std::string> fraction(std::string_view option, std::string_view text,
                                            double min, double max) {
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || end != text.data() + text.size() || !(value >= min && value <= max)) {
    std::ostringstream rule;
    rule << option << " \"" << text << "\": must be a number from " << min << " to " << max;
    return std::unexpected(rule.str());
  }
  return value;
}

// A time with its unit: "2ms", "500us", or "0"; a bare number other than 0 is refused, so that
// "--db-latency 2" is not read as 2 us.
std::expected<std::chrono::microseconds, std::string> latency(std::string_view option,
                                                              std::string_view text,
                                                              std::chrono::microseconds max) {
  const auto refuse = [&] {
    return std::unexpected(std::string(option) + " \"" + std::string(text) +
                           "\": must be a time like 2ms or 500us, from 0 to " +
                           std::to_string(max.count() / 1000) + "ms (0: no latency)");
  };
  if (text == "0") return std::chrono::microseconds(0);
  std::int64_t per_unit = 0;
  std::string_view digits = text;
  if (text.ends_with("ms")) {
    per_unit = 1000;
  } else if (text.ends_with("us")) {
    per_unit = 1;
  } else {
    return refuse();
  }
  digits.remove_suffix(2);
  std::int64_t count = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), count);
  if (digits.empty() || ec != std::errc{} || end != digits.data() + digits.size() || count < 0 ||
      count > max.count() / per_unit)
    return refuse();
  return std::chrono::microseconds(count * per_unit);
}

// Stores `parsed` into `field`, or passes its error on.
template <class T, class U>
std::expected<void, std::string> store(std::expected<U, std::string> parsed, T& field) {
  if (!parsed) return std::unexpected(std::move(parsed.error()));
  field = static_cast<T>(*parsed);
  return {};
}

// Applies one option that takes a value.
std::expected<void, std::string> apply(DemoArgs& a, std::string_view name, std::string_view value) {
  if (name == "--threads") return store(whole<unsigned>(name, value, 1, kMaxThreads), a.threads);
  if (name == "--seconds")
    return store(whole<unsigned>(name, value, kMinSeconds, kMaxSeconds), a.seconds);
  if (name == "--warmup")
    return store(whole<unsigned>(name, value, 0, kMaxWarmupSeconds), a.warmup_seconds);
  if (name == "--db-latency") return store(latency(name, value, kMaxDbLatency), a.db_latency);
  if (name == "--put-percent") return store(whole<unsigned>(name, value, 0, 100), a.put_percent);
  if (name == "--products")
    return store(whole<std::int64_t>(name, value, kMinProducts, kMaxDemoProducts), a.products);
  if (name == "--zipf") return store(fraction(name, value, 0, kMaxZipf), a.zipf);
  if (name == "--l1-mib") return store(whole<std::size_t>(name, value, 1, kMaxL1Mib), a.l1_mib);
  if (name == "--probes") return store(whole<unsigned>(name, value, 0, kMaxProbes), a.probes);
  if (name == "--port")
    return store(whole<unsigned>(name, value, 0, std::numeric_limits<std::uint16_t>::max() - 1),
                 a.port);
  if (name == "--seed")
    return store(whole<std::uint64_t>(name, value, 0, std::numeric_limits<std::uint64_t>::max()),
                 a.seed);
  if (name == "--out") {
    if (value.empty()) return std::unexpected(std::string("--out: the directory is empty"));
    a.out_dir = std::string(value);
    return {};
  }
  return std::unexpected("unknown option " + std::string(name) + " (--help lists them)");
}

bool takes_value(std::string_view name) {
  for (const std::string_view known :
       {"--threads", "--seconds", "--warmup", "--db-latency", "--put-percent", "--products",
        "--zipf", "--l1-mib", "--probes", "--port", "--seed", "--out"})
    if (name == known) return true;
  return false;
}

bool is_flag(std::string_view name) {
  return name == "--help" || name == "-h" || name == "--no-uncached" || name == "--no-warm-start" ||
         name == "--serve";
}

}  // namespace

std::expected<DemoArgs, std::string> parse_demo_args(int argc, const char* const* argv) {
  DemoArgs a;
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (is_flag(arg)) {
      if (arg == "--help" || arg == "-h") a.help = true;
      if (arg == "--no-uncached") a.uncached_phase = false;
      if (arg == "--no-warm-start") a.warm_start = false;
      if (arg == "--serve") a.serve_only = true;
      continue;
    }
    if (!arg.starts_with("--"))
      return std::unexpected("unexpected argument \"" + std::string(arg) +
                             "\"; options start with -- (--help lists them)");
    const std::size_t eq = arg.find('=');
    const std::string_view name = arg.substr(0, eq);
    if (is_flag(name)) return std::unexpected(std::string(name) + " takes no value");
    if (!takes_value(name))
      return std::unexpected("unknown option " + std::string(name) + " (--help lists them)");
    std::string_view value;
    if (eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
    } else if (i + 1 < argc) {
      value = argv[++i];
    } else {
      return std::unexpected(std::string(name) + " needs a value (--help lists the options)");
    }
    if (auto applied = apply(a, name, value); !applied) return std::unexpected(applied.error());
  }
  return a;
}

std::string demo_usage() {
  const DemoArgs d;
  return "usage: catalog_demo [options]   (make demo ARGS='options')\n"
         "\n"
         "The tiercache catalog demo: a product catalog over HTTP from a SQLite database of\n"
         "--products products, through tiercache (L1 in each instance, Redis as L2), two\n"
         "instances on one Redis. It runs a cached phase (with a coherence check: PUT through\n"
         "one instance, GET through the other), then the same load with the cache off, and\n"
         "writes a report and PNG plots to --out.\n"
         "\n"
         "  --threads N       client threads, spread over the two instances (default " +
         std::to_string(d.threads) + ", 1.." + std::to_string(kMaxThreads) +
         ")\n"
         "  --seconds N       measured length of each phase (default " +
         std::to_string(d.seconds) + ", " + std::to_string(kMinSeconds) + ".." +
         std::to_string(kMaxSeconds) +
         ")\n"
         "  --warmup N        seconds of load before each phase's figures start, checked but\n"
         "                    not counted: the L1s take in the hot products (default " +
         std::to_string(d.warmup_seconds) + ", 0.." + std::to_string(kMaxWarmupSeconds) +
         ")\n"
         "  --db-latency T    a modelled network round trip paid by every database query, as\n"
         "                    a database on another host costs (SQLite here runs in process):\n"
         "                    2ms, 500us; 0 turns it off (default " +
         std::to_string(d.db_latency.count() / 1000) + "ms, up to " +
         std::to_string(kMaxDbLatency.count() / 1000) +
         "ms)\n"
         "  --put-percent P   requests that are PUTs, out of 100 (default " +
         std::to_string(d.put_percent) +
         ")\n"
         "  --products N      products in the database (default " +
         std::to_string(d.products) + ", " + std::to_string(kMinProducts) + ".." +
         std::to_string(kMaxDemoProducts) +
         "); a database of\n"
         "                    another size is filled anew\n"
         "  --zipf S          skew of the ids asked for (default 0.99; 0 is uniform, up to 5)\n"
         "  --l1-mib N        each instance's L1 budget in MiB (default " +
         std::to_string(d.l1_mib) +
         ")\n"
         "  --probes N        coherence probes in the cached phase (default " +
         std::to_string(d.probes) +
         "; 0: none)\n"
         "  --no-warm-start   start the cached phase with Redis empty (by default every\n"
         "                    product is put there first, as a service that has run a while\n"
         "                    finds it)\n"
         "  --no-uncached     skip the uncached phase\n"
         "  --out DIR         the database, report.txt and the plots (default " +
         d.out_dir +
         ")\n"
         "  --seed N          the clients' random seed (default 1)\n"
         "  --serve           only start the two instances and serve until Ctrl-C (try\n"
         "                    curl http://127.0.0.1:PORT/products/42)\n"
         "  --port N          with --serve: instance A's port, B's the next (default: free ones)\n"
         "  --help            this text\n"
         "\n"
         "Redis: a private redis-server on a free loopback port, stopped at exit (Ctrl-C\n"
         "included), unless TIERCACHE_REDIS_URL=redis://host:port/db names one (keys are\n"
         "prefixed catalog-demo:). Exit status: 0 when every check held, 1 when one did not or\n"
         "the demo could not run, 2 for a bad option.\n";
}

}  // namespace catalog
