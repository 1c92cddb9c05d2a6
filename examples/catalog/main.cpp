// examples/catalog/main.cpp — the catalog demo (make demo): tiercache doing its job in a service.
//
// 1. Fills a SQLite database with --products products (first run only; build/catalog-demo/).
// 2. Starts Redis: a private redis-server on a free loopback port (test::RedisServer, in a
//    process group of its own, so that Ctrl-C reaches only the demo, which stops it last), unless
//    TIERCACHE_REDIS_URL names one.
// 3. Cached phase: two service instances, A and B, each with its own L1 and both on that Redis.
//    A warm start loads every product into Redis through A; then the load generator's clients
//    (half on each) run --warmup seconds uncounted and --seconds counted, while the coherence
//    check PUTs through A and reads through B.
// 4. Uncached phase: two instances without a cache, under the same load.
// Every database query pays --db-latency, the modelled round trip to a database on another host.
// 5. The report (stdout and report.txt) and the plots, under --out.
// With --serve it stops after starting A and B, and serves until Ctrl-C.
//
// Exit status: 0 when every check held; 1 when one did not, the run was cut short, or something
// it needs (Redis, the database, a port) failed; 2 for a bad option or TIERCACHE_REDIS_URL.
// Never: waits without a bound. Every phase ends by itself; SIGINT / SIGTERM end it sooner.
#include <sqlite3.h>
#include <unistd.h>

#include <cstdlib>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <thread>

#include "examples/catalog/catalog_fill.hpp"
#include "examples/catalog/catalog_service.hpp"
#include "examples/catalog/coherence_check.hpp"
#include "examples/catalog/demo_args.hpp"
#include "examples/catalog/demo_report.hpp"
#include "examples/catalog/load_generator.hpp"
#include "examples/catalog/plots.hpp"
#include "examples/catalog/stop_signals.hpp"
#include "tests/support/redis_server.hpp"
#include "tiercache/cache.hpp"

namespace {

using namespace std::chrono_literals;
using catalog::CatalogService;
using catalog::DemoArgs;
using catalog::ServiceOptions;

// Exit statuses, as the top comment lists them.
constexpr int kExitOk = 0;
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;

// Prepended to the demo's keys in Redis (then the database's generation), so that a shared
// TIERCACHE_REDIS_URL server's own keys are safe.
constexpr const char* kRedisKeyPrefix = "catalog-demo:";
// The coherence check's products (the hottest ids), which the load never PUTs.
constexpr std::int64_t kProbeIds = 16;
// Every probe must see its value through the other instance within this (the design's p99
// target for coherence, docs/architecture.md).
constexpr auto kCoherenceBound = 50ms;
// When the first probe starts: the load has warmed both L1s by then.
constexpr auto kProbeWarmup = 3s;
// How long a probe waits for its value at most; also kept free at the phase's end.
constexpr auto kProbeGiveUp = 2s;
// HTTP workers per instance beyond one per client connection: the coherence check's and the
// metrics reader's connections, and a margin for a client that reconnects.
constexpr std::size_t kSpareHttpWorkers = 8;

struct Redis {
  std::optional<test::RedisServer> server;  // empty when TIERCACHE_REDIS_URL names one
  std::string url;
  std::string description;
};

std::string cpu_model() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  for (std::string line; std::getline(cpuinfo, line);) {
    if (!line.starts_with("model name")) continue;
    const auto colon = line.find(':');
    if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
  }
  return "unknown CPU";
}

// `url` with any user and password replaced by "***", fit for a log.
std::string redacted_url(std::string_view url) {
  const std::size_t at = url.rfind('@');
  if (at == std::string_view::npos) return std::string(url);
  const std::size_t scheme_end = url.find("://");
  const std::size_t userinfo = scheme_end == std::string_view::npos ? 0 : scheme_end + 3;
  return std::string(url.substr(0, userinfo)) + "***" + std::string(url.substr(at));
}

// The value of "name:value" in an INFO reply, or "".
std::string info_field(const std::string& info, const std::string& name) {
  const std::string whole = "\n" + info;
  const std::size_t at = whole.find("\n" + name + ":");
  if (at == std::string::npos) return {};
  const std::size_t from = at + name.size() + 2;
  return whole.substr(from, whole.find_first_of("\r\n", from) - from);
}

// Fills `redis` in place (a RedisServer does not move).
void start_redis(Redis& redis) {
  if (const char* url = std::getenv("TIERCACHE_REDIS_URL"); url != nullptr && *url != '\0') {
    redis.url = url;
    redis.description = "TIERCACHE_REDIS_URL " + redacted_url(url);
    return;
  }
  // Its own process group: a terminal's Ctrl-C reaches only the demo, which still needs Redis
  // to close its caches, and stops the server last.
  redis.server.emplace(test::RedisServerOptions{.own_process_group = true});
  redis.url = redis.server->url();
  const std::string info = redis.server->command({"INFO", "server"});
  redis.description = "private redis-server " + info_field(info, "redis_version") + " on " +
                      redis.server->host() + ":" + std::to_string(redis.server->port()) + " (pid " +
                      std::to_string(redis.server->pid()) + ", stopped at exit)";
}

// TIERCACHE_REDIS_URL, if set, is a URL tiercache takes (checked without connecting: only a
// valid one makes open() go on to connect).
std::expected<void, std::string> check_redis_url() {
  const char* url = std::getenv("TIERCACHE_REDIS_URL");
  if (url == nullptr || *url == '\0') return {};
  const auto opened = tiercache::Cache::open({.redis = {.url = url}});
  if (!opened && opened.error() == tiercache::errc::invalid_argument)
    return std::unexpected("TIERCACHE_REDIS_URL: " + opened.error().detail);
  return {};
}

// A --db-latency as the report prints it: "2 ms", "500 us", "none".
std::string latency_text(std::chrono::microseconds d) {
  if (d.count() == 0) return "none";
  if (d.count() % 1000 == 0) return std::to_string(d.count() / 1000) + " ms";
  return std::to_string(d.count()) + " us";
}

// The text of a fraction as the report prints it: 0.99.
std::string decimal(double value) {
  std::ostringstream out;
  out << value;
  return out.str();
}

// Instances A and B on one database (and, cached, one Redis).
std::expected<std::vector<std::unique_ptr<CatalogService>>, std::string> start_pair(
    const DemoArgs& args, const std::string& db_path, const std::string& redis_url, bool cached,
    std::uint16_t first_port) {
  std::vector<std::unique_ptr<CatalogService>> services;
  for (const char* name : {"A", "B"}) {
    const std::uint16_t port =
        first_port == 0 ? 0 : static_cast<std::uint16_t>(first_port + services.size());
    auto started =
        CatalogService::start({.name = name,
                               .db_path = db_path,
                               .db_round_trip = args.db_latency,
                               .cached = cached,
                               .redis_url = redis_url,
                               .redis_key_prefix = kRedisKeyPrefix,
                               .l1_max_bytes = args.l1_mib << 20,
                               .port = port,
                               .http_threads = (args.threads + 1) / 2 + kSpareHttpWorkers});
    if (!started) return std::unexpected(started.error());
    services.push_back(std::move(*started));
  }
  return services;
}

std::vector<std::uint16_t> ports_of(const std::vector<std::unique_ptr<CatalogService>>& services) {
  std::vector<std::uint16_t> ports;
  for (const auto& s : services) ports.push_back(s->port());
  return ports;
}

catalog::LoadOptions load_options(const DemoArgs& args, const std::string& phase,
                                  std::vector<std::uint16_t> ports) {
  return {.phase = phase,
          .ports = std::move(ports),
          .threads = args.threads,
          .warmup = std::chrono::seconds(args.warmup_seconds),
          .duration = std::chrono::seconds(args.seconds),
          .put_percent = args.put_percent,
          .products = args.products,
          .zipf_exponent = args.zipf,
          .reserved_ids = kProbeIds,
          .seed = args.seed};
}

// The probes spread over the cached phase's load (its warm-up included) after kProbeWarmup,
// ending kProbeGiveUp before it does.
catalog::CoherenceOptions coherence_options(const DemoArgs& args, std::uint16_t writer,
                                            std::uint16_t reader) {
  const std::chrono::milliseconds phase = std::chrono::seconds(args.seconds + args.warmup_seconds);
  const auto warmup = std::min<std::chrono::milliseconds>(kProbeWarmup, phase / 4);
  const auto window = std::max<std::chrono::milliseconds>(phase - warmup - kProbeGiveUp, 100ms);
  return {.writer_port = writer,
          .reader_port = reader,
          .probe_ids = kProbeIds,
          .probes = args.probes,
          .start_after = warmup,
          .interval = window / std::max(args.probes, 1u),
          .give_up = kProbeGiveUp};
}

int serve(const DemoArgs& args, const std::string& db_path, const Redis& redis,
          catalog::StopSignals& stop) {
  auto services = start_pair(args, db_path, redis.url, /*cached=*/true, args.port);
  if (!services) {
    std::cerr << "catalog_demo: " << services.error() << '\n';
    return kExitFailed;
  }
  for (const auto& s : *services)
    std::cout << "instance " << s->options().name << ": http://127.0.0.1:" << s->port()
              << "/products/{id}   (and /metrics)\n";
  std::cout << "serving until Ctrl-C; try: curl http://127.0.0.1:" << (*services)[0]->port()
            << "/products/42\n"
            << std::flush;
  while (stop.wait_until(catalog::StopSignals::Clock::now() + 24h) == 0) {
  }
  std::cout << "stopping (" << catalog::StopSignals::name(stop.received()) << ")\n";
  return kExitOk;
}

int run(const DemoArgs& args, catalog::StopSignals& stop) {
  std::error_code ec;
  std::filesystem::create_directories(args.out_dir, ec);
  if (ec) {
    std::cerr << "catalog_demo: cannot create " << args.out_dir << ": " << ec.message() << '\n';
    return kExitFailed;
  }
  const std::string db_path = args.out_dir + "/catalog.db";
  std::cout << "tiercache catalog demo: database " << db_path << " ..." << std::flush;
  // Ctrl-C is blocked (stop_signals.hpp): the long steps before the load ask for it themselves.
  const auto stop_requested = [&stop] {
    return stop.wait_until(catalog::StopSignals::Clock::now()) != 0;
  };
  const auto fill = catalog::fill_catalog(db_path, args.products, stop_requested);
  if (!fill && stop.received() != 0) {
    std::cerr << "\ncatalog_demo: stopped (" << catalog::StopSignals::name(stop.received())
              << ") while filling the database; nothing was filled\n";
    return kExitFailed;
  }
  if (!fill) {
    std::cerr << "\ncatalog_demo: " << fill.error() << '\n';
    return kExitFailed;
  }
  const std::string fill_text =
      fill->filled ? "filled with " + std::to_string(args.products) + " products in " +
                         std::to_string(fill->took.count()) + " ms"
                   : "reused (" + std::to_string(args.products) + " products, from an earlier run)";
  std::cout << ' ' << fill_text << '\n' << std::flush;

  if (auto checked = check_redis_url(); !checked) {
    std::cerr << "catalog_demo: " << checked.error() << '\n';
    return kExitUsage;
  }
  Redis redis;
  try {
    start_redis(redis);
  } catch (const std::runtime_error& e) {
    std::cerr << "catalog_demo: cannot start a private redis-server: " << e.what()
              << " (install it with `make deps`, or set TIERCACHE_REDIS_URL)\n";
    return kExitFailed;
  }
  std::cout << "redis: " << redis.description << '\n' << std::flush;
  if (args.serve_only) return serve(args, db_path, redis, stop);

  catalog::DemoReport report;
  report.setup = {
      {"machine", cpu_model() + ", " + std::to_string(std::thread::hardware_concurrency()) +
                      " cores (clients, services and Redis share them)"},
      {"redis", redis.description},
      {"database", db_path + ": SQLite " + sqlite3_libversion() + ", WAL, " +
                       std::to_string(args.products) + " products, " + fill_text},
      {"db latency",
       latency_text(args.db_latency) +
           " per query (--db-latency): a sleep before every SELECT and UPDATE, modelling the "
           "network round trip to a database on another host (SQLite itself runs in process)"},
      {"service",
       "2 instances (A, B) over HTTP (cpp-httplib), each a TypedCache<JsonCodec<"
       "Product>> with " +
           std::to_string(args.l1_mib) + " MiB of L1 and Redis as L2 (bcast invalidation)"},
      {"load", std::to_string(args.threads) +
                   " client threads on keep-alive connections, half "
                   "on each instance; Zipf " +
                   decimal(args.zipf) + " over the ids; " + std::to_string(args.put_percent) +
                   " % PUTs; per phase " + std::to_string(args.warmup_seconds) +
                   " s of warm-up (checked, not counted), then " + std::to_string(args.seconds) +
                   " s measured"}};

  // Cached phase, with the coherence check beside the load.
  {
    auto services = start_pair(args, db_path, redis.url, /*cached=*/true, 0);
    if (!services) {
      std::cerr << "catalog_demo: " << services.error() << '\n';
      return kExitFailed;
    }
    const auto ports = ports_of(*services);
    if (args.warm_start) {
      std::cout << "warm start: every product into Redis through A ..." << std::flush;
      const auto warm = (*services)[0]->warm_cache(stop_requested);
      if (!warm && stop.received() != 0) {
        std::cerr << "\ncatalog_demo: stopped (" << catalog::StopSignals::name(stop.received())
                  << ") during the warm start\n";
        return kExitFailed;
      }
      if (!warm) {
        std::cerr << "\ncatalog_demo: " << warm.error() << '\n';
        return kExitFailed;
      }
      const std::string warm_text =
          std::to_string(warm->products) + " products in " + std::to_string(warm->selects) +
          " range SELECTs (each paying the db latency), set through A and flushed to Redis, in " +
          std::to_string(warm->took.count()) + " ms";
      std::cout << ' ' << warm_text << '\n';
      report.setup.emplace_back("warm start", warm_text +
                                                  ": a service that has run a while finds its "
                                                  "catalog in Redis; the L1s fill in the warm-up");
    } else {
      report.setup.emplace_back("warm start",
                                "none (--no-warm-start): the cached phase starts with Redis empty");
    }
    std::cout << "cached phase: A on :" << ports[0] << ", B on :" << ports[1] << "; "
              << args.threads << " clients, " << args.warmup_seconds << " s warm-up + "
              << args.seconds << " s"
              << (args.probes > 0 ? ", coherence probes PUT through A and GET through B" : "")
              << '\n'
              << "cache options (each instance): " << (*services)[0]->cache_options_text() << '\n'
              << std::flush;
    std::optional<catalog::CoherenceResult> coherence;
    std::jthread prober;
    if (args.probes > 0) {
      const catalog::CoherenceOptions options = coherence_options(args, ports[0], ports[1]);
      report.coherence_setup = std::to_string(args.probes) +
                               " probes under the cached load: GET through B, PUT through A, "
                               "then GET through B until it answers the new version";
      prober = std::jthread([options, &coherence](std::stop_token token) {
        coherence = catalog::run_coherence_check(options, token);
      });
    }
    catalog::LoadResult load = catalog::run_load(load_options(args, "cached", ports), stop);
    if (prober.joinable()) {
      prober.request_stop();
      prober.join();
    }
    report.coherence = std::move(coherence);
    report.coherence_bound = kCoherenceBound;
    report.coherence_probes = args.probes;
    for (const auto& s : *services)
      if (auto stats = s->cache_stats()) report.instances.push_back({s->options().name, *stats});
    report.phases.push_back({"cached", std::move(load)});
  }

  if (args.uncached_phase && stop.received() == 0) {
    auto services = start_pair(args, db_path, redis.url, /*cached=*/false, 0);
    if (!services) {
      std::cerr << "catalog_demo: " << services.error() << '\n';
      return kExitFailed;
    }
    const auto ports = ports_of(*services);
    std::cout << "uncached phase: A on :" << ports[0] << ", B on :" << ports[1]
              << ", no cache: every GET is a SELECT\n"
              << std::flush;
    report.phases.push_back(
        {"uncached", catalog::run_load(load_options(args, "uncached", ports), stop)});
  }
  if (stop.received() != 0) report.stopped_by = catalog::StopSignals::name(stop.received());

  std::vector<catalog::PlotSeries> series;
  for (const catalog::PhaseOutcome& p : report.phases) series.push_back({p.phase, p.load.samples});
  const auto plots = catalog::draw_plots(
      args.out_dir, series,
      std::to_string(args.threads) + " clients, 2 instances, " + std::to_string(args.products) +
          " products, Zipf " + decimal(args.zipf) + ", " + std::to_string(args.put_percent) +
          " % PUT, " + std::to_string(args.l1_mib) + " MiB L1 each, db latency " +
          latency_text(args.db_latency) + "; " + cpu_model() + ", " +
          std::to_string(std::thread::hardware_concurrency()) + " cores");
  if (plots) {
    report.plots = *plots;
  } else {
    report.plot_error = plots.error();
  }

  const catalog::ReportText text = catalog::format_report(report);
  const std::string report_path = args.out_dir + "/report.txt";
  std::ofstream(report_path) << text.text;
  std::cout << '\n' << text.text << "report: " << report_path << '\n' << std::flush;
  return text.ok ? kExitOk : kExitFailed;
}

}  // namespace

int main(int argc, char** argv) {
  const auto args = catalog::parse_demo_args(argc, argv);
  if (!args) {
    std::cerr << "catalog_demo: " << args.error() << '\n';
    return kExitUsage;
  }
  if (args->help) {
    std::cout << catalog::demo_usage();
    return kExitOk;
  }
  // Before any thread starts and before redis-server is forked (stop_signals.hpp).
  catalog::StopSignals stop;
  // Caught so that the stack unwinds: the private redis-server is stopped and its dir removed.
  try {
    return run(*args, stop);
  } catch (const std::exception& e) {
    std::cerr << "catalog_demo: " << e.what() << '\n';
    return kExitFailed;
  }
}
