// fuzz/codec_decode_fuzz.cpp — whatever bytes L2 holds, every shipped decoder answers a value or
// errc::serialization: no crash, no throw, no allocation the bytes ask for past their length.
// A value that decodes encodes again, and that encoding decodes to the same value.
//
// Input: byte 0 picks the codec (JSON, MessagePack, protobuf); the rest is the stored value.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "tests/proto/product.pb.h"
#include "tests/support/product.hpp"
#include "tiercache/codecs/json.hpp"
#include "tiercache/codecs/msgpack.hpp"
#include "tiercache/codecs/protobuf.hpp"

namespace {

template <class C>
void check_decoder(std::string_view bytes,
                   bool (*same)(const typename C::value_type&, const typename C::value_type&)) {
  auto decoded = C::decode(bytes);
  if (!decoded) {
    if (decoded.error() != tiercache::errc::serialization) std::abort();
    return;
  }
  auto again = C::encode(*decoded);
  if (!again) return;  // e.g. JSON text that decoded to a non-UTF-8 string: refused, not crashed
  auto back = C::decode(*again);
  if (!back || !same(*back, *decoded)) std::abort();
}

bool same_struct(const test::Product& a, const test::Product& b) {
  // NaN is not equal to itself; compare its bits' class instead.
  const bool prices = a.price == b.price || (a.price != a.price && b.price != b.price);
  return a.id == b.id && a.name == b.name && prices && a.tags == b.tags;
}

bool same_message(const tiercache::test::Product& a, const tiercache::test::Product& b) {
  return a.SerializeAsString() == b.SerializeAsString();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 3) {
    case 0:
      check_decoder<tiercache::JsonCodec<test::Product>>(bytes, same_struct);
      break;
    case 1:
      check_decoder<tiercache::MsgpackCodec<test::Product>>(bytes, same_struct);
      break;
    case 2:
      check_decoder<tiercache::ProtobufCodec<tiercache::test::Product>>(bytes, same_message);
  }
  return 0;
}
