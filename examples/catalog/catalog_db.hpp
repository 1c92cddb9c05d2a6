// examples/catalog/catalog_db.hpp — CatalogDb: the service's origin, a real SQLite database of
// products (the file fill_catalog made), read and updated through prepared statements.
//
// Threads:  any number at once. Each call leases a connection of its own from a pool (SQLite's
//           multi-thread mode: a connection is used by one thread at a time), so reads run in
//           parallel; the database is in WAL mode, so they do not wait for a writer, and writers
//           (two service instances open the same file) take turns within kBusyTimeout.
// Counts:   reads() is every SELECT run, the origin load the demo reports and plots.
// Latency:  SQLite runs in the caller's process, its file in the page cache: a query takes tens
//           of microseconds. A catalog's database is on another host, a network round trip
//           away; open()'s round_trip models it as a sleep before every query (not holding a
//           connection), so that the demo compares what a service would (--db-latency).
// Never:    builds SQL from request data (every value is a bound parameter).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <expected>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "examples/catalog/product.hpp"

struct sqlite3;

namespace catalog {

class CatalogDb {
 public:
  // Opens the database at `path`, which fill_catalog made: refuses a file without its tables.
  // Every query then pays `round_trip` first (0: none).
  static std::expected<std::unique_ptr<CatalogDb>, std::string> open(
      const std::string& path, std::chrono::microseconds round_trip = {});
  ~CatalogDb();
  CatalogDb(const CatalogDb&) = delete;
  CatalogDb& operator=(const CatalogDb&) = delete;

  // Product `id` (one SELECT by primary key), nullopt if there is no such row, or SQLite's error.
  std::expected<std::optional<Product>, std::string> read(std::int64_t id);
  // Product `id` as read() answers it, for a PUT that checks the row it cached is still the
  // latest: counted in confirms(), not reads(), which stay the load the cache takes off.
  std::expected<std::optional<Product>, std::string> confirm(std::int64_t id);
  // Products first_id..last_id that exist, in id order (one SELECT; it counts as one read).
  std::expected<std::vector<Product>, std::string> read_range(std::int64_t first_id,
                                                              std::int64_t last_id);
  // Sets product `id`'s fields and adds 1 to its version (one UPDATE ... RETURNING), answering
  // the row as it now is; nullopt if there is no such row.
  std::expected<std::optional<Product>, std::string> update(std::int64_t id,
                                                            const ProductFields& fields);

  std::int64_t product_count() const { return product_count_; }
  // A token fill_catalog drew when it filled the file: a cache's keys carry it, so values cached
  // from an earlier database in a Redis that outlived it are never read as this one's.
  const std::string& generation() const { return generation_; }
  // Statements run so far; relaxed reads of counters (the progress line reads them live).
  std::uint64_t reads() const { return reads_.load(std::memory_order_relaxed); }
  std::uint64_t updates() const { return updates_.load(std::memory_order_relaxed); }
  std::uint64_t confirms() const { return confirms_.load(std::memory_order_relaxed); }
  // Time spent in reads() (the modelled round trip, then SQLite's steps to the answer), summed.
  std::chrono::nanoseconds read_time() const {
    return std::chrono::nanoseconds(read_ns_.load(std::memory_order_relaxed));
  }

 private:
  class Connection;
  // A connection taken from the pool, put back when it ends.
  class Lease;
  CatalogDb(std::string path, std::int64_t product_count, std::string generation,
            std::chrono::microseconds round_trip);
  std::expected<Lease, std::string> lease();
  // Sleeps for round_trip_: the query's way to the database and back.
  void cross_network() const;
  void add_read_time(std::chrono::steady_clock::time_point start);
  void give_back(std::unique_ptr<Connection> connection);
  // One SELECT of product `id`, counted in `count`.
  std::expected<std::optional<Product>, std::string> select_one(std::int64_t id,
                                                                std::atomic<std::uint64_t>& count);

  const std::string path_;
  const std::int64_t product_count_;
  const std::string generation_;
  const std::chrono::microseconds round_trip_;
  std::mutex idle_mutex_;
  std::vector<std::unique_ptr<Connection>> idle_;  // guarded by idle_mutex_
  // relaxed: tallies; nothing is ordered by them.
  std::atomic<std::uint64_t> reads_{0};
  std::atomic<std::uint64_t> updates_{0};
  std::atomic<std::uint64_t> confirms_{0};
  std::atomic<std::uint64_t> read_ns_{0};
};

}  // namespace catalog
