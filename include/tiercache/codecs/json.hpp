// tiercache/codecs/json.hpp — JsonCodec<T>: T as JSON text, through nlohmann-json.
//
// T converts the way nlohmann-json converts it: its own to_json / from_json, or
// NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(T, fields...). The text is UTF-8; a string member holding
// invalid UTF-8, or a NaN or infinite number, fails encode() with errc::serialization rather
// than writing text that other JSON readers refuse or that decode() cannot read back. decode()
// refuses nesting deeper than kMaxJsonDepth, so a hostile value cannot exhaust the stack or the
// heap by depth alone.
#pragma once

#include <nlohmann/json.hpp>

#include <cmath>
#include <string>
#include <string_view>

#include "tiercache/codec.hpp"

namespace tiercache {

inline constexpr int kMaxJsonDepth = 128;

namespace json_detail {

// Whether a number in the tree is a NaN or an infinity. Recursive, as dump() is.
inline bool has_non_finite(const nlohmann::json& j) {
  if (j.is_number_float()) return !std::isfinite(j.get<double>());
  if (!j.is_structured()) return false;
  for (const auto& element : j)
    if (has_non_finite(element)) return true;
  return false;
}

}  // namespace json_detail

template <class T>
struct JsonCodec {
  using value_type = T;

  static Result<std::string> encode(const T& value) {
    try {
      const nlohmann::json tree(value);
      std::string text = tree.dump(-1, ' ', false, nlohmann::json::error_handler_t::strict);
      // nlohmann-json writes a NaN or an infinity as null, which decode() refuses for a number
      // member: stored, such bytes would fail every read on every instance until their TTL. The
      // tree is searched only when the text holds "null" (a null, or text in a string).
      if (text.find("null") != std::string::npos && json_detail::has_non_finite(tree))
        return fail(errc::serialization, "JSON encode: a number is NaN or infinite");
      return text;
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
