// fuzz/json_decode_fuzz.cpp — JsonCodec<Product>::decode on arbitrary bytes
// (fuzz/decode_check.hpp).
#include "fuzz/decode_check.hpp"
#include "tests/support/product.hpp"
#include "tiercache/codecs/json.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  fuzz::check_decoder<tiercache::JsonCodec<test::Product>>(data, size, test::same_product);
  return 0;
}
