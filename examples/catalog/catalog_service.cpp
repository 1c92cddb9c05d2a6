// examples/catalog/catalog_service.cpp — CatalogService on httplib::Server. Compiled with
// `pkg-config --cflags cpp-httplib` (the Makefile's rule for examples/catalog/), which Debian's
// build of libcpp-httplib.so needs its users to share.
//
// Handlers run on the server's workers and share the Impl: the database (its own pool), the
// cache (any number of threads) and atomic counters. The destructor stops the server, which
// joins its workers, before anything they use is destroyed.
#include "examples/catalog/catalog_service.hpp"

#include <netdb.h>
#include <sys/socket.h>

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <future>
#include <iomanip>
#include <sstream>
#include <thread>
#include <type_traits>
#include <utility>

#include "examples/catalog/catalog_db.hpp"
#include "examples/catalog/product.hpp"
#include "examples/catalog/product_request.hpp"
#include "tiercache/codecs/json.hpp"
#include "tiercache/prometheus.hpp"
#include "tiercache/typed_cache.hpp"

namespace catalog {
namespace {

using namespace std::chrono_literals;
using ProductCache = tiercache::TypedCache<tiercache::JsonCodec<Product>>;

// How long the cache may take to reach Redis at start: a Redis that is down fails the start.
constexpr auto kL2ReadyTimeout = 2s;
// How often the start asks again while Redis is not ready, and the key it reads to ask.
constexpr auto kL2ReadyPoll = 10ms;
constexpr std::string_view kReachabilityKey = "reachability-check";
// How long closing the cache may wait for its queued writes to reach Redis.
constexpr auto kCloseTimeout = 5s;
// Longest JSON a product may take in the cache: a PUT at every field's bound, every byte
// escaped, fits.
constexpr std::size_t kMaxValueBytes = std::size_t{64} << 10;
// A typical entry's key and JSON, which sizes L1's index up front.
constexpr std::size_t kExpectedEntryBytes = 400;
// Largest request body taken; a larger one is answered 413 unread.
constexpr std::size_t kMaxBodyBytes = std::size_t{64} << 10;
// Requests one keep-alive connection may carry (httplib's default, 5, would reconnect the
// load generator every fifth request).
constexpr std::size_t kKeepAliveMaxRequests = std::size_t{1} << 30;
// How long an idle keep-alive connection holds its worker; also how long stopping the server
// may wait for one.
constexpr auto kKeepAliveIdle = 2s;
// A client that stalls mid-request or mid-answer loses its worker after this.
constexpr auto kSocketTimeout = 5s;
// How long the destructor waits for the listener before it asks it to stop again: httplib's
// stop() does nothing until the listener has marked itself running.
constexpr auto kStopRetry = 10ms;
// Products one SELECT of warm_cache() reads; the cache's write queue holds them all
// (WriterOptions.queue_max_ops) until the flush that follows.
constexpr std::int64_t kWarmRangeIds = 1000;
// How long warm_cache() waits for one range to reach Redis.
constexpr auto kWarmFlushTimeout = 10s;
// Sets one PUT makes while later PUTs of its product keep moving the row; then it purges.
constexpr unsigned kMaxSetsPerPut = 3;
constexpr const char* kJsonType = "application/json";
constexpr std::string_view kKeyStem = "product:";

std::string product_key(std::int64_t id) {
  return std::string(kKeyStem) + std::to_string(id);
}

// `url` without its user and password, if it has any, fit for a message.
std::string url_for_log(const std::string& url) {
  const std::size_t at = url.rfind('@');
  const std::size_t scheme_end = url.find("://");
  if (at == std::string::npos || scheme_end == std::string::npos || at < scheme_end) return url;
  return url.substr(0, scheme_end + 3) + "***" + url.substr(at);
}

// {"error": text}, so that every answer of the service is JSON.
void answer_error(httplib::Response& res, int status, const std::string& text) {
  res.status = status;
  res.set_content(nlohmann::json{{"error", text}}.dump(), kJsonType);
}

void answer_product(httplib::Response& res, const Product& product) {
  res.status = 200;
  res.set_content(nlohmann::json(product).dump(), kJsonType);
}

// What a failed cache call means for the client.
void answer_failure(httplib::Response& res, const tiercache::Error& error) {
  if (error == tiercache::errc::timeout)
    return answer_error(res, 504, "timed out: " + error.detail);
  answer_error(res, 503, error.code.message() + ": " + error.detail);
}

std::string escaped_label(const std::string& value) {
  std::string out;
  for (const char c : value) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

// A counter family of one sample; integers as integers, seconds with nanosecond digits.
template <class Value>
void append_counter(std::string& text, const char* name, const char* help,
                    const std::string& labels, Value value) {
  std::ostringstream sample;
  if constexpr (std::is_floating_point_v<Value>) {
    sample << std::fixed << std::setprecision(9) << value;
  } else {
    sample << value;
  }
  text += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " counter\n" + name +
          "{" + labels + "} " + sample.str() + "\n";
}

}  // namespace

struct CatalogService::Impl {
  explicit Impl(ServiceOptions o) : options(std::move(o)) {}

  ~Impl() {
    if (listener.joinable()) {
      while (listener_done.wait_for(kStopRetry) != std::future_status::ready) server.stop();
      listener.join();
    }
    // Every handler has returned; the cache's queued writes go to Redis before it closes.
    if (cache) (void)cache->close(tiercache::Context::background().with_timeout(kCloseTimeout));
  }

  std::expected<void, std::string> open_cache() {
    loader = [db = db.get()](const tiercache::Context&,
                             std::string_view key) -> tiercache::Result<Product> {
      const auto id = parse_product_id(key.substr(kKeyStem.size()));
      if (!id) return tiercache::fail(tiercache::errc::invalid_argument, id.error());
      auto row = db->read(*id);
      if (!row) return tiercache::fail(tiercache::errc::backend_error, row.error());
      if (!*row) return tiercache::fail(tiercache::errc::not_found, "no product ", *id);
      return std::move(**row);
    };
    auto opened = ProductCache::open(
        {.l1 = {.max_bytes = options.l1_max_bytes,
                .max_value_bytes = kMaxValueBytes,
                .expected_entry_bytes = kExpectedEntryBytes},
         .redis = {.url = options.redis_url,
                   .key_prefix = options.redis_key_prefix + db->generation() + ":"},
         .writer = {.mode = tiercache::WriteMode::async},
         .default_ttl = options.ttl,
         .negative_ttl = options.negative_ttl});
    if (!opened) return std::unexpected("cannot open the cache: " + opened.error().detail);
    cache.emplace(std::move(*opened));
    return await_redis();
  }

  // Waits until Redis answers a read (not_found is an answer) and the cache hears its changes,
  // so that a Redis that is down fails the start, within kL2ReadyTimeout, rather than every
  // request afterwards.
  std::expected<void, std::string> await_redis() {
    const auto deadline = std::chrono::steady_clock::now() + kL2ReadyTimeout;
    const tiercache::Context ctx = tiercache::Context::background().with_deadline(deadline);
    std::string why;
    for (;;) {
      const auto read = cache->bytes().get(ctx, kReachabilityKey);
      if (!read && read.error() != tiercache::errc::not_found) {
        why = read.error().code.message() + ": " + read.error().detail;
      } else if (!cache->stats().l2_coherent) {
        why = "the invalidation stream is not established";
      } else {
        return {};
      }
      if (std::chrono::steady_clock::now() >= deadline)
        return std::unexpected("cannot reach Redis at " + url_for_log(options.redis_url) +
                               " within " + std::to_string(kL2ReadyTimeout.count()) + " s: " + why);
      std::this_thread::sleep_for(kL2ReadyPoll);
    }
  }

  std::expected<void, std::string> listen() {
    const std::size_t threads = options.http_threads;
    server.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    server.set_keep_alive_max_count(kKeepAliveMaxRequests);
    server.set_keep_alive_timeout(kKeepAliveIdle.count());
    server.set_read_timeout(kSocketTimeout);
    server.set_write_timeout(kSocketTimeout);
    server.set_payload_max_length(kMaxBodyBytes);
    server.set_tcp_nodelay(true);
    // SO_REUSEADDR only: httplib's default adds SO_REUSEPORT, with which a second instance given
    // the same port would bind it too and take half of the other's connections.
    server.set_socket_options([](socket_t sock) {
      const int yes = 1;
      ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    route();

    const int port =
        options.port == 0
            ? server.bind_to_any_port(options.address, AI_NUMERICHOST)
            : (server.bind_to_port(options.address, options.port, AI_NUMERICHOST) ? options.port
                                                                                  : -1);
    if (port <= 0)
      return std::unexpected("cannot listen on " + options.address + ":" +
                             std::to_string(options.port));
    bound_port = static_cast<std::uint16_t>(port);
    std::promise<void> done;
    listener_done = done.get_future();
    listener = std::thread([this, done = std::move(done)]() mutable {
      server.listen_after_bind();
      done.set_value();
    });
    return {};
  }

  void route() {
    const std::string product_path = R"(/products/([^/]*))";
    server.Get(product_path, [this](const httplib::Request& req, httplib::Response& res) {
      get_product(req.matches[1].str(), res);
    });
    server.Put(product_path, [this](const httplib::Request& req, httplib::Response& res) {
      put_product(req.matches[1].str(), req.body, res);
    });
    const auto not_allowed = [](const httplib::Request& req, httplib::Response& res) {
      res.set_header("Allow", "GET, PUT");
      answer_error(res, 405, req.method + " is not served on " + req.path + "; GET and PUT are");
    };
    server.Post(product_path, not_allowed);
    server.Delete(product_path, not_allowed);
    server.Patch(product_path, not_allowed);
    server.Get("/metrics",
               [this](const httplib::Request&, httplib::Response& res) { serve_metrics(res); });
    // Statuses httplib sets itself (no route, a body too large, a malformed request) get a
    // message too.
    server.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
      if (!res.body.empty()) return;
      if (res.status == 404)
        return answer_error(res, 404,
                            "no route " + req.method + " " + req.path +
                                "; served: GET and PUT /products/{id}, GET /metrics");
      if (res.status == 413)
        return answer_error(res, 413,
                            "body larger than " + std::to_string(kMaxBodyBytes) + " bytes");
      answer_error(res, res.status, "request refused (" + std::to_string(res.status) + ")");
    });
    server.set_exception_handler(
        [](const httplib::Request&, httplib::Response& res, std::exception_ptr error) {
          std::string what;
          try {
            std::rethrow_exception(error);
          } catch (const std::exception& e) {
            what = e.what();
          } catch (...) {
            what = "an exception that is not a std::exception";
          }
          answer_error(res, 500, "internal error: " + what);
        });
  }

  tiercache::Context request_context() const {
    return tiercache::Context::background().with_timeout(options.request_timeout);
  }

  void get_product(const std::string& id_text, httplib::Response& res) {
    const auto id = parse_product_id(id_text);
    if (!id) return answer_error(res, 400, id.error());
    if (cache) {
      const tiercache::Result<Product> product =
          cache->get_or_load(request_context(), product_key(*id), loader);
      if (product) return answer_product(res, *product);
      // The same words whether the loader said so now or a cached "absent" did.
      if (product.error() == tiercache::errc::not_found)
        return answer_error(res, 404, "no product " + std::to_string(*id));
      return answer_failure(res, product.error());
    }
    const auto row = db->read(*id);
    if (!row) return answer_error(res, 503, row.error());
    if (!*row) return answer_error(res, 404, "no product " + std::to_string(*id));
    answer_product(res, **row);
  }

  void put_product(const std::string& id_text, const std::string& body, httplib::Response& res) {
    const auto id = parse_product_id(id_text);
    if (!id) return answer_error(res, 400, id.error());
    const auto fields = parse_product_fields(body, *id);
    if (!fields) return answer_error(res, 400, fields.error());
    const auto row = db->update(*id, *fields);
    if (!row) return answer_error(res, 503, row.error());
    if (!*row) return answer_error(res, 404, "no product " + std::to_string(*id));
    if (cache) cache_row(*id, **row);
    answer_product(res, **row);
  }

  // Sets a PUT's row in the cache and waits until Redis has it: once it has, Redis has told
  // every other instance to drop its old value, so a GET anywhere after the PUT's answer reads
  // the new one (or, while that invalidation is in flight, the old one: what the demo's
  // coherence check measures). The row is updated whatever the cache answers, so the PUT
  // succeeds; a value the cache did not take is counted, and purged so that no L1 keeps an
  // older one.
  //
  // Two PUTs of one product (through one instance or two) commit in one order and may set in
  // the other, which would leave the older row cached until its TTL. So once its set is in
  // Redis, a PUT reads the row again and sets it if a later UPDATE moved it: the last set to
  // land in Redis is then followed by a read that finds no newer row.
  void cache_row(std::int64_t id, Product row) {
    const tiercache::Context ctx = request_context();
    const std::string key = product_key(id);
    for (unsigned sets = 1;; ++sets) {
      if (!cache->set(ctx, key, row)) return cache_write_failed(ctx, key);
      if (!cache->flush(ctx)) return cache_write_failed(ctx, key);
      const auto now = db->confirm(id);
      if (!now || !*now) return cache_write_failed(ctx, key);
      if ((*now)->version == row.version) return;
      if (sets == kMaxSetsPerPut) return cache_write_failed(ctx, key);
      row = std::move(**now);
    }
  }

  void cache_write_failed(const tiercache::Context& ctx, const std::string& key) {
    cache_write_errors.fetch_add(1, std::memory_order_relaxed);
    (void)cache->purge(ctx, key);
  }

  void serve_metrics(httplib::Response& res) {
    const std::string labels = "replica=\"" + escaped_label(options.name) + "\"";
    std::string text;
    if (cache) {
      auto exposition =
          tiercache::to_prometheus(cache->metrics(), {.const_labels = {{"replica", options.name}}});
      if (!exposition) return answer_error(res, 500, exposition.error().detail);
      text = std::move(*exposition);
    }
    const ServiceCounters c = counters();
    append_counter(text, "catalog_origin_reads_total",
                   "Product SELECTs run on the SQLite database (the origin's load).", labels,
                   c.origin_reads);
    append_counter(text, "catalog_origin_read_seconds_total",
                   "Time the product SELECTs took: the modelled network round trip, then SQLite "
                   "to the row.",
                   labels, std::chrono::duration<double>(c.origin_read_time).count());
    append_counter(text, "catalog_origin_updates_total",
                   "Product UPDATEs run on the SQLite database (one per valid PUT, found or not).",
                   labels, c.origin_updates);
    append_counter(text, "catalog_origin_confirms_total",
                   "Product SELECTs a PUT ran to check that the row it cached is still the latest.",
                   labels, c.origin_confirms);
    append_counter(
        text, "catalog_cache_write_errors_total",
        "PUTs whose new value the cache refused, did not get to Redis in time, or could not "
        "confirm against the row (each purged its key).",
        labels, c.cache_write_errors);
    res.status = 200;
    res.set_content(text, tiercache::kPrometheusContentType);
  }

  std::expected<WarmStart, std::string> warm_cache(const std::function<bool()>& stop_requested) {
    if (!cache) return std::unexpected(std::string("warm_cache: the service has no cache"));
    const auto start = std::chrono::steady_clock::now();
    WarmStart warm;
    // From the last id down: the most wanted products (the lowest ids) are set last.
    for (std::int64_t last = db->product_count(); last >= 1; last -= kWarmRangeIds) {
      if (stop_requested && stop_requested())
        return std::unexpected(std::string("warm_cache: stopped"));
      const auto rows = db->read_range(std::max<std::int64_t>(1, last - kWarmRangeIds + 1), last);
      if (!rows) return std::unexpected("warm_cache: " + rows.error());
      ++warm.selects;
      const tiercache::Context ctx =
          tiercache::Context::background().with_timeout(kWarmFlushTimeout);
      for (const Product& p : *rows) {
        if (auto set = cache->set(ctx, product_key(p.id), p); !set)
          return std::unexpected("warm_cache: set product " + std::to_string(p.id) + ": " +
                                 set.error().detail);
        ++warm.products;
      }
      if (auto flushed = cache->flush(ctx); !flushed)
        return std::unexpected("warm_cache: flush to Redis: " + flushed.error().detail);
    }
    warm.took = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    return warm;
  }

  ServiceCounters counters() const {
    return {.origin_reads = db->reads(),
            .origin_read_time = db->read_time(),
            .origin_updates = db->updates(),
            .origin_confirms = db->confirms(),
            .cache_write_errors = cache_write_errors.load(std::memory_order_relaxed)};
  }

  // Declared in the order they are built; the destructor stops the server before the members
  // go (cache, then db).
  const ServiceOptions options;
  std::unique_ptr<CatalogDb> db;
  tiercache::TypedLoader<Product> loader;
  std::optional<ProductCache> cache;
  // relaxed: a tally for the metrics.
  std::atomic<std::uint64_t> cache_write_errors{0};
  httplib::Server server;
  std::uint16_t bound_port = 0;
  std::thread listener;
  std::future<void> listener_done;  // ready once listen_after_bind() returned
};

CatalogService::CatalogService(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

CatalogService::~CatalogService() = default;

std::expected<std::unique_ptr<CatalogService>, std::string> CatalogService::start(
    const ServiceOptions& options) {
  auto impl = std::make_unique<Impl>(options);
  const std::string who = "catalog service " + options.name + ": ";
  auto db = CatalogDb::open(options.db_path, options.db_round_trip);
  if (!db) return std::unexpected(who + db.error());
  impl->db = std::move(*db);
  if (options.cached) {
    if (auto opened = impl->open_cache(); !opened) return std::unexpected(who + opened.error());
  }
  if (auto listening = impl->listen(); !listening) return std::unexpected(who + listening.error());
  return std::unique_ptr<CatalogService>(new CatalogService(std::move(impl)));
}

std::expected<WarmStart, std::string> CatalogService::warm_cache(
    const std::function<bool()>& stop_requested) {
  return impl_->warm_cache(stop_requested);
}

std::uint16_t CatalogService::port() const {
  return impl_->bound_port;
}

const ServiceOptions& CatalogService::options() const {
  return impl_->options;
}

ServiceCounters CatalogService::counters() const {
  return impl_->counters();
}

std::optional<tiercache::CacheStats> CatalogService::cache_stats() const {
  if (!impl_->cache) return std::nullopt;
  return impl_->cache->stats();
}

std::string CatalogService::cache_options_text() const {
  return impl_->cache ? tiercache::to_string(impl_->cache->options()) : std::string();
}

}  // namespace catalog
