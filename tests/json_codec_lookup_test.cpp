// JsonCodec in a program that says `using namespace nlohmann;` before including it: ordinary
// lookup then finds nlohmann's from_json object, which once made the codec's header fail to
// compile. It compiles, and still checks numbers.
#include <nlohmann/json.hpp>

using namespace nlohmann;  // what this file is about

#include <cstdint>

#include "tests/support/test_support.hpp"
#include "tiercache/codecs/json.hpp"

namespace lookup_test {

struct Checked {
  std::int32_t qty = 0;
};
TIERCACHE_JSON_DEFINE_TYPE_NON_INTRUSIVE(Checked, qty)

struct Legacy {
  std::int32_t qty = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(Legacy, qty)

}  // namespace lookup_test

TEST_CASE("JsonCodec works after using namespace nlohmann", "[codec]") {
  using tiercache::JsonCodec;
  CHECK(JsonCodec<lookup_test::Checked>::decode(R"({"qty":7})")->qty == 7);
  CHECK(JsonCodec<lookup_test::Checked>::decode(R"({"qty":4294967297})").error() ==
        tiercache::errc::serialization);
  CHECK(JsonCodec<lookup_test::Legacy>::decode(R"({"qty":7})")->qty == 7);
  CHECK(JsonCodec<int>::decode("300").value() == 300);
}
