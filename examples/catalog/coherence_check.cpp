// examples/catalog/coherence_check.cpp — the probes.
#include "examples/catalog/coherence_check.hpp"

#include <algorithm>
#include <condition_variable>
#include <expected>
#include <mutex>

#include "examples/catalog/catalog_client.hpp"
#include "examples/catalog/product.hpp"
#include "examples/catalog/product_generator.hpp"

namespace catalog {
namespace {

using Clock = std::chrono::steady_clock;

// Unexpected answers kept word for word; the rest are counted.
constexpr std::size_t kFailuresKept = 5;

// The version in a 200 answer's product, or what was wrong with the answer.
std::expected<std::int64_t, std::string> version_of(const HttpAnswer& answer, std::int64_t id) {
  if (!answer.answered()) return std::unexpected("no answer: " + answer.error);
  if (answer.status != 200)
    return std::unexpected(std::to_string(answer.status) + " " + answer.body.substr(0, 200));
  const nlohmann::json json = nlohmann::json::parse(answer.body, nullptr, false);
  if (json.is_discarded() || !json.is_object() || json.value("id", std::int64_t{0}) != id ||
      !json.contains("version") || !json["version"].is_number_integer())
    return std::unexpected("not product " + std::to_string(id) + ": " + answer.body.substr(0, 200));
  return json["version"].get<std::int64_t>();
}

// Sleeps until `until` unless `stop` is requested first; returns whether to go on.
bool sleep_until(Clock::time_point until, std::stop_token stop) {
  std::mutex mutex;
  std::condition_variable_any wake;
  std::unique_lock lock(mutex);
  return !wake.wait_until(lock, stop, until, [] { return false; });
}

std::string fields_json(const ProductFields& f) {
  return nlohmann::json{{"name", f.name},
                        {"category", f.category},
                        {"price_cents", f.price_cents},
                        {"stock", f.stock},
                        {"description", f.description}}
      .dump();
}

}  // namespace

std::chrono::nanoseconds CoherenceResult::quantile(double p) const {
  if (seen_after.empty()) return {};
  std::vector<std::chrono::nanoseconds> sorted = seen_after;
  std::sort(sorted.begin(), sorted.end());
  const auto rank = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(rank, sorted.size() - 1)];
}

CoherenceResult run_coherence_check(const CoherenceOptions& options, std::stop_token stop) {
  CoherenceResult result;
  CatalogClient writer("127.0.0.1", options.writer_port, options.request_timeout);
  CatalogClient reader("127.0.0.1", options.reader_port, options.request_timeout);
  const auto failed = [&result](const std::string& what) {
    if (result.failure_count++ < kFailuresKept) result.failures.push_back(what);
  };
  const auto start = Clock::now() + options.start_after;
  for (unsigned k = 0; k < options.probes; ++k) {
    if (!sleep_until(start + k * options.interval, stop)) break;
    const std::int64_t id = 1 + static_cast<std::int64_t>(k) % options.probe_ids;
    const std::string path = "/products/" + std::to_string(id);

    // Twice: the first may be the miss that brings it into the reader's L1.
    (void)reader.get(path);
    const auto before = version_of(reader.get(path), id);
    if (!before) {
      failed("GET " + path + " through the reader: " + before.error());
      continue;
    }
    const auto put =
        writer.put(path, fields_json(changed_fields(id, "coherence probe " + std::to_string(k))));
    const auto put_at = Clock::now();
    const auto written = version_of(put, id);
    if (!written) {
      failed("PUT " + path + " through the writer: " + written.error());
      continue;
    }
    for (;;) {
      const auto now_version = version_of(reader.get(path), id);
      const auto answered_at = Clock::now();
      if (!now_version) {
        failed("GET " + path + " through the reader after the PUT: " + now_version.error());
      } else if (*now_version >= *written) {
        result.seen_after.push_back(answered_at - put_at);
        break;
      } else {
        ++result.stale_reads;
      }
      // A stop ends the probe unjudged: the run is cut short, not incoherent.
      if (stop.stop_requested()) break;
      if (answered_at - put_at > options.give_up) {
        ++result.not_seen;
        break;
      }
    }
  }
  return result;
}

}  // namespace catalog
