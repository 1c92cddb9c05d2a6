// examples/catalog/sqlite_handles.hpp — owning handles for a SQLite connection and a prepared
// statement, and the functions that open, prepare and run with them, answering SQLite's own
// error text (what failed, on which file) instead of a bare code.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <expected>
#include <memory>
#include <string>
#include <string_view>

namespace catalog {

struct SqliteCloser {
  void operator()(sqlite3* db) const noexcept { sqlite3_close_v2(db); }
};
struct SqliteFinalizer {
  void operator()(sqlite3_stmt* stmt) const noexcept { sqlite3_finalize(stmt); }
};
using SqliteDb = std::unique_ptr<sqlite3, SqliteCloser>;
using SqliteStatement = std::unique_ptr<sqlite3_stmt, SqliteFinalizer>;

// How long a statement waits for another connection's write lock before it fails with
// SQLITE_BUSY: far above one UPDATE, so only a stuck writer makes a request fail.
inline constexpr std::chrono::milliseconds kBusyTimeout{5000};

// "sqlite: <what> (<path>): <SQLite's message>".
inline std::string sqlite_error(sqlite3* db, std::string_view what) {
  const char* file = db != nullptr ? sqlite3_db_filename(db, "main") : nullptr;
  return "sqlite: " + std::string(what) + (file != nullptr ? " (" + std::string(file) + ")" : "") +
         ": " + (db != nullptr ? sqlite3_errmsg(db) : "out of memory");
}

// Opens `path` (creating it only if `create`) in multi-thread mode (one thread at a time per
// connection), with kBusyTimeout and synchronous=NORMAL, which in WAL mode syncs at checkpoints
// only: a crash may lose the last commits, never the database.
inline std::expected<SqliteDb, std::string> open_sqlite(const std::string& path, bool create) {
  sqlite3* raw = nullptr;
  const int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX | (create ? SQLITE_OPEN_CREATE : 0);
  const int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
  SqliteDb db(raw);
  if (rc != SQLITE_OK) return std::unexpected(sqlite_error(db.get(), "open " + path));
  sqlite3_busy_timeout(db.get(), static_cast<int>(kBusyTimeout.count()));
  if (sqlite3_exec(db.get(), "PRAGMA synchronous=NORMAL", nullptr, nullptr, nullptr) != SQLITE_OK)
    return std::unexpected(sqlite_error(db.get(), "PRAGMA synchronous"));
  return db;
}

inline std::expected<SqliteStatement, std::string> prepare(sqlite3* db, std::string_view sql) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v3(db, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT,
                         &raw, nullptr) != SQLITE_OK)
    return std::unexpected(sqlite_error(db, "prepare " + std::string(sql)));
  return SqliteStatement(raw);
}

// Runs `sql` (statements without results), failing with SQLite's message.
inline std::expected<void, std::string> exec(sqlite3* db, const char* sql) {
  char* message = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &message) == SQLITE_OK) return {};
  std::string text = "sqlite: " + std::string(sql) + ": " + (message ? message : "error");
  sqlite3_free(message);
  return std::unexpected(std::move(text));
}

// Column `i` of the current row as a string (empty for NULL).
inline std::string column_text(sqlite3_stmt* stmt, int i) {
  const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(stmt, i));
  return text == nullptr
             ? std::string()
             : std::string(text, static_cast<std::size_t>(sqlite3_column_bytes(stmt, i)));
}

inline void bind_text(sqlite3_stmt* stmt, int i, std::string_view text) {
  sqlite3_bind_text(stmt, i, text.data(), static_cast<int>(text.size()), SQLITE_TRANSIENT);
}

}  // namespace catalog
