// tiercache/codec.hpp — how a typed value becomes the bytes L2 stores, and back.
//
// A codec is a type with a value_type and two static functions:
//
//   struct MyCodec {
//     using value_type = Order;
//     static Result<std::string> encode(const Order& order);     // serialization on failure
//     static Result<Order> decode(std::string_view bytes);       // serialization on bad bytes
//   };
//
// decode() gets bytes from outside the program (L2 is shared with other programs and versions):
// it must answer errc::serialization for anything it cannot read, never throw, never crash, and
// never allocate by a size the bytes claim without checking it against their length. The codecs
// that ship each live in their own header under tiercache/codecs/, so a program pays only for
// the library of the one it includes: json.hpp (nlohmann-json), msgpack.hpp (msgpack-cxx),
// protobuf.hpp (libprotobuf). docs/codecs.md compares them.
#pragma once

#include <concepts>
#include <string>
#include <string_view>

#include "tiercache/error.hpp"

namespace tiercache {

template <class C>
concept Codec = requires(const typename C::value_type& value, std::string_view bytes) {
  { C::encode(value) } -> std::same_as<Result<std::string>>;
  { C::decode(bytes) } -> std::same_as<Result<typename C::value_type>>;
};

// Bytes as they are: what Cache itself stores.
struct BytesCodec {
  using value_type = std::string;
  static Result<std::string> encode(const std::string& value) { return value; }
  static Result<std::string> decode(std::string_view bytes) { return std::string(bytes); }
};
static_assert(Codec<BytesCodec>);

}  // namespace tiercache
