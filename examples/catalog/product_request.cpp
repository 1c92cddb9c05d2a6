// examples/catalog/product_request.cpp — checking a request's product id and PUT body.
#include "examples/catalog/product_request.hpp"

#include <charconv>
#include <limits>
#include <set>
#include <utility>

namespace catalog {
namespace {

// Characters of a refused id quoted in the message; the rest is cut, so a huge path cannot
// make a huge answer.
constexpr std::size_t kQuotedIdChars = 40;

std::string quoted(std::string_view text) {
  const bool cut = text.size() > kQuotedIdChars;
  return "\"" + std::string(text.substr(0, kQuotedIdChars)) + (cut ? "...\"" : "\"");
}

std::expected<std::string, std::string> string_field(const nlohmann::json& body, const char* name,
                                                     std::size_t min_bytes, std::size_t max_bytes) {
  const auto it = body.find(name);
  if (it == body.end()) return std::unexpected(std::string("missing field \"") + name + "\"");
  if (!it->is_string())
    return std::unexpected(std::string("field \"") + name + "\" must be a string, not " +
                           it->type_name());
  std::string value = it->get<std::string>();
  if (value.size() < min_bytes || value.size() > max_bytes)
    return std::unexpected(std::string("field \"") + name + "\" is " +
                           std::to_string(value.size()) + " bytes; must be " +
                           std::to_string(min_bytes) + " to " + std::to_string(max_bytes));
  return value;
}

std::expected<std::int64_t, std::string> integer_field(const nlohmann::json& body, const char* name,
                                                       std::int64_t max) {
  const auto it = body.find(name);
  if (it == body.end()) return std::unexpected(std::string("missing field \"") + name + "\"");
  // A float such as 12.5 (or 12.0) is refused: the field counts whole units.
  if (!it->is_number_integer())
    return std::unexpected(
        std::string("field \"") + name + "\" must be a whole number, not " +
        (it->is_number() ? std::string("a fraction ") + it->dump() : std::string(it->type_name())));
  // An unsigned value past INT64_MAX is past every bound too.
  const bool too_large = it->is_number_unsigned() &&
                         it->get<std::uint64_t>() >
                             static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  const std::int64_t value =
      too_large ? std::numeric_limits<std::int64_t>::max() : it->get<std::int64_t>();
  if (too_large || value < 0 || value > max)
    return std::unexpected(std::string("field \"") + name + "\" is " + it->dump() +
                           "; must be 0 to " + std::to_string(max));
  return value;
}

}  // namespace

std::expected<std::int64_t, std::string> parse_product_id(std::string_view text) {
  const std::string rule = "; a product id is a whole number from 1 to " +
                           std::to_string(std::numeric_limits<std::int64_t>::max());
  if (text.empty() || text.front() < '1' || text.front() > '9')
    return std::unexpected("bad product id " + quoted(text) + rule);
  std::int64_t id = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (ec != std::errc{} || end != text.data() + text.size())
    return std::unexpected("bad product id " + quoted(text) + rule);
  return id;
}

std::expected<ProductFields, std::string> parse_product_fields(std::string_view body,
                                                               std::int64_t id) {
  // Not allowing exceptions through: a parse error is the client's, reported as its text.
  const nlohmann::json json = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded())
    return std::unexpected(
        std::string("body is not valid JSON (a product object is expected: "
                    "name, category, price_cents, stock, description)"));
  if (!json.is_object())
    return std::unexpected(std::string("body must be a JSON object, not ") + json.type_name());

  static const std::set<std::string, std::less<>> known = {
      "id", "name", "category", "price_cents", "stock", "description", "version"};
  for (const auto& [name, value] : json.items())
    if (!known.contains(name))
      return std::unexpected("unknown field \"" + name +
                             "\" (known: name, category, price_cents, stock, description; id and "
                             "version may be sent back as read)");
  if (const auto it = json.find("id"); it != json.end()) {
    if (!it->is_number_integer() || it->get<std::int64_t>() != id)
      return std::unexpected("field \"id\" is " + it->dump() + " but the path names product " +
                             std::to_string(id));
  }
  if (const auto it = json.find("version"); it != json.end() && !it->is_number_integer())
    return std::unexpected("field \"version\" must be a whole number, not " +
                           std::string(it->type_name()));

  ProductFields fields;
  auto name = string_field(json, "name", 1, kMaxNameBytes);
  if (!name) return std::unexpected(std::move(name.error()));
  auto category = string_field(json, "category", 1, kMaxCategoryBytes);
  if (!category) return std::unexpected(std::move(category.error()));
  auto description = string_field(json, "description", 0, kMaxDescriptionBytes);
  if (!description) return std::unexpected(std::move(description.error()));
  const auto price = integer_field(json, "price_cents", kMaxPriceCents);
  if (!price) return std::unexpected(price.error());
  const auto stock = integer_field(json, "stock", kMaxStock);
  if (!stock) return std::unexpected(stock.error());
  return ProductFields{.name = std::move(*name),
                       .category = std::move(*category),
                       .price_cents = *price,
                       .stock = *stock,
                       .description = std::move(*description)};
}

}  // namespace catalog
