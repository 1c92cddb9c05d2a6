// tiercache/codecs/protobuf.hpp — ProtobufCodec<M>: any protobuf message type M, in its wire
// format, through libprotobuf.
//
// decode() is libprotobuf's own parser: it refuses malformed input and bounds nesting (100
// levels by default). encode() fails with errc::serialization for a message libprotobuf will not
// serialize (a proto2 message missing a required field).
#pragma once

#include <google/protobuf/message_lite.h>

#include <string>
#include <string_view>
#include <type_traits>

#include "tiercache/codec.hpp"

namespace tiercache {

template <class M>
requires std::is_base_of_v<google::protobuf::MessageLite, M>
struct ProtobufCodec {
  using value_type = M;

  static Result<std::string> encode(const M& message) {
    std::string out;
    if (!message.SerializeToString(&out))
      return fail(errc::serialization, "protobuf encode: ", message.GetTypeName(),
                  " is not initialized (a required field is missing)");
    return out;
  }

  static Result<M> decode(std::string_view bytes) {
    M message;
    if (bytes.size() > static_cast<std::size_t>(INT32_MAX) ||
        !message.ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
      return fail(errc::serialization, "protobuf decode: the bytes are not a ",
                  message.GetTypeName());
    return message;
  }
};

}  // namespace tiercache
