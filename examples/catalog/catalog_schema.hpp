// examples/catalog/catalog_schema.hpp — the catalog database's tables, as fill_catalog creates
// them and CatalogDb reads them: one products table keyed by id, and one row of facts about the
// fill (how many products, which generation).
#pragma once

#include <string_view>

namespace catalog {

inline constexpr const char* kCreateTables =
    "CREATE TABLE products ("
    "  id INTEGER PRIMARY KEY,"
    "  name TEXT NOT NULL,"
    "  category TEXT NOT NULL,"
    "  price_cents INTEGER NOT NULL,"
    "  stock INTEGER NOT NULL,"
    "  description TEXT NOT NULL,"
    "  version INTEGER NOT NULL);"
    "CREATE TABLE catalog_meta (product_count INTEGER NOT NULL, generation TEXT NOT NULL);";

// The columns every statement that answers a product selects, in Product's order (row_product
// in catalog_db.cpp reads them by position).
inline constexpr std::string_view kProductColumns =
    "id, name, category, price_cents, stock, description, version";

}  // namespace catalog
