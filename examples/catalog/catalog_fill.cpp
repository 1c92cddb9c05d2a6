// examples/catalog/catalog_fill.cpp — creating and filling the catalog database.
#include "examples/catalog/catalog_fill.hpp"

#include <iomanip>
#include <random>
#include <sstream>
#include <utility>

#include "examples/catalog/catalog_schema.hpp"
#include "examples/catalog/product_generator.hpp"
#include "examples/catalog/sqlite_handles.hpp"

namespace catalog {
namespace {

using Clock = std::chrono::steady_clock;

// 16 hex digits from the system's entropy: two fills never share a generation.
std::string new_generation() {
  std::random_device entropy;
  const std::uint64_t bits = (std::uint64_t{entropy()} << 32) | entropy();
  std::ostringstream text;
  text << std::hex << std::setw(16) << std::setfill('0') << bits;
  return text.str();
}

// The product count an earlier fill recorded, or -1 if the file holds none (new, or not filled).
std::int64_t filled_count(sqlite3* db) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, "SELECT product_count FROM catalog_meta", -1, &raw, nullptr) !=
      SQLITE_OK)
    return -1;
  const SqliteStatement stmt(raw);
  return sqlite3_step(stmt.get()) == SQLITE_ROW ? sqlite3_column_int64(stmt.get(), 0) : -1;
}

std::expected<void, std::string> insert_products(sqlite3* db, std::int64_t product_count,
                                                 const std::function<bool()>& stop_requested) {
  auto insert = prepare(db, "INSERT INTO products (" + std::string(kProductColumns) +
                                ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  if (!insert) return std::unexpected(std::move(insert.error()));
  sqlite3_stmt* stmt = insert->get();
  for (std::int64_t id = 1; id <= product_count; ++id) {
    if (id % kFillStopCheckRows == 0 && stop_requested && stop_requested())
      return std::unexpected(std::string("fill_catalog: stopped"));
    const Product p = generated_product(id);
    sqlite3_bind_int64(stmt, 1, p.id);
    bind_text(stmt, 2, p.name);
    bind_text(stmt, 3, p.category);
    sqlite3_bind_int64(stmt, 4, p.price_cents);
    sqlite3_bind_int64(stmt, 5, p.stock);
    bind_text(stmt, 6, p.description);
    sqlite3_bind_int64(stmt, 7, p.version);
    if (sqlite3_step(stmt) != SQLITE_DONE)
      return std::unexpected(sqlite_error(db, "INSERT product " + std::to_string(id)));
    sqlite3_reset(stmt);
  }
  return {};
}

std::expected<void, std::string> record_fill(sqlite3* db, std::int64_t product_count) {
  auto insert = prepare(db, "INSERT INTO catalog_meta (product_count, generation) VALUES (?1, ?2)");
  if (!insert) return std::unexpected(std::move(insert.error()));
  sqlite3_bind_int64(insert->get(), 1, product_count);
  bind_text(insert->get(), 2, new_generation());
  if (sqlite3_step(insert->get()) != SQLITE_DONE)
    return std::unexpected(sqlite_error(db, "INSERT catalog_meta"));
  return {};
}

// The tables made anew and filled, inside the caller's transaction, then committed.
std::expected<void, std::string> fill_tables(sqlite3* db, std::int64_t product_count,
                                             const std::function<bool()>& stop_requested) {
  if (auto r = exec(db, "DROP TABLE IF EXISTS products; DROP TABLE IF EXISTS catalog_meta"); !r)
    return r;
  if (auto r = exec(db, kCreateTables); !r) return r;
  if (auto r = insert_products(db, product_count, stop_requested); !r) return r;
  if (auto r = record_fill(db, product_count); !r) return r;
  return exec(db, "COMMIT");
}

}  // namespace

std::expected<FillOutcome, std::string> fill_catalog(const std::string& path,
                                                     std::int64_t product_count,
                                                     const std::function<bool()>& stop_requested) {
  if (product_count < 1 || product_count > kMaxProducts)
    return std::unexpected("fill_catalog: product_count " + std::to_string(product_count) +
                           " must be 1 to " + std::to_string(kMaxProducts));
  const auto start = Clock::now();
  auto db = open_sqlite(path, /*create=*/true);
  if (!db) return std::unexpected(std::move(db.error()));
  if (auto wal = exec(db->get(), "PRAGMA journal_mode=WAL"); !wal)
    return std::unexpected(std::move(wal.error()));
  if (filled_count(db->get()) == product_count) return FillOutcome{};

  // IMMEDIATE: the write lock from the start, so a fill never half-meets another writer.
  if (auto begun = exec(db->get(), "BEGIN IMMEDIATE"); !begun)
    return std::unexpected(std::move(begun.error()));
  auto filled = fill_tables(db->get(), product_count, stop_requested);
  if (!filled) {
    // Undoes the whole fill; the error says why.
    (void)exec(db->get(), "ROLLBACK");
    return std::unexpected(std::move(filled.error()));
  }
  return FillOutcome{
      .filled = true,
      .took = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start)};
}

}  // namespace catalog
