#include "adapters/file/key_file.hpp"

#include <xxhash.h>

namespace tiercache::file {
namespace {

constexpr char kHexDigits[] = "0123456789abcdef";
// What follows a record's name in a temporary file's name.
constexpr std::string_view kTempInfix = ".tmp.";

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

void append_hex(std::string& out, unsigned long long v) {
  for (int shift = 60; shift >= 0; shift -= 4) out.push_back(kHexDigits[(v >> shift) & 0xf]);
}

}  // namespace

std::string byte_hex(std::size_t i) {
  return {kHexDigits[(i >> 4) & 0xf], kHexDigits[i & 0xf]};
}

KeyFile key_file(std::string_view key) {
  const XXH128_hash_t h = XXH3_128bits(key.data(), key.size());
  KeyFile f;
  f.name.reserve(kNameDigits);
  append_hex(f.name, h.high64);
  append_hex(f.name, h.low64);
  f.fanout = static_cast<std::size_t>(h.high64 >> 56);
  f.lock = static_cast<std::size_t>(h.low64 & 0xff);
  return f;
}

std::optional<KeyFile> key_file_of_name(std::string_view name) {
  if (name.size() != kNameDigits) return std::nullopt;
  for (char c : name)
    if (hex_value(c) < 0) return std::nullopt;
  KeyFile f;
  f.name = name;
  f.fanout = static_cast<std::size_t>(hex_value(name[0]) * 16 + hex_value(name[1]));
  f.lock = static_cast<std::size_t>(hex_value(name[kNameDigits - 2]) * 16 +
                                    hex_value(name[kNameDigits - 1]));
  return f;
}

bool is_temp_name(std::string_view name) {
  return name.size() > kNameDigits && key_file_of_name(name.substr(0, kNameDigits)) &&
         name.substr(kNameDigits).starts_with(kTempInfix);
}

}  // namespace tiercache::file
