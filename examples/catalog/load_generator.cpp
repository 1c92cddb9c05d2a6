// examples/catalog/load_generator.cpp — the client threads, and the once-a-second sampler that
// runs on the caller's thread.
#include "examples/catalog/load_generator.hpp"

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <limits>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>
#include <utility>

#include "examples/catalog/catalog_client.hpp"
#include "examples/catalog/product.hpp"
#include "examples/catalog/product_generator.hpp"
#include "examples/catalog/zipf_ids.hpp"

namespace catalog {
namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

// How often the sampler reads the figures and prints the progress line.
constexpr auto kSamplePeriod = 1s;
// Keeps one client's state off another's cache line.
constexpr std::size_t kCacheLineBytes = 64;
constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// One client thread's state. The sampler reads `requests` live and takes `interval` under
// `mutex`; the rest is the thread's own until it is joined.
struct alignas(kCacheLineBytes) Client {
  std::mutex mutex;
  LatencyHistogram interval;  // guarded by mutex: GETs since the sampler last took it
  // relaxed: the sampler needs some recent count; join orders the final one.
  std::atomic<std::uint64_t> requests{0};
  std::uint64_t gets = 0;
  std::uint64_t puts = 0;
  LatencyHistogram get_latency;
  LatencyHistogram put_latency;
  std::map<std::string, LoadFailure> failures;

  void fail(const std::string& kind, const std::string& detail) {
    LoadFailure& f = failures[kind];
    if (f.count++ == 0) f.first_detail = detail;
  }
};

std::string fields_json(const ProductFields& f) {
  return nlohmann::json{{"name", f.name},
                        {"category", f.category},
                        {"price_cents", f.price_cents},
                        {"stock", f.stock},
                        {"description", f.description}}
      .dump();
}

// The product in an answer's body, or why it is not one.
std::expected<Product, std::string> product_of(const std::string& body) {
  const nlohmann::json json = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) return std::unexpected("not JSON: " + body.substr(0, 80));
  try {
    return json.get<Product>();
  } catch (const std::exception& e) {
    return std::unexpected(std::string("not a product: ") + e.what());
  }
}

// Checks an answer; counts it as a failure of `kind` if it is not the product asked for (and,
// for a PUT, does not hold the name it sent).
void check_answer(Client& c, const char* kind, const HttpAnswer& answer, std::int64_t id,
                  const std::string* sent_name) {
  if (!answer.answered()) return c.fail(std::string(kind) + " no answer", answer.error);
  if (answer.status != 200)
    return c.fail(std::string(kind) + " " + std::to_string(answer.status), answer.body);
  const auto product = product_of(answer.body);
  if (!product) return c.fail(std::string(kind) + " bad body", product.error());
  if (product->id != id || (sent_name != nullptr && product->name != *sent_name))
    c.fail(std::string(kind) + " wrong product",
           "asked for " + std::to_string(id) + ", got " + answer.body.substr(0, 120));
}

// `measuring` turns true when the warm-up ends: from then on the client counts its requests.
void run_client(std::stop_token stop, const LoadOptions& options, const ZipfIds& ids,
                const std::atomic<bool>& measuring, unsigned index, Client& c) {
  CatalogClient http("127.0.0.1", options.ports[index % options.ports.size()],
                     options.request_timeout);
  std::mt19937_64 rng(options.seed + index);
  std::uniform_int_distribution<unsigned> percent(0, 99);
  // With the thread's index in the name, two threads never send the same one.
  std::uint64_t changes = 0;
  std::uint64_t requests = 0;  // warm-up included: the progress line's
  while (!stop.stop_requested()) {
    const std::int64_t id = ids.pick(rng);
    const bool put = percent(rng) < options.put_percent && id > options.reserved_ids;
    const std::string path = "/products/" + std::to_string(id);
    if (put) {
      const ProductFields fields = changed_fields(
          id, "client " + std::to_string(index) + ", change " + std::to_string(++changes));
      const std::string body = fields_json(fields);
      const auto start = Clock::now();
      const HttpAnswer answer = http.put(path, body);
      const auto took = Clock::now() - start;
      if (measuring.load(std::memory_order_relaxed)) {
        ++c.puts;
        c.put_latency.record(took);
      }
      check_answer(c, "PUT", answer, id, &fields.name);
    } else {
      const auto start = Clock::now();
      const HttpAnswer answer = http.get(path);
      const auto took = Clock::now() - start;
      if (measuring.load(std::memory_order_relaxed)) {
        ++c.gets;
        c.get_latency.record(took);
      }
      {
        const std::lock_guard lock(c.mutex);
        c.interval.record(took);
      }
      check_answer(c, "GET", answer, id, nullptr);
    }
    c.requests.store(++requests, std::memory_order_relaxed);
  }
}

// Reads every service's /metrics and sums them.
class MetricsReader {
 public:
  MetricsReader(const std::vector<std::uint16_t>& ports, std::chrono::milliseconds timeout) {
    for (const std::uint16_t port : ports)
      clients_.push_back(std::make_unique<CatalogClient>("127.0.0.1", port, timeout));
  }

  std::expected<ServiceMetrics, std::string> read() {
    ServiceMetrics sum;
    for (const auto& client : clients_) {
      const HttpAnswer answer = client->get("/metrics");
      if (answer.status != 200)
        return std::unexpected(
            "GET /metrics: " +
            (answer.answered() ? std::to_string(answer.status) + " " + answer.body.substr(0, 200)
                               : "no answer: " + answer.error));
      auto one = parse_service_metrics(answer.body);
      if (!one) return std::unexpected(std::move(one.error()));
      sum += *one;
    }
    return sum;
  }

 private:
  std::vector<std::unique_ptr<CatalogClient>> clients_;
};

std::string percent_text(double ratio) {
  if (std::isnan(ratio)) return "    -  ";
  std::ostringstream out;
  out << std::fixed << std::setprecision(1) << std::setw(5) << 100 * ratio << " %";
  return out.str();
}

std::string ms_text(double ms) {
  if (std::isnan(ms)) return "     - ms";
  std::ostringstream out;
  out << std::fixed << std::setprecision(2) << std::setw(6) << ms << " ms";
  return out.str();
}

// The once-a-second line; on a terminal it rewrites itself, in a log it appends.
class ProgressLine {
 public:
  explicit ProgressLine(std::string phase)
      : phase_(std::move(phase)), rewrite_(isatty(STDERR_FILENO) == 1) {}

  void print(const LoadSample& s) {
    std::ostringstream line;
    line << std::left << std::setw(9) << phase_ << std::right << std::fixed << std::setprecision(0)
         << std::setw(4) << s.elapsed_seconds << " s " << std::setw(8) << s.requests_per_second
         << " req/s   L1 hit " << percent_text(s.l1_hit_ratio) << "   L2 hit "
         << percent_text(s.l2_hit_ratio) << "   origin " << std::setw(7)
         << s.origin_reads_per_second << " reads/s   GET p99 " << ms_text(s.get_p99_ms);
    std::cerr << (rewrite_ ? "\r" : "") << line.str() << (rewrite_ ? "\x1b[K" : "\n") << std::flush;
    printed_ = true;
  }

  // Leaves a terminal's cursor on a fresh line, below the last progress line.
  void finish() {
    if (rewrite_ && printed_) std::cerr << '\n' << std::flush;
  }

 private:
  std::string phase_;
  bool rewrite_;
  bool printed_ = false;
};

double seconds_between(Clock::time_point from, Clock::time_point to) {
  return std::chrono::duration<double>(to - from).count();
}

}  // namespace

std::uint64_t LoadResult::failed() const {
  std::uint64_t n = 0;
  for (const auto& [kind, f] : failures) n += f.count;
  return n;
}

double LoadResult::requests_per_second() const {
  return seconds > 0 ? static_cast<double>(gets + puts) / seconds : 0;
}

LoadResult run_load(const LoadOptions& options, StopSignals& stop) {
  const ZipfIds ids(options.products, options.zipf_exponent);
  LoadResult result;
  MetricsReader metrics(options.ports, options.request_timeout);

  // relaxed: a client may count a request that ended a moment after the warm-up, or miss one;
  // one request either way.
  std::atomic<bool> measuring = options.warmup.count() == 0;
  std::vector<Client> clients(options.threads);
  std::vector<std::jthread> threads;
  threads.reserve(options.threads);
  for (unsigned i = 0; i < options.threads; ++i)
    threads.emplace_back(run_client, std::cref(options), std::cref(ids), std::cref(measuring), i,
                         std::ref(clients[i]));

  std::uint64_t last_requests = 0;
  // Samples once a second until `end` (or a stop signal): the progress line, and, once
  // measuring, result.samples with their time since `from`. Answers the last /metrics reading.
  const auto sample_until = [&](ProgressLine& progress, Clock::time_point from,
                                Clock::time_point end, ServiceMetrics last_metrics, bool keep) {
    auto last_time = from;
    LatencyHistogram interval;
    for (auto tick = from + kSamplePeriod;; tick += kSamplePeriod) {
      result.stopped_by = stop.wait_until(std::min(tick, end));
      if (result.stopped_by != 0) break;
      const auto now = Clock::now();
      std::uint64_t requests = 0;
      interval.clear();
      for (Client& c : clients) {
        requests += c.requests.load(std::memory_order_relaxed);
        const std::lock_guard lock(c.mutex);
        interval.merge(c.interval);
        c.interval.clear();
      }
      const double period = seconds_between(last_time, now);
      LoadSample sample{
          .elapsed_seconds = seconds_between(from, now),
          .requests_per_second = static_cast<double>(requests - last_requests) / period,
          .get_p99_ms = interval.count() == 0 ? kNaN : interval.percentile(0.99).count() / 1e6,
          .l1_hit_ratio = kNaN,
          .l2_hit_ratio = kNaN,
          .origin_reads_per_second = kNaN};
      if (const auto m = metrics.read(); m) {
        const ServiceMetrics delta = m->since(last_metrics);
        sample.l1_hit_ratio = delta.l1_hit_ratio();
        sample.l2_hit_ratio = delta.l2_hit_ratio();
        sample.origin_reads_per_second = static_cast<double>(delta.origin_reads) / period;
        last_metrics = *m;
      } else if (result.metrics_error.empty()) {
        result.metrics_error = m.error();
      }
      if (keep) result.samples.push_back(sample);
      progress.print(sample);
      last_requests = requests;
      last_time = now;
      if (now >= end) break;
    }
    progress.finish();
  };

  if (options.warmup.count() > 0) {
    ProgressLine warming(options.phase + " warm-up");
    const auto began = Clock::now();
    const auto first = metrics.read();
    if (!first) result.metrics_error = first.error();
    sample_until(warming, began, began + options.warmup, first.value_or(ServiceMetrics{}),
                 /*keep=*/false);
  }
  const auto start = Clock::now();
  const auto first = metrics.read();
  if (!first && result.metrics_error.empty()) result.metrics_error = first.error();
  // Counted from here: the clients' requests and latencies, the samples, the services' counters.
  measuring.store(true, std::memory_order_relaxed);
  if (result.stopped_by == 0) {
    ProgressLine progress(options.phase);
    sample_until(progress, start, start + options.duration, first.value_or(ServiceMetrics{}),
                 /*keep=*/true);
  }
  for (std::jthread& t : threads) t.request_stop();
  for (std::jthread& t : threads) t.join();
  result.seconds = seconds_between(start, Clock::now());

  for (Client& c : clients) {
    result.gets += c.gets;
    result.puts += c.puts;
    result.get_latency.merge(c.get_latency);
    result.put_latency.merge(c.put_latency);
    for (const auto& [kind, f] : c.failures) {
      LoadFailure& mine = result.failures[kind];
      if (mine.count == 0) mine.first_detail = f.first_detail;
      mine.count += f.count;
    }
  }
  if (const auto last = metrics.read(); last && first) {
    result.services = last->since(*first);
  } else if (result.metrics_error.empty()) {
    result.metrics_error = last ? first.error() : last.error();
  }
  return result;
}

}  // namespace catalog
