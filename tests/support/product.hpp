// tests/support/product.hpp — the small struct the codec tests, fuzz targets and benchmarks
// encode, with its JSON and MessagePack mappings.
#pragma once

#include <msgpack.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "tiercache/codecs/json.hpp"

namespace test {

struct Product {
  std::int64_t id = 0;
  std::string name;
  double price = 0;
  std::vector<std::string> tags;

  bool operator==(const Product&) const = default;
  MSGPACK_DEFINE(id, name, price, tags);
};

// JsonCodec range-checks its numbers (tiercache/codecs/json.hpp).
TIERCACHE_JSON_DEFINE_TYPE_NON_INTRUSIVE(Product, id, name, price, tags)

// Equality that holds for a NaN price too (a NaN is not equal to itself), for round trips.
inline bool same_product(const Product& a, const Product& b) {
  const bool prices = a.price == b.price || (a.price != a.price && b.price != b.price);
  return a.id == b.id && a.name == b.name && prices && a.tags == b.tags;
}

inline Product sample_product() {
  return {42, "Espresso cup, \"stoneware\" \xE2\x98\x95", 12.5, {"kitchen", "gift"}};
}

}  // namespace test
