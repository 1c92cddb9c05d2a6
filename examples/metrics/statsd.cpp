// examples/metrics/statsd.cpp — forwarding a Cache's metrics to your own system: a
// MetricsVisitor that prints StatsD lines. `make test` builds and runs it.
//
// At each interval it walks Cache::metrics() (tiercache::visit) and prints counters as the change
// since the last interval (name:delta|c), gauges as they are (|g), and each histogram that counted
// something as its p50 and p99 since the cache opened, as gauges (durations in ms). Labels become
// parts of the name: hits_total{tier="l1"} is tiercache.hits_total.l1. A real program sends the
// lines to its StatsD agent over UDP instead of printing them.
#include <chrono>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>
#include <string>
#include <thread>

#include "tiercache/tiercache.hpp"

using namespace std::chrono_literals;

class StatsdLines final : public tiercache::MetricsVisitor {
 public:
  void begin_family(const tiercache::MetricFamily&) override {}

  void counter(const tiercache::MetricFamily& family,
               std::span<const tiercache::MetricLabel> labels, std::uint64_t value) override {
    const std::string name = stat_name(family.name, labels);
    std::uint64_t& last = last_counts_[name];  // 0 the first time: the delta is the whole count
    std::cout << name << ':' << value - last << "|c\n";
    last = value;
  }

  void gauge(const tiercache::MetricFamily& family, std::span<const tiercache::MetricLabel> labels,
             double value) override {
    std::cout << stat_name(family.name, labels) << ':' << value << "|g\n";
  }

  void histogram(const tiercache::MetricFamily& family,
                 std::span<const tiercache::MetricLabel> labels,
                 const tiercache::Histogram& histogram) override {
    if (histogram.count() == 0) return;
    // A duration family counts nanoseconds and is named in seconds (unit 1e-9): print ms.
    std::string name(family.name);
    double scale = family.unit;
    if (name.ends_with("_seconds")) {
      name.replace(name.size() - std::string_view("_seconds").size(), std::string::npos, "_ms");
      scale *= 1e3;
    }
    const std::string stat = stat_name(name, labels);
    std::ostringstream lines;  // fixed point: 0.000049 ms, not 4.9e-05
    lines << std::fixed << std::setprecision(6) << stat
          << ".p50:" << histogram.quantile(0.5) * scale << "|g\n"
          << stat << ".p99:" << histogram.quantile(0.99) * scale << "|g\n";
    std::cout << lines.str();
  }

 private:
  static std::string stat_name(std::string_view name,
                               std::span<const tiercache::MetricLabel> labels) {
    std::string stat = "tiercache." + std::string(name);
    for (const tiercache::MetricLabel& label : labels) (stat += '.') += label.value;
    return stat;
  }

  std::map<std::string, std::uint64_t> last_counts_;  // each counter at the last interval
};

int main() {
  // Every L1 hit timed (sample_every 1), so a short run has latencies to show.
  auto cache =
      tiercache::Cache::open({.l1 = {.max_bytes = 16 << 20}, .metrics = {.sample_every = 1}});
  if (!cache) {
    std::cerr << "open: " << cache.error().detail << '\n';
    return 1;
  }
  const auto ctx = [] { return tiercache::Context::background().with_timeout(50ms); };
  StatsdLines statsd;
  std::cout.precision(12);  // bytes and counts whole, not 1.67772e+07
  constexpr int kIntervals = 2;
  constexpr auto kInterval = 100ms;
  for (int interval = 0; interval < kIntervals; ++interval) {
    const auto end = std::chrono::steady_clock::now() + kInterval;
    for (int i = 0; i < 1000; ++i) {
      const std::string key = "user:" + std::to_string(i % 300);
      if (auto hit = cache->get(ctx(), key); !hit) {
        if (auto r = cache->set(ctx(), key, "value of " + key); !r)
          std::cerr << "set: " << r.error().detail << '\n';
      }
    }
    std::this_thread::sleep_until(end);
    tiercache::visit(cache->metrics(), statsd);
  }
}
