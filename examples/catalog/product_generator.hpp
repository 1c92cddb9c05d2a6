// examples/catalog/product_generator.hpp — the made-up products the demo fills its database
// with, and the changed ones its load generator PUTs: deterministic, so every run and every
// instance agree on what product N was before anyone changed it.
#pragma once

#include <cstdint>
#include <string>

#include "examples/catalog/product.hpp"

namespace catalog {

// Product `id` (>= 1) as the database is filled with it: version 1, a name, category, price,
// stock and a description of 150-250 bytes drawn from `id` alone.
Product generated_product(std::int64_t id);

// New fields for product `id`, as a client changing its price, stock and name would send them;
// the name carries `tag` ("client 3, change 57"), so that each caller's changes differ.
ProductFields changed_fields(std::int64_t id, const std::string& tag);

}  // namespace catalog
