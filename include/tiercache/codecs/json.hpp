// tiercache/codecs/json.hpp — JsonCodec<T>: T as JSON text, through nlohmann-json.
//
// T converts the way nlohmann-json converts it: TIERCACHE_JSON_DEFINE_TYPE_NON_INTRUSIVE(T,
// fields...) (below), its own to_json / from_json, or NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE. The
// text is UTF-8; a string member holding invalid UTF-8, or a NaN or infinite number, fails
// encode() with errc::serialization rather than writing text that other JSON readers refuse or
// that decode() cannot read back. decode() refuses nesting deeper than kMaxJsonDepth, so a
// hostile value cannot exhaust the stack or the heap by depth alone, and a number its member
// cannot hold (out of its range, a fraction into an integer) when T's from_json takes any JSON
// type (json_detail::reads_checked below).
#pragma once

#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "tiercache/codec.hpp"

// NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE's mapping (through its own helper macros), with a from_json
// that takes any JSON type: nlohmann-json 3.11.2's takes nlohmann::json only, whose conversions
// of numbers are unchecked casts, so JsonCodec could not check Type's numbers.
#define TIERCACHE_JSON_DEFINE_TYPE_NON_INTRUSIVE(Type, ...)                                   \
  template <class BasicJsonType,                                                              \
            std::enable_if_t<nlohmann::detail::is_basic_json<BasicJsonType>::value, int> = 0> \
  void to_json(BasicJsonType& nlohmann_json_j, const Type& nlohmann_json_t) {                 \
    NLOHMANN_JSON_EXPAND(NLOHMANN_JSON_PASTE(NLOHMANN_JSON_TO, __VA_ARGS__))                  \
  }                                                                                           \
  template <class BasicJsonType,                                                              \
            std::enable_if_t<nlohmann::detail::is_basic_json<BasicJsonType>::value, int> = 0> \
  void from_json(const BasicJsonType& nlohmann_json_j, Type& nlohmann_json_t) {               \
    NLOHMANN_JSON_EXPAND(NLOHMANN_JSON_PASTE(NLOHMANN_JSON_FROM, __VA_ARGS__))                \
  }

namespace tiercache {

inline constexpr int kMaxJsonDepth = 128;

namespace json_detail {

template <class T, class SFINAE = void>
struct CheckedNumbers : nlohmann::adl_serializer<T, SFINAE> {};

// nlohmann::json but for its serializer: what decode() parses into, so that every number a
// from_json taking any JSON type converts to an arithmetic member, at any depth (in a vector,
// a map, a nested type), goes through CheckedNumbers. nlohmann-json's own conversion is a
// static_cast: 300 into a uint8_t is 44, 4294967297 into an int is 1, and 1e300 into an int is
// undefined behaviour.
using CheckedJson = nlohmann::basic_json<std::map, std::vector, std::string, bool, std::int64_t,
                                         std::uint64_t, double, std::allocator, CheckedNumbers>;

[[noreturn]] inline void refuse_number(const CheckedJson& j, const char* why) {
  throw std::out_of_range("the number " + j.dump() + " " + why);
}

// Whether integer n is in integral T's range (std::in_range refuses character types).
template <class T, class N>
constexpr bool in_range(N n) noexcept {
  using L = std::numeric_limits<T>;
  if constexpr (std::is_signed_v<N>) {
    if (n < 0) return std::is_signed_v<T> && n >= static_cast<std::int64_t>(L::min());
  }
  return static_cast<std::uint64_t>(n) <= static_cast<std::uint64_t>(L::max());
}

template <class T>
struct CheckedNumbers<T, std::enable_if_t<std::is_arithmetic_v<T> && !std::is_same_v<T, bool>>>
    : nlohmann::adl_serializer<T> {
  static void from_json(const CheckedJson& j, T& out) {
    using L = std::numeric_limits<T>;
    switch (j.type()) {
      case nlohmann::json::value_t::number_integer:
        return from_integer(*j.get_ptr<const std::int64_t*>(), j, out);
      case nlohmann::json::value_t::number_unsigned:
        return from_integer(*j.get_ptr<const std::uint64_t*>(), j, out);
      case nlohmann::json::value_t::number_float: {
        const double f = *j.get_ptr<const double*>();
        if constexpr (std::is_integral_v<T>) {
          // Both bounds are powers of two, exact as doubles; in range, the cast is defined.
          if (std::trunc(f) != f) refuse_number(j, "is not a whole number");
          if (f < static_cast<double>(L::min()) || f >= std::ldexp(1.0, L::digits))
            refuse_number(j, "is out of its member's range");
        } else if constexpr (L::max() < std::numeric_limits<double>::max()) {
          if (std::abs(f) > static_cast<double>(L::max()))
            refuse_number(j, "is out of its member's range");
        }
        out = static_cast<T>(f);
        return;
      }
      default:  // not a number: nlohmann-json's type_error
        nlohmann::adl_serializer<T>::from_json(j, out);
    }
  }

 private:
  template <class N>
  static void from_integer(N n, const CheckedJson& j, T& out) {
    if constexpr (std::is_integral_v<T>) {
      if (!in_range<T>(n)) refuse_number(j, "is out of its member's range");
    }
    out = static_cast<T>(n);
  }
};

// Never viable; declared so that ordinary lookup in the concepts below finds a function template
// whatever a program made visible: after `using namespace nlohmann;` it would find nlohmann's
// from_json object instead, which reads from_json<X>(j, v) as comparisons and turns
// argument-dependent lookup (which finds T's own from_json) off.
template <class>
void from_json() = delete;

// T's from_json is a template over the JSON type (TIERCACHE_JSON_DEFINE_TYPE_NON_INTRUSIVE, or
// written so), so that it reads a CheckedJson as it is.
template <class T>
concept from_any_json = requires(const CheckedJson& j, T& v) {
  from_json<CheckedJson>(j, v);
};
// T has a from_json of its own (found by argument-dependent lookup), maybe for nlohmann::json
// only.
template <class T>
concept own_from_json = requires(const nlohmann::json& j, T& v) {
  from_json(j, v);
};
// Read through CheckedJson: T reads any JSON type, or is converted by nlohmann-json itself (a
// number, a standard container). A from_json for nlohmann::json only would get a copy of the
// whole tree, converted unchecked: T is read from nlohmann::json as it was.
template <class T>
inline constexpr bool reads_checked = from_any_json<T> || !own_from_json<T>;

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
      if constexpr (json_detail::reads_checked<T>) {
        return json_detail::CheckedJson::parse(bytes.begin(), bytes.end()).template get<T>();
      } else {
        return nlohmann::json::parse(bytes.begin(), bytes.end()).template get<T>();
      }
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
