// examples/catalog/catalog_db.cpp — CatalogDb: a pool of SQLite connections, each with its two
// prepared statements.
#include "examples/catalog/catalog_db.hpp"

#include <string>
#include <thread>
#include <utility>

#include "examples/catalog/catalog_schema.hpp"
#include "examples/catalog/sqlite_handles.hpp"

namespace catalog {
namespace {

std::string select_product_sql() {
  return "SELECT " + std::string(kProductColumns) + " FROM products WHERE id = ?1";
}
std::string select_range_sql() {
  return "SELECT " + std::string(kProductColumns) +
         " FROM products WHERE id BETWEEN ?1 AND ?2 ORDER BY id";
}
std::string update_product_sql() {
  return "UPDATE products SET name = ?1, category = ?2, price_cents = ?3, stock = ?4, "
         "description = ?5, version = version + 1 WHERE id = ?6 RETURNING " +
         std::string(kProductColumns);
}
constexpr const char* kSelectMeta = "SELECT product_count, generation FROM catalog_meta";

Product row_product(sqlite3_stmt* stmt) {
  return Product{.id = sqlite3_column_int64(stmt, 0),
                 .name = column_text(stmt, 1),
                 .category = column_text(stmt, 2),
                 .price_cents = sqlite3_column_int64(stmt, 3),
                 .stock = sqlite3_column_int64(stmt, 4),
                 .description = column_text(stmt, 5),
                 .version = sqlite3_column_int64(stmt, 6)};
}

// Resets a statement when a call ends, however it ends: its read transaction (a SELECT's) or
// write (an UPDATE's) ends with it, and its bindings are cleared for the next call.
class ResetOnExit {
 public:
  explicit ResetOnExit(sqlite3_stmt* stmt) : stmt_(stmt) {}
  ~ResetOnExit() {
    sqlite3_reset(stmt_);
    sqlite3_clear_bindings(stmt_);
  }
  ResetOnExit(const ResetOnExit&) = delete;
  ResetOnExit& operator=(const ResetOnExit&) = delete;

 private:
  sqlite3_stmt* stmt_;
};

}  // namespace

class CatalogDb::Connection {
 public:
  static std::expected<std::unique_ptr<Connection>, std::string> open(const std::string& path) {
    auto db = open_sqlite(path, /*create=*/false);
    if (!db) return std::unexpected(std::move(db.error()));
    auto select = prepare(db->get(), select_product_sql());
    if (!select) return std::unexpected(std::move(select.error()));
    auto select_range = prepare(db->get(), select_range_sql());
    if (!select_range) return std::unexpected(std::move(select_range.error()));
    auto update = prepare(db->get(), update_product_sql());
    if (!update) return std::unexpected(std::move(update.error()));
    return std::unique_ptr<Connection>(new Connection(
        std::move(*db), std::move(*select), std::move(*select_range), std::move(*update)));
  }

  sqlite3* db() const { return db_.get(); }
  sqlite3_stmt* select() const { return select_.get(); }
  sqlite3_stmt* select_range() const { return select_range_.get(); }
  sqlite3_stmt* update() const { return update_.get(); }

 private:
  Connection(SqliteDb db, SqliteStatement select, SqliteStatement select_range,
             SqliteStatement update)
      : db_(std::move(db)),
        select_(std::move(select)),
        select_range_(std::move(select_range)),
        update_(std::move(update)) {}
  // Statements before the connection: they are finalized first.
  SqliteDb db_;
  SqliteStatement select_;
  SqliteStatement select_range_;
  SqliteStatement update_;
};

class CatalogDb::Lease {
 public:
  Lease(CatalogDb& owner, std::unique_ptr<Connection> connection)
      : owner_(&owner), connection_(std::move(connection)) {}
  Lease(Lease&& other) noexcept : owner_(other.owner_), connection_(std::move(other.connection_)) {}
  Lease& operator=(Lease&&) = delete;
  ~Lease() {
    if (connection_) owner_->give_back(std::move(connection_));
  }
  Connection* operator->() const { return connection_.get(); }

 private:
  CatalogDb* owner_;
  std::unique_ptr<Connection> connection_;
};

CatalogDb::CatalogDb(std::string path, std::int64_t product_count, std::string generation,
                     std::chrono::microseconds round_trip)
    : path_(std::move(path)),
      product_count_(product_count),
      generation_(std::move(generation)),
      round_trip_(round_trip) {}

CatalogDb::~CatalogDb() = default;

std::expected<std::unique_ptr<CatalogDb>, std::string> CatalogDb::open(
    const std::string& path, std::chrono::microseconds round_trip) {
  auto first = Connection::open(path);
  if (!first) return std::unexpected(std::move(first.error()));
  auto meta = prepare((*first)->db(), kSelectMeta);
  if (!meta)
    return std::unexpected(meta.error() + " (is " + path +
                           " a catalog database? the demo makes "
                           "one with fill_catalog)");
  if (sqlite3_step(meta->get()) != SQLITE_ROW)
    return std::unexpected("sqlite: " + path + " has no catalog_meta row: it was never filled");
  const std::int64_t count = sqlite3_column_int64(meta->get(), 0);
  std::string generation = column_text(meta->get(), 1);
  meta->reset();  // finalized before its connection joins the pool
  std::unique_ptr<CatalogDb> db(new CatalogDb(path, count, std::move(generation), round_trip));
  db->give_back(std::move(*first));
  return db;
}

std::expected<CatalogDb::Lease, std::string> CatalogDb::lease() {
  {
    const std::lock_guard lock(idle_mutex_);
    if (!idle_.empty()) {
      std::unique_ptr<Connection> c = std::move(idle_.back());
      idle_.pop_back();
      return Lease(*this, std::move(c));
    }
  }
  // Opened outside the lock: a new connection takes a file open and two prepares.
  auto opened = Connection::open(path_);
  if (!opened) return std::unexpected(std::move(opened.error()));
  return Lease(*this, std::move(*opened));
}

void CatalogDb::give_back(std::unique_ptr<Connection> connection) {
  const std::lock_guard lock(idle_mutex_);
  idle_.push_back(std::move(connection));
}

void CatalogDb::add_read_time(std::chrono::steady_clock::time_point start) {
  read_ns_.fetch_add(
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::steady_clock::now() - start)
                                     .count()),
      std::memory_order_relaxed);
}

void CatalogDb::cross_network() const {
  if (round_trip_.count() > 0) std::this_thread::sleep_for(round_trip_);
}

std::expected<std::optional<Product>, std::string> CatalogDb::read(std::int64_t id) {
  const auto start = std::chrono::steady_clock::now();
  auto found = select_one(id, reads_);
  add_read_time(start);
  return found;
}

std::expected<std::optional<Product>, std::string> CatalogDb::confirm(std::int64_t id) {
  return select_one(id, confirms_);
}

std::expected<std::optional<Product>, std::string> CatalogDb::select_one(
    std::int64_t id, std::atomic<std::uint64_t>& count) {
  cross_network();
  auto connection = lease();
  if (!connection) return std::unexpected(std::move(connection.error()));
  sqlite3_stmt* stmt = (*connection)->select();
  const ResetOnExit reset(stmt);
  sqlite3_bind_int64(stmt, 1, id);
  count.fetch_add(1, std::memory_order_relaxed);
  const int rc = sqlite3_step(stmt);
  std::optional<Product> found;
  if (rc == SQLITE_ROW) found = row_product(stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return std::unexpected(sqlite_error((*connection)->db(), "SELECT product"));
  return found;
}

std::expected<std::vector<Product>, std::string> CatalogDb::read_range(std::int64_t first_id,
                                                                       std::int64_t last_id) {
  const auto start = std::chrono::steady_clock::now();
  cross_network();
  auto connection = lease();
  if (!connection) return std::unexpected(std::move(connection.error()));
  sqlite3_stmt* stmt = (*connection)->select_range();
  const ResetOnExit reset(stmt);
  sqlite3_bind_int64(stmt, 1, first_id);
  sqlite3_bind_int64(stmt, 2, last_id);
  reads_.fetch_add(1, std::memory_order_relaxed);
  std::vector<Product> found;
  for (;;) {
    const int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
      found.push_back(row_product(stmt));
    } else if (rc == SQLITE_DONE) {
      add_read_time(start);
      return found;
    } else {
      return std::unexpected(sqlite_error((*connection)->db(), "SELECT products"));
    }
  }
}

std::expected<std::optional<Product>, std::string> CatalogDb::update(std::int64_t id,
                                                                     const ProductFields& fields) {
  cross_network();
  auto connection = lease();
  if (!connection) return std::unexpected(std::move(connection.error()));
  sqlite3_stmt* stmt = (*connection)->update();
  const ResetOnExit reset(stmt);
  bind_text(stmt, 1, fields.name);
  bind_text(stmt, 2, fields.category);
  sqlite3_bind_int64(stmt, 3, fields.price_cents);
  sqlite3_bind_int64(stmt, 4, fields.stock);
  bind_text(stmt, 5, fields.description);
  sqlite3_bind_int64(stmt, 6, id);
  updates_.fetch_add(1, std::memory_order_relaxed);
  std::optional<Product> updated;
  // RETURNING answers the row after the change; stepping on to SQLITE_DONE commits it, so the
  // caller answers only what the database holds.
  for (;;) {
    const int rc = sqlite3_step(stmt);
    if (rc == SQLITE_ROW) {
      updated = row_product(stmt);
    } else if (rc == SQLITE_DONE) {
      return updated;
    } else {
      return std::unexpected(sqlite_error((*connection)->db(), "UPDATE product"));
    }
  }
}

}  // namespace catalog
