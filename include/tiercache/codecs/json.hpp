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
    try {
      const auto too_deep = [](int depth, nlohmann::json::parse_event_t, nlohmann::json&) {
        if (depth > kMaxJsonDepth) throw DepthExceeded{};
        return true;
      };
      return nlohmann::json::parse(bytes.begin(), bytes.end(), too_deep).template get<T>();
    } catch (const DepthExceeded&) {
      return fail(errc::serialization, "JSON decode: nested deeper than ", kMaxJsonDepth);
    } catch (const std::exception& e) {
      return fail(errc::serialization, "JSON decode: ", e.what());
    }
  }

 private:
  struct DepthExceeded {};
};

}  // namespace tiercache
