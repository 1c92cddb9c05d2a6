// examples/catalog/catalog_service.hpp — CatalogService: the product catalog over HTTP, from the
// SQLite database, through a TypedCache<JsonCodec<Product>> with Redis as L2.
//
//   GET /products/{id}   200 and the product as JSON; 400 for an id that is not one (the message
//                        says why); 404 for an id the database does not hold
//   PUT /products/{id}   a JSON body of the product's fields (product_request.hpp): updates the
//                        row, then sets the new value in the cache and waits until Redis has it,
//                        so that the next GET through any instance sharing that Redis answers
//                        it; then reads the row again and sets it anew if a concurrent PUT moved
//                        it, so the cache ends with the row the database kept; 200 and the
//                        product as its UPDATE left it; 400 for a bad id or body, 404 for an
//                        unknown id
//   GET /metrics         the cache's metrics (to_prometheus) and the service's own counters
//
// A GET is get_or_load: L1, then Redis, then one SELECT (CatalogDb::read) for all the requests
// that missed on one product at once. Several instances on one Redis see each other's PUTs
// through Redis invalidation (InvalidationMode::bcast): a PUT through one drops the old value
// from every other's L1. Uncached (ServiceOptions.cached false), every GET is a SELECT and a PUT
// an UPDATE: the demo's comparison.
//
// Threads:  a listener and http_threads workers of its own; a keep-alive connection holds one
//           worker for as long as it stays open, so give it more workers than clients.
// Never:    answers a value the database did not hold; waits on a request past
//           ServiceOptions.request_timeout (then 504).
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <expected>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "tiercache/stats.hpp"

namespace catalog {

struct ServiceOptions {
  // In the metrics (label replica) and in messages: "A", "B", ...
  std::string name = "A";
  // A database fill_catalog made.
  std::string db_path;
  // A modelled network round trip every query on it pays (CatalogDb::open); 0: none.
  std::chrono::microseconds db_round_trip{0};
  // false: no cache at all, every GET a SELECT; redis_url is then unused.
  bool cached = true;
  // The shared L2, redis://host:port/db.
  std::string redis_url;
  // Before every key in Redis, followed by the database's generation and ':', so that instances
  // on one database share their keys and nothing else does.
  std::string redis_key_prefix = "catalog:";
  // Each instance's L1 budget (key + JSON + the decoded product + overhead per entry).
  std::size_t l1_max_bytes = std::size_t{8} << 20;
  // How long a product stays cached without a PUT; and a "no such product".
  std::chrono::milliseconds ttl{60'000};
  std::chrono::milliseconds negative_ttl{10'000};
  // A numeric address; port 0 picks a free one (CatalogService::port tells which).
  std::string address = "127.0.0.1";
  std::uint16_t port = 0;
  std::size_t http_threads = 16;
  std::chrono::milliseconds request_timeout{2000};
};

// What warm_cache() did.
struct WarmStart {
  std::int64_t products = 0;  // set in the cache
  std::uint64_t selects = 0;  // range SELECTs that read them
  std::chrono::milliseconds took{0};
};

// What the service counts beyond the cache's own metrics.
struct ServiceCounters {
  std::uint64_t origin_reads = 0;                // SELECTs run (the origin load)
  std::chrono::nanoseconds origin_read_time{0};  // ... and the time they took, summed
  std::uint64_t origin_updates = 0;              // UPDATEs run (a valid PUT's, found or not)
  std::uint64_t origin_confirms = 0;  // SELECTs a PUT ran to check what it cached (not in reads)
  // PUTs whose value the cache refused, did not flush, or could not confirm against the row;
  // each purged its key
  std::uint64_t cache_write_errors = 0;
};

class CatalogService {
 public:
  // Opens the database and, if cached, the cache (which must reach Redis within a couple of
  // seconds), binds and starts serving. The error says which step failed and why.
  static std::expected<std::unique_ptr<CatalogService>, std::string> start(
      const ServiceOptions& options);
  // Stops serving (requests in progress are answered first), then closes the cache.
  ~CatalogService();
  CatalogService(const CatalogService&) = delete;
  CatalogService& operator=(const CatalogService&) = delete;

  // A warm start: reads every product, kWarmRangeIds ids per SELECT, sets each in the cache and
  // waits until Redis has them, so that the instances sharing that Redis find every product
  // there, as they would once a service has run a while. The cached service only.
  // `stop_requested`, if given, is asked before each range: true ends it with "warm_cache:
  // stopped" (a large catalog's warm start takes minutes; Ctrl-C must not wait it out).
  std::expected<WarmStart, std::string> warm_cache(
      const std::function<bool()>& stop_requested = {});

  std::uint16_t port() const;
  const ServiceOptions& options() const;
  ServiceCounters counters() const;
  // The cache's counters; nothing when uncached.
  std::optional<tiercache::CacheStats> cache_stats() const;
  // The cache's effective options, one line (tiercache::to_string); "" when uncached.
  std::string cache_options_text() const;

 private:
  struct Impl;
  explicit CatalogService(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace catalog
