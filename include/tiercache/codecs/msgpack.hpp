// tiercache/codecs/msgpack.hpp — MsgpackCodec<T>: T as MessagePack, through msgpack-cxx.
//
// T converts the way msgpack-cxx converts it: MSGPACK_DEFINE(fields...) in the struct, or an
// adaptor of its own. decode() unpacks with limits no larger than the bytes given (every element
// takes at least one byte), so a header claiming four billion array elements is refused before
// anything is allocated, and nesting is bounded by kMaxMsgpackDepth.
#pragma once

#include <msgpack.hpp>

#include <string>
#include <string_view>

#include "tiercache/codec.hpp"

namespace tiercache {

inline constexpr std::size_t kMaxMsgpackDepth = 128;

template <class T>
struct MsgpackCodec {
  using value_type = T;

  static Result<std::string> encode(const T& value) {
    try {
      msgpack::sbuffer buffer;
      msgpack::pack(buffer, value);
      return std::string(buffer.data(), buffer.size());
    } catch (const std::exception& e) {
      return fail(errc::serialization, "MessagePack encode: ", e.what());
    }
  }

  static Result<T> decode(std::string_view bytes) {
    try {
      const std::size_t n = bytes.size();
      const msgpack::unpack_limit limit(n, n, n, n, n, kMaxMsgpackDepth);
      std::size_t used = 0;
      const msgpack::object_handle handle =
          msgpack::unpack(bytes.data(), n, used, nullptr, nullptr, limit);
      if (used != n)
        return fail(errc::serialization, "MessagePack decode: ", n - used,
                    " bytes left after the value");
      return handle.get().as<T>();
    } catch (const std::exception& e) {
      return fail(errc::serialization, "MessagePack decode: ", e.what());
    }
  }
};

}  // namespace tiercache
