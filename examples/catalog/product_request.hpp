// examples/catalog/product_request.hpp — what a request to /products/{id} says: the product's
// id (the path's last segment) and, for a PUT, the product's new fields (the JSON body).
//
// Both are checked at the door, before anything is read or changed: an answer here is a 400
// with the message, which names the field, the value and the rule it broke.
#pragma once

#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

#include "examples/catalog/product.hpp"

namespace catalog {

// Bounds of a PUT's fields, in bytes (UTF-8) or in their own unit.
inline constexpr std::size_t kMaxNameBytes = 200;
inline constexpr std::size_t kMaxCategoryBytes = 100;
inline constexpr std::size_t kMaxDescriptionBytes = 4000;
inline constexpr std::int64_t kMaxPriceCents = 100'000'000'000;
inline constexpr std::int64_t kMaxStock = 1'000'000'000;

// The id in `text`: a whole number from 1 to INT64_MAX in plain decimal digits (no sign, no
// leading zero, no space). Whether such a product exists is the database's answer (404).
std::expected<std::int64_t, std::string> parse_product_id(std::string_view text);

// The fields of a PUT body: a JSON object with name, category, price_cents, stock and
// description, each of its type and within its bound. "id" may be there if it equals `id` (so
// that a client can PUT back what it got); "version" may be there and is ignored (the database
// assigns it); any other member is refused, so a misspelt field is not silently dropped.
std::expected<ProductFields, std::string> parse_product_fields(std::string_view body,
                                                               std::int64_t id);

}  // namespace catalog
