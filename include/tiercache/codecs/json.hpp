// tiercache/codecs/json.hpp — JsonCodec<T>: T as JSON text, through nlohmann-json.
//
// T converts the way nlohmann-json converts it: its own to_json / from_json, or
// NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(T, fields...). The text is UTF-8; a string member holding
// invalid UTF-8 fails encode() with errc::serialization rather than writing text other JSON
// readers refuse. decode() refuses nesting deeper than kMaxJsonDepth, so a hostile value cannot
// exhaust the stack or the heap by depth alone.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

#include "tiercache/codec.hpp"

namespace tiercache {

inline constexpr int kMaxJsonDepth = 128;

template <class T>
struct JsonCodec {
  using value_type = T;

  static Result<std::string> encode(const T& value) {
    try {
      return nlohmann::json(value).dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
    } catch (const std::exception& e) {
      return fail(errc::serialization, "JSON encode: ", e.what());
    }
  }

  static Result<T> decode(std::string_view bytes) {
    if (nesting_exceeds(bytes, kMaxJsonDepth))
      return fail(errc::serialization, "JSON decode: nested deeper than ", kMaxJsonDepth);
    try {
      return nlohmann::json::parse(bytes.begin(), bytes.end()).template get<T>();
    } catch (const std::exception& e) {
      return fail(errc::serialization, "JSON decode: ", e.what());
    }
  }

 private:
  // Whether arrays and objects nest deeper than `limit` (brackets inside strings do not count):
  // one pass before parsing, cheaper than a callback on every parse event.
  static bool nesting_exceeds(std::string_view text, int limit) noexcept {
    int depth = 0;
    bool in_string = false;
    bool escaped = false;
    for (const char c : text) {
      if (in_string) {
        if (escaped) {
          escaped = false;
        } else if (c == '\\') {
          escaped = true;
        } else if (c == '"') {
          in_string = false;
        }
      } else if (c == '"') {
        in_string = true;
      } else if (c == '[' || c == '{') {
        if (++depth > limit) return true;
      } else if (c == ']' || c == '}') {
        --depth;
      }
    }
    return false;
  }
};

}  // namespace tiercache
