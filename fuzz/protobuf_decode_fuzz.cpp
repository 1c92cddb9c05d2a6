// fuzz/protobuf_decode_fuzz.cpp — ProtobufCodec<tiercache.test.Product>::decode on arbitrary bytes
// (fuzz/decode_check.hpp); messages compare by their serialized form.
#include "fuzz/decode_check.hpp"
#include "tests/proto/product.pb.h"
#include "tiercache/codecs/protobuf.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using Message = tiercache::test::Product;
  fuzz::check_decoder<tiercache::ProtobufCodec<Message>>(
      data, size, [](const Message& a, const Message& b) {
        return a.SerializeAsString() == b.SerializeAsString();
      });
  return 0;
}
