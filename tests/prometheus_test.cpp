// The Prometheus exposition (tiercache/prometheus.hpp) and the walk behind it (visit()): names,
// histogram buckets, constant labels, refused options, and promtool's verdict on a real cache's
// text. Also keeps docs/metrics.example.prom current: TIERCACHE_WRITE_METRICS_EXAMPLE=1 rewrites
// it from the run with Redis; every run checks the committed file against a fresh exposition.
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/promtool.hpp"
#include "tests/support/redis_cache.hpp"
#include "tiercache/prometheus.hpp"

using tiercache::Cache;
using tiercache::Context;
using tiercache::errc;
using tiercache::Histogram;
using tiercache::Loaded;
using tiercache::Metrics;
using tiercache::PrometheusOptions;
using tiercache::Result;
using namespace std::chrono_literals;

namespace {

// Where the committed example lives, from the repository root (where make test runs the suite).
const char* const kExamplePath = "docs/metrics.example.prom";

// Calls of every kind: hits and misses, loads (one absent, one failing), batches, purges.
void drive_traffic(Cache& cache) {
  const auto ctx = [] { return test::ctx_with_timeout(5s); };
  for (int i = 0; i < 200; ++i) REQUIRE(cache.set(ctx(), "k" + std::to_string(i), "value"));
  for (int i = 0; i < 300; ++i) (void)cache.get(ctx(), "k" + std::to_string(i));
  const tiercache::Loader loader = [](const Context&, std::string_view key) -> Result<Loaded> {
    if (key == "user:absent") return Loaded::absent();
    if (key == "user:broken") return tiercache::fail(errc::backend_error, "origin down");
    return "loaded " + std::string(key);
  };
  for (int i = 0; i < 20; ++i)
    REQUIRE(cache.get_or_load(ctx(), "user:" + std::to_string(i), loader));
  for (int i = 0; i < 20; ++i)
    REQUIRE(cache.get_or_load(ctx(), "user:" + std::to_string(i), loader));
  CHECK(cache.get_or_load(ctx(), "user:absent", loader).error() == errc::not_found);
  CHECK(cache.get_or_load(ctx(), "user:broken", loader).error() == errc::backend_error);
  const std::string_view keys[] = {"k1", "k2", "k250", "batch:1", "batch:2"};
  REQUIRE(cache.get_many(ctx(), keys));
  REQUIRE(cache.get_or_load_many(
      ctx(), keys, [](const Context&, std::span<const std::string_view> missing) {
        return Result<std::vector<Result<Loaded>>>(
            std::vector<Result<Loaded>>(missing.size(), Result<Loaded>("batch loaded")));
      }));
  const std::pair<std::string_view, std::string_view> entries[] = {{"m1", "a"}, {"m2", "b"}};
  REQUIRE(cache.set_many(ctx(), entries));
  for (int i = 0; i < 10; ++i) REQUIRE(cache.purge(ctx(), "k" + std::to_string(i)));
  REQUIRE(cache.flush(ctx()));
}

std::string exposition(const Metrics& m, const PrometheusOptions& options = {}) {
  Result<std::string> text = tiercache::to_prometheus(m, options);
  if (!text) FAIL("to_prometheus: " << text.error().detail);
  return *text;
}

void require_promtool_passes(const std::string& text) {
  const test::PromtoolVerdict verdict = test::promtool_check_metrics(text);
  INFO("promtool said:\n" << verdict.output);
  CHECK(verdict.exit_status == 0);
  CHECK(verdict.output.empty());
}

// Sample lines by series (name and labels), each with its value.
std::map<std::string, std::string> samples_of(const std::string& text) {
  std::map<std::string, std::string> samples;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.empty() || line[0] == '#') continue;
    const auto space = line.rfind(' ');
    REQUIRE(space != std::string::npos);
    const bool fresh = samples.emplace(line.substr(0, space), line.substr(space + 1)).second;
    INFO(line);
    CHECK(fresh);
  }
  return samples;
}

// Every line with its value cut off: what a run with other traffic would print alike.
std::vector<std::string> shape_of(const std::string& text) {
  std::vector<std::string> shape;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    shape.push_back(line.starts_with('#') ? line : line.substr(0, line.rfind(' ')));
  return shape;
}

std::uint64_t count_value(const std::map<std::string, std::string>& samples,
                          const std::string& series) {
  const auto it = samples.find(series);
  if (it == samples.end()) FAIL("no sample " << series);
  return std::stoull(it->second);
}

// Checks that every histogram series of `text` has cumulative buckets ending in le="+Inf" equal
// to its _count.
void check_histograms_cumulative(const std::string& text) {
  std::istringstream in(text);
  std::string series;  // the bucket series being read, without its le
  std::uint64_t last = 0;
  int histograms = 0;
  for (std::string line; std::getline(in, line);) {
    const auto le = line.find("le=\"");
    if (line[0] == '#' || le == std::string::npos) continue;
    const std::string without_le = line.substr(0, le);
    const std::uint64_t count = std::stoull(line.substr(line.rfind(' ') + 1));
    if (without_le != series) {
      series = without_le;
      last = 0;
    }
    INFO(line);
    CHECK(count >= last);
    last = count;
    if (line.find("le=\"+Inf\"") != std::string::npos) {
      // name_bucket{...,le="+Inf"} against name_count{...}.
      std::string count_series = series;
      count_series.replace(count_series.find("_bucket{"), 8, "_count{");
      if (count_series.ends_with(',')) count_series.pop_back();
      if (count_series.ends_with('{'))
        count_series.pop_back();
      else
        count_series += '}';
      CHECK(count == count_value(samples_of(text), count_series));
      ++histograms;
    }
  }
  CHECK(histograms == 17 + 4);  // call_duration's (call, tier) pairs and the other four
}

class FamilyRecorder final : public tiercache::MetricsVisitor {
 public:
  struct Family {
    std::string name;
    tiercache::MetricType type;
    std::vector<std::string> samples;  // their labels, "a=b,c=d"
  };
  std::vector<Family> families;

  void begin_family(const tiercache::MetricFamily& f) override {
    CHECK_FALSE(f.help.empty());
    families.push_back({std::string(f.name), f.type, {}});
  }
  void counter(const tiercache::MetricFamily& f, std::span<const tiercache::MetricLabel> labels,
               std::uint64_t) override {
    add(f, labels, tiercache::MetricType::counter);
  }
  void gauge(const tiercache::MetricFamily& f, std::span<const tiercache::MetricLabel> labels,
             double) override {
    add(f, labels, tiercache::MetricType::gauge);
  }
  void histogram(const tiercache::MetricFamily& f, std::span<const tiercache::MetricLabel> labels,
                 const Histogram&) override {
    add(f, labels, tiercache::MetricType::histogram);
  }

 private:
  void add(const tiercache::MetricFamily& f, std::span<const tiercache::MetricLabel> labels,
           tiercache::MetricType type) {
    REQUIRE(!families.empty());
    CHECK(families.back().name == f.name);  // within the family begun last
    CHECK(families.back().type == type);
    std::string text;
    for (const auto& label : labels)
      text += std::string(label.name) + "=" + std::string(label.value) + ",";
    families.back().samples.push_back(text);
  }
};

}  // namespace

TEST_CASE("Op and Tier name themselves as the metrics label them", "[metrics-expo]") {
  using tiercache::Op;
  using tiercache::Tier;
  CHECK(std::string(tiercache::to_string(Op::get)) == "get");
  CHECK(std::string(tiercache::to_string(Op::get_or_load_many)) == "get_or_load_many");
  CHECK(std::string(tiercache::to_string(Op::flush)) == "flush");
  CHECK(std::string(tiercache::to_string(Tier::l1)) == "l1");
  CHECK(std::string(tiercache::to_string(Tier::origin)) == "origin");
}

TEST_CASE("visit walks each family once with its samples together and every error code",
          "[metrics-expo]") {
  FamilyRecorder recorder;
  tiercache::visit(Metrics{}, recorder);
  std::set<std::string> names;
  std::map<std::string, const FamilyRecorder::Family*> by_name;
  for (const auto& f : recorder.families) {
    INFO(f.name);
    CHECK(names.insert(f.name).second);
    CHECK(f.name.ends_with("_total") == (f.type == tiercache::MetricType::counter));
    by_name[f.name] = &f;
  }
  CHECK(recorder.families.size() == 36 + 9 + 5);
  CHECK(recorder.families.front().name == "hits_total");
  CHECK(by_name.at("hits_total")->samples == std::vector<std::string>{"tier=l1,", "tier=l2,"});
  CHECK(by_name.at("l2_errors_total")->samples.size() == 10);
  CHECK(by_name.at("l2_errors_total")->samples.front() == "code=not_found,");
  CHECK(by_name.at("write_errors_total")->samples.back() == "code=buffer_too_small,");
  const auto& calls = by_name.at("call_duration_seconds")->samples;
  CHECK(calls.size() == 17);
  CHECK(calls.front() == "op=get,tier=l1,");
  CHECK(calls.back() == "op=flush,tier=l2,");
  CHECK(by_name.at("l2_up")->samples == std::vector<std::string>{""});
}

TEST_CASE("the exposition of an L1-only cache after traffic passes promtool check metrics",
          "[metrics-expo]") {
  Cache cache = test::open_cache({.negative_ttl = 1s, .metrics = {.sample_every = 1}});
  drive_traffic(cache);
  const Metrics m = cache.metrics();
  const std::string text = exposition(m);
  require_promtool_passes(text);
  check_histograms_cumulative(text);

  const auto samples = samples_of(text);
  CHECK(count_value(samples, "tiercache_hits_total{tier=\"l1\"}") == m.stats.l1_hits);
  CHECK(count_value(samples, "tiercache_misses_total{tier=\"l1\"}") == m.stats.l1_misses);
  CHECK(count_value(samples, "tiercache_sets_total") == m.stats.sets);
  CHECK(count_value(samples, "tiercache_loads_total") == m.stats.loads);
  CHECK(count_value(samples, "tiercache_load_failures_total") == 1);
  CHECK(count_value(samples, "tiercache_negative_loads_total") == 1);
  CHECK(count_value(samples, "tiercache_purges_total") == 10);
  CHECK(count_value(samples, "tiercache_l2_errors_total{code=\"timeout\"}") == 0);
  CHECK(samples.at("tiercache_l2_up") == "1");
  CHECK(samples.at("tiercache_entries") == std::to_string(m.stats.entries));
  CHECK(count_value(samples,
                    "tiercache_call_duration_seconds_count{op=\"get_or_load\",tier=\"origin\"}") ==
        22);
  CHECK(text.find("# HELP tiercache_hits_total Keys a tier answered") != std::string::npos);
  CHECK(text.find("# TYPE tiercache_call_duration_seconds histogram\n") != std::string::npos);
}

TEST_CASE("the exposition with Redis as L2 passes promtool and matches docs/metrics.example.prom",
          "[metrics-expo][redis]") {
  test::RedisServer redis;
  std::string text;
  {
    // Values another instance wrote: this cache's L1 is empty, so it reads them from Redis.
    Cache other = test::open_cache(redis);
    for (int i = 0; i < 50; ++i)
      REQUIRE(other.set(test::ctx(), "shared:" + std::to_string(i), "v"));
    REQUIRE(other.flush(test::ctx_with_timeout(5s)));

    Cache cache = test::open_cache(redis, {.negative_ttl = 1s, .metrics = {.sample_every = 1}});
    for (int i = 0; i < 50; ++i)
      REQUIRE(cache.get(test::ctx_with_timeout(5s), "shared:" + std::to_string(i)) == "v");
    drive_traffic(cache);
    const Metrics m = cache.metrics();
    CHECK(m.stats.l2_hits == 50);
    CHECK(m.l2_reads.count() >= 50 + 100);  // one per get past L1, one per batch
    // One per loader call; loads_total counts each key of the batch loader's call.
    CHECK(m.loads.count() == m.stats.loads - 3 + 1);
    CHECK(m.calls[0][1].count() == 50 + 100);  // get, reaching L2: shared:*, and k200..k299
    CHECK(m.stats.write_batches > 0);
    CHECK(m.write_batch_sizes.count() == m.stats.write_batches);
    CHECK(m.write_batch_sizes.sum() == m.stats.writes_sent);
    text = exposition(m, {.const_labels = {{"service", "example"}}});
    const auto samples = samples_of(text);
    CHECK(count_value(samples, "tiercache_hits_total{service=\"example\",tier=\"l2\"}") == 50);
    CHECK(count_value(samples, "tiercache_write_batch_size_count{service=\"example\"}") ==
          m.stats.write_batches);
    CHECK(count_value(samples, "tiercache_writes_sent_total{service=\"example\"}") ==
          m.stats.writes_sent);
    CHECK(samples.at("tiercache_l2_up{service=\"example\"}") == "1");
  }
  require_promtool_passes(text);
  check_histograms_cumulative(text);

  if (const char* write = std::getenv("TIERCACHE_WRITE_METRICS_EXAMPLE"); write && *write == '1')
    std::ofstream(kExamplePath, std::ios::binary) << text;
  std::ifstream committed_file(kExamplePath, std::ios::binary);
  INFO(kExamplePath << " is read from the repository root, where make test runs the suite");
  REQUIRE(committed_file);
  std::ostringstream committed;
  committed << committed_file.rdbuf();
  require_promtool_passes(committed.str());
  // The same families, series and order: the example shows what a scrape of this version gives.
  INFO(
      "rewrite it: TIERCACHE_WRITE_METRICS_EXAMPLE=1 build/release/tiercache_tests "
      "'[metrics-expo][redis]'");
  CHECK(shape_of(committed.str()) == shape_of(text));
}

TEST_CASE("histogram buckets count exactly the values at most each power of two",
          "[metrics-expo]") {
  Metrics m;
  m.l2_reads.record(31);
  m.l2_reads.record(32);
  m.l2_reads.record(33);
  // Past the last bound (2^35 ns) and past what Histogram tracks (2^36): +Inf and the sum only.
  m.loads.record(std::uint64_t{1} << 35);
  m.loads.record((std::uint64_t{1} << 35) + 1);
  m.loads.record(std::uint64_t{1} << 40);
  m.write_batch_sizes.record(1);
  m.write_batch_sizes.record(2);
  m.write_batch_sizes.record(3);
  m.write_batch_sizes.record(100000);
  const std::string text = exposition(m, {.prefix = ""});
  const auto s = samples_of(text);
  CHECK(s.at("l2_read_duration_seconds_bucket{le=\"3.2e-08\"}") == "2");
  CHECK(s.at("l2_read_duration_seconds_bucket{le=\"6.4e-08\"}") == "3");
  CHECK(s.at("l2_read_duration_seconds_bucket{le=\"34.359738368\"}") == "3");
  CHECK(s.at("l2_read_duration_seconds_bucket{le=\"+Inf\"}") == "3");
  CHECK(s.at("l2_read_duration_seconds_sum") == "9.6e-08");
  CHECK(s.at("l2_read_duration_seconds_count") == "3");
  CHECK(s.at("load_duration_seconds_bucket{le=\"17.179869184\"}") == "0");
  CHECK(s.at("load_duration_seconds_bucket{le=\"34.359738368\"}") == "1");
  CHECK(s.at("load_duration_seconds_bucket{le=\"+Inf\"}") == "3");
  CHECK(
      std::stod(s.at("load_duration_seconds_sum")) ==
      Approx(static_cast<double>((std::uint64_t{1} << 36) + 1 + (std::uint64_t{1} << 40)) * 1e-9));
  CHECK(s.at("write_batch_size_bucket{le=\"1\"}") == "1");
  CHECK(s.at("write_batch_size_bucket{le=\"2\"}") == "2");
  CHECK(s.at("write_batch_size_bucket{le=\"4\"}") == "3");
  CHECK(s.at("write_batch_size_bucket{le=\"16384\"}") == "3");
  CHECK(s.at("write_batch_size_bucket{le=\"+Inf\"}") == "4");
  CHECK(s.at("write_batch_size_sum") == "100006");
  CHECK(s.at("write_batch_size_count") == "4");
  CHECK(s.count("write_batch_size_bucket{le=\"32768\"}") == 0);
  // Every bound of a duration family, 2^5 .. 2^35 ns, and +Inf.
  int duration_buckets = 0;
  for (const auto& [series, value] : s)
    if (series.starts_with("l2_read_duration_seconds_bucket")) ++duration_buckets;
  CHECK(duration_buckets == 31 + 1);
  check_histograms_cumulative(text);
  require_promtool_passes(text);
}

TEST_CASE("constant labels are escaped and come first on every sample", "[metrics-expo]") {
  const PrometheusOptions options{
      .prefix = "app_cache_",
      .const_labels = {{"service", "a\"b\\c\nd"}, {"instance", "h\xc3\xa9te:9464"}}};
  const std::string text = exposition(Metrics{}, options);
  const std::string first = R"({service="a\"b\\c\nd",instance="h)"
                            "\xc3\xa9"
                            R"(te:9464")";
  std::istringstream in(text);
  int samples = 0;
  for (std::string line; std::getline(in, line);) {
    INFO(line);
    if (line.starts_with('#')) {
      CHECK((line.starts_with("# HELP app_cache_") || line.starts_with("# TYPE app_cache_")));
      continue;
    }
    ++samples;
    CHECK(line.starts_with("app_cache_"));
    const auto brace = line.find('{');
    REQUIRE(brace != std::string::npos);
    CHECK(line.compare(brace, first.size(), first) == 0);
  }
  CHECK(samples > 600);
  CHECK(text.find(first + ",tier=\"l1\"} 0\n") != std::string::npos);
  CHECK(text.find(first + ",op=\"get\",tier=\"l1\",le=\"3.2e-08\"} 0\n") != std::string::npos);
  require_promtool_passes(text);
}

TEST_CASE("a bad prefix or constant label is invalid_argument naming it, and no text",
          "[metrics-expo]") {
  const auto refused = [](const PrometheusOptions& options, const std::string& named) {
    const Result<std::string> text = tiercache::to_prometheus(Metrics{}, options);
    REQUIRE_FALSE(text);
    CHECK(text.error() == errc::invalid_argument);
    INFO(text.error().detail);
    CHECK(text.error().detail.find(named) != std::string::npos);
  };
  refused({.prefix = "1cache_"}, "1cache_");
  refused({.prefix = "my-cache_"}, "my-cache_");
  refused({.prefix = "my cache"}, "my cache");
  refused({.const_labels = {{"", "x"}}}, "\"\"");
  refused({.const_labels = {{"9lives", "x"}}}, "9lives");
  refused({.const_labels = {{"data:center", "x"}}}, "data:center");
  refused({.const_labels = {{"__name__", "x"}}}, "__name__");
  for (const char* own : {"tier", "op", "code", "le"}) refused({.const_labels = {{own, "x"}}}, own);
  refused({.const_labels = {{"service", "a"}, {"region", "b"}, {"service", "c"}}}, "service");
  refused({.const_labels = {{"service", "bad\xff"}}}, "service");
  refused({.const_labels = {{"service", "overlong\xc0\xaf"}}}, "service");

  CHECK(tiercache::to_prometheus(Metrics{}, {.prefix = ""}));
  CHECK(tiercache::to_prometheus(Metrics{}, {.prefix = "ns:sub_"}));
  CHECK(tiercache::to_prometheus(Metrics{}, {.const_labels = {{"_x9", ""}}}));
}
