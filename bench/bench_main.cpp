// bench/bench_main.cpp — tiercache_bench: the machine, then the L1 figures (bench/l1_read.hpp,
// bench/l1_coalesce.hpp, bench/l1_refresh.hpp, bench/l1_typed.hpp, bench/l1_metrics.hpp), then
// the L2 figures against a redis-server it starts (bench/l2_figures.hpp). BENCH_SECONDS sets each
// timed figure's measured time (default 2); a warm-up runs before each. The L2 figures that read
// or write a fixed number of keys take what those keys take. BENCH_SMOKE=1 shrinks every data set
// (BenchSize::smoke): a check that the bench runs, for CI. BENCH_ONLY runs one group alone, for
// iterating on the engine (the summary then lacks the rest; bench/run.sh writes it apart):
// BENCH_ONLY=l1 the L1 throughput figures (bench/l1_read.hpp), =typed bench/l1_typed.hpp's,
// =memcached the memcached figures (bench/l2_memcached.hpp), =cluster the Redis Cluster figures
// (bench/l2_cluster.hpp), =metrics the cost of the latency
// histograms (bench/l1_metrics.hpp, then bench/l2_metrics.hpp's on a server of its own).
// BENCH_FIGURES and BENCH_DATA_DIR, set by bench/run.sh, say where figures and plot data go
// (bench/figures_file.hpp, bench/plot_data.hpp). Exits non-zero only if the run is void (bad
// BENCH_SECONDS, a target failing): an unmet target is a figure to read, not a failure.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>

#include "bench/bench_settings.hpp"
#include "bench/cpu_model.hpp"
#include "bench/l1_coalesce.hpp"
#include "bench/l1_metrics.hpp"
#include "bench/l1_read.hpp"
#include "bench/l1_refresh.hpp"
#include "bench/l1_typed.hpp"
#include "bench/l2_figures.hpp"
#include "bench/timed_run.hpp"

namespace {

constexpr double kDefaultSeconds = 2.0;
// Long enough to fault in pages and settle the clock speed; short runs warm up for their length.
constexpr double kMaxWarmupSeconds = 0.5;

}  // namespace

int main() {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  double seconds = kDefaultSeconds;
  if (const char* env = std::getenv("BENCH_SECONDS")) {
    char* end = nullptr;
    seconds = std::strtod(env, &end);
    if (end == env || *end != '\0' || !(seconds > 0)) {
      std::fprintf(stderr, "tiercache_bench: BENCH_SECONDS is \"%s\"; must be a number > 0\n", env);
      return 2;
    }
  }
  tiercache::bench::BenchSize size = tiercache::bench::BenchSize::full;
  if (const char* env = std::getenv("BENCH_SMOKE"); env != nullptr && *env != '\0') {
    const std::string_view smoke = env;
    if (smoke != "0" && smoke != "1") {
      std::fprintf(stderr, "tiercache_bench: BENCH_SMOKE is \"%s\"; must be 0 or 1\n", env);
      return 2;
    }
    if (smoke == "1") size = tiercache::bench::BenchSize::smoke;
  }
  std::printf("%-20s cpu=\"%s\"  cores=%u%s\n", "machine", tiercache::bench::cpu_model().c_str(),
              std::thread::hardware_concurrency(),
              size == tiercache::bench::BenchSize::smoke ? "  smoke=1 (small data sets)" : "");
  const tiercache::bench::BenchSettings settings{
      .times = {.warmup = std::chrono::duration<double>(std::min(seconds, kMaxWarmupSeconds)),
                .measured = std::chrono::duration<double>(seconds)},
      .size = size};
  const char* only = std::getenv("BENCH_ONLY");
  if (only != nullptr && std::string_view(only) == "memcached")
    return tiercache::bench::run_l2_memcached_only(settings) ? 0 : 1;
  if (only != nullptr && std::string_view(only) == "cluster")
    return tiercache::bench::run_l2_cluster_only(settings) ? 0 : 1;
  if (only != nullptr && std::string_view(only) == "typed")
    return tiercache::bench::run_l1_typed_figures(settings) ? 0 : 1;
  if (only != nullptr && std::string_view(only) == "metrics")
    return tiercache::bench::run_l1_metrics_figure(settings) &&
                   tiercache::bench::run_l2_metrics_only(settings)
               ? 0
               : 1;
  if (!tiercache::bench::run_l1_read_figures(settings)) return 1;
  if (only != nullptr && std::string_view(only) == "l1") return 0;
  if (!tiercache::bench::run_l1_coalesce_figure(settings)) return 1;
  if (!tiercache::bench::run_l1_refresh_figures(settings)) return 1;
  if (!tiercache::bench::run_l1_typed_figures(settings)) return 1;
  if (!tiercache::bench::run_l1_metrics_figure(settings)) return 1;
  return tiercache::bench::run_l2_figures(settings) ? 0 : 1;
}
