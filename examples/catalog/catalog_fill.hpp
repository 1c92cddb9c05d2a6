// examples/catalog/catalog_fill.hpp — fill_catalog: makes the demo's SQLite database on its
// first run (the products generated_product makes, in WAL mode), and leaves it alone on the next
// ones, so that the updates an earlier run made are still there.
#pragma once

#include <chrono>
#include <cstdint>
#include <expected>
#include <functional>
#include <string>

namespace catalog {

// Products a database may be filled with: ids 1..N must fit the demo's Zipf table in memory.
inline constexpr std::int64_t kMaxProducts = 100'000'000;

struct FillOutcome {
  bool filled = false;  // false: the file already held that many products, and is unchanged
  std::chrono::milliseconds took{0};
};

// Rows a fill inserts between two questions to its `stop_requested`.
inline constexpr std::int64_t kFillStopCheckRows = 1024;

// Makes `path` hold products 1..product_count (in [1, kMaxProducts]), unless it already holds
// exactly that many from an earlier fill. A file holding another count, or an interrupted fill,
// is filled again from scratch, in one transaction (a fill is all or nothing), with a new
// generation token (CatalogDb::generation). The file is put in WAL mode, which it keeps.
// `stop_requested`, if given, is asked every kFillStopCheckRows rows: true rolls the fill back
// and answers "fill_catalog: stopped" (a large fill takes a minute; Ctrl-C must not wait it out).
std::expected<FillOutcome, std::string> fill_catalog(
    const std::string& path, std::int64_t product_count,
    const std::function<bool()>& stop_requested = {});

}  // namespace catalog
