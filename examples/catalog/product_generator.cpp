// examples/catalog/product_generator.cpp — word lists and a hash make a product from its id.
#include "examples/catalog/product_generator.hpp"

#include <array>
#include <functional>
#include <string>
#include <string_view>

namespace catalog {
namespace {

constexpr std::array<std::string_view, 16> kAdjectives = {
    "Compact",  "Classic",   "Rugged",     "Slim",  "Deluxe",   "Everyday", "Vintage",  "Modern",
    "Foldable", "Ergonomic", "Heavy-duty", "Quiet", "Portable", "Smart",    "Handmade", "Eco"};
constexpr std::array<std::string_view, 12> kMaterials = {"oak",    "steel", "ceramic", "bamboo",
                                                         "cotton", "glass", "walnut",  "copper",
                                                         "linen",  "wool",  "leather", "aluminium"};
// Each noun with the category it files under.
struct Noun {
  std::string_view noun;
  std::string_view category;
};
constexpr std::array<Noun, 16> kNouns = {{{"desk lamp", "lighting"},
                                          {"pendant light", "lighting"},
                                          {"coffee mug", "kitchen"},
                                          {"chef's knife", "kitchen"},
                                          {"cutting board", "kitchen"},
                                          {"office chair", "furniture"},
                                          {"bookshelf", "furniture"},
                                          {"side table", "furniture"},
                                          {"backpack", "bags"},
                                          {"tote bag", "bags"},
                                          {"throw blanket", "home textiles"},
                                          {"bath towel", "home textiles"},
                                          {"wall clock", "decor"},
                                          {"plant pot", "garden"},
                                          {"watering can", "garden"},
                                          {"notebook", "stationery"}}};
constexpr std::array<std::string_view, 8> kClauses = {
    "built to last for years of daily use",
    "designed in a small studio and made in limited runs",
    "easy to clean and safe for everyday use",
    "shipped flat-packed in recycled cardboard",
    "finished by hand, so no two are exactly alike",
    "backed by a two-year warranty",
    "light enough to carry from room to room",
    "chosen by our staff as a customer favourite"};

// SplitMix64's finalizer: a well-mixed 64-bit value from `x` (Steele et al., OOPSLA 2014).
std::uint64_t mix(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9;
  x = (x ^ (x >> 27)) * 0x94d049bb133111eb;
  return x ^ (x >> 31);
}

// The word of `list` that bits [shift, shift + 8) of `h` pick.
template <class List>
const auto& pick(const List& list, std::uint64_t h, unsigned shift) {
  return list[((h >> shift) & 0xff) % list.size()];
}

}  // namespace

Product generated_product(std::int64_t id) {
  const std::uint64_t h = mix(static_cast<std::uint64_t>(id));
  const Noun& noun = pick(kNouns, h, 16);
  std::string name = std::string(pick(kAdjectives, h, 0)) + " " +
                     std::string(pick(kMaterials, h, 8)) + " " + std::string(noun.noun);
  std::string description = "The " + name + ", " + std::string(pick(kClauses, h, 24)) + ". " +
                            "It is " + std::string(pick(kClauses, h, 32)) + ", and " +
                            std::string(pick(kClauses, h, 40)) + ". Item " + std::to_string(id) +
                            " in our " + std::string(noun.category) + " range.";
  return Product{.id = id,
                 .name = std::move(name),
                 .category = std::string(noun.category),
                 .price_cents = 199 + static_cast<std::int64_t>((h >> 48) % 49'800),
                 .stock = static_cast<std::int64_t>((h >> 36) % 500),
                 .description = std::move(description),
                 .version = 1};
}

ProductFields changed_fields(std::int64_t id, const std::string& tag) {
  Product p = generated_product(id);
  const std::uint64_t h = mix(static_cast<std::uint64_t>(id) ^ std::hash<std::string>{}(tag));
  return ProductFields{.name = p.name + " (" + tag + ")",
                       .category = std::move(p.category),
                       .price_cents = 199 + static_cast<std::int64_t>(h % 49'800),
                       .stock = static_cast<std::int64_t>((h >> 20) % 500),
                       .description = std::move(p.description)};
}

}  // namespace catalog
