// examples/catalog/product.hpp — Product: one row of the catalog's products table, and its JSON
// form, which is what GET /products/{id} answers, what the cache keeps (JsonCodec<Product>, so
// L1 holds it decoded and Redis holds the JSON text) and, but for id and version, what a PUT
// sends.
#pragma once

#include <cstdint>
#include <string>

#include "tiercache/codecs/json.hpp"

namespace catalog {

struct Product {
  std::int64_t id = 0;
  std::string name;
  std::string category;
  // Whole cents, so that a price survives every round trip exactly.
  std::int64_t price_cents = 0;
  std::int64_t stock = 0;
  std::string description;
  // 1 when filled; the database adds 1 at every update, so a reader can tell which update the
  // value it got reflects (the coherence check relies on it).
  std::int64_t version = 0;

  bool operator==(const Product&) const = default;
};

// Ours, not nlohmann's macro: JsonCodec then refuses a number a field cannot hold.
TIERCACHE_JSON_DEFINE_TYPE_NON_INTRUSIVE(Product, id, name, category, price_cents, stock,
                                         description, version)

// The fields a PUT sets; the rest (id, version) are the database's.
struct ProductFields {
  std::string name;
  std::string category;
  std::int64_t price_cents = 0;
  std::int64_t stock = 0;
  std::string description;
};

}  // namespace catalog
