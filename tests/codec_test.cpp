// tests/codec_test.cpp — the codecs that ship: round trips, and bad bytes refused as
// errc::serialization without a crash or an allocation the bytes ask for.
#include "tiercache/codec.hpp"

#include <cstdint>
#include <limits>
#include <vector>

#include "tests/proto/product.pb.h"
#include "tests/support/product.hpp"
#include "tests/support/test_support.hpp"
#include "tiercache/codecs/json.hpp"
#include "tiercache/codecs/msgpack.hpp"
#include "tiercache/codecs/protobuf.hpp"

namespace {

using tiercache::errc;
using Json = tiercache::JsonCodec<test::Product>;
using Msgpack = tiercache::MsgpackCodec<test::Product>;
using Proto = tiercache::ProtobufCodec<tiercache::test::Product>;

static_assert(tiercache::Codec<Json>);
static_assert(tiercache::Codec<Msgpack>);
static_assert(tiercache::Codec<Proto>);

template <class C>
void check_refused(std::string_view bytes) {
  INFO(bytes);
  auto r = C::decode(bytes);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error() == errc::serialization);
}

// Members narrower than JSON's numbers, each of which a hostile or buggy writer can overflow.
struct Stock {
  int qty = 0;
  std::uint8_t small = 0;
  float ratio = 0;
  std::vector<std::int16_t> counts;
  bool operator==(const Stock&) const = default;
};
TIERCACHE_JSON_DEFINE_TYPE_NON_INTRUSIVE(Stock, qty, small, ratio, counts)
using StockJson = tiercache::JsonCodec<Stock>;

// nlohmann-json 3.11.2's own macro: a from_json for nlohmann::json only, read as nlohmann-json
// reads it, unchecked.
struct LegacyStock {
  int qty = 0;
};
NLOHMANN_DEFINE_TYPE_NON_INTRUSIVE(LegacyStock, qty)

TEST_CASE("bytes pass through the bytes codec unchanged", "[codec]") {
  const std::string binary("a\0\r\n\xff", 5);
  CHECK(*tiercache::BytesCodec::decode(*tiercache::BytesCodec::encode(binary)) == binary);
}

TEST_CASE("the JSON codec writes JSON text and reads it back", "[codec]") {
  const test::Product p = test::sample_product();
  auto bytes = Json::encode(p);
  REQUIRE(bytes.has_value());
  CHECK(nlohmann::json::parse(*bytes)["name"] == p.name);
  CHECK(*Json::decode(*bytes) == p);
  CHECK(Json::decode(R"({"id":7,"name":"x","price":1.5,"tags":[]})")->id == 7);

  check_refused<Json>("");
  check_refused<Json>("{\"id\":");                                          // truncated
  check_refused<Json>(R"({"id":"seven","name":"x","price":1,"tags":[]})");  // wrong type
  check_refused<Json>(R"({"name":"x"})");                                   // a field missing
  check_refused<Json>(std::string(100000, '['));                            // nested past the bound
  check_refused<Json>("\x82\xa2id\x07");                                    // MessagePack, not JSON

  test::Product bad = p;
  bad.name = "\xff\xfe not UTF-8";
  auto refused = Json::encode(bad);
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error() == errc::serialization);
}

TEST_CASE("the JSON codec refuses a NaN or an infinity rather than write null", "[codec]") {
  // nlohmann-json writes them as null, which decode() refuses for a number member: the bytes
  // would be stored and no read could decode them.
  for (const double bad :
       {std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity(),
        -std::numeric_limits<double>::infinity()}) {
    test::Product p = test::sample_product();
    p.price = bad;
    auto refused = Json::encode(p);
    REQUIRE_FALSE(refused.has_value());
    CHECK(refused.error() == errc::serialization);
    // However deep the number is.
    const std::vector<std::vector<double>> nested = {{1.5}, {2.5, bad}};
    auto deep = tiercache::JsonCodec<std::vector<std::vector<double>>>::encode(nested);
    REQUIRE_FALSE(deep.has_value());
    CHECK(deep.error() == errc::serialization);
  }
  // Null in a string is text, not a number.
  test::Product p = test::sample_product();
  p.name = "null";
  p.tags = {"null", "nullable"};
  CHECK(*Json::decode(*Json::encode(p)) == p);
  CHECK(*Json::decode(*Json::encode(test::Product{})) == test::Product{});
}

TEST_CASE("the JSON codec refuses a number its member cannot hold", "[codec]") {
  const Stock limits{-2147483648, 255, 0.5f, {-32768, 32767}};
  CHECK(*StockJson::decode(
            R"({"qty":-2147483648,"small":255,"ratio":0.5,"counts":[-32768,32767]})") == limits);
  CHECK(*StockJson::decode(*StockJson::encode(limits)) == limits);
  // A whole number written as a float still fits.
  CHECK(StockJson::decode(R"({"qty":7.0,"small":0,"ratio":0,"counts":[]})")->qty == 7);

  check_refused<StockJson>(R"({"qty":1e300,"small":0,"ratio":0,"counts":[]})");
  check_refused<StockJson>(R"({"qty":4294967297,"small":0,"ratio":0,"counts":[]})");
  check_refused<StockJson>(R"({"qty":2147483648,"small":0,"ratio":0,"counts":[]})");
  check_refused<StockJson>(R"({"qty":-2147483649,"small":0,"ratio":0,"counts":[]})");
  check_refused<StockJson>(R"({"qty":2.5,"small":0,"ratio":0,"counts":[]})");  // a fraction
  check_refused<StockJson>(R"({"qty":0,"small":300,"ratio":0,"counts":[]})");
  check_refused<StockJson>(R"({"qty":0,"small":-1,"ratio":0,"counts":[]})");
  check_refused<StockJson>(R"({"qty":0,"small":0,"ratio":1e300,"counts":[]})");
  check_refused<StockJson>(R"({"qty":0,"small":0,"ratio":0,"counts":[1,40000]})");
  // A type of the standard library's, too.
  check_refused<tiercache::JsonCodec<std::vector<std::uint8_t>>>("[1,256]");
  check_refused<tiercache::JsonCodec<std::int64_t>>("9223372036854775808");

  static_assert(tiercache::json_detail::reads_checked<Stock>);
  static_assert(!tiercache::json_detail::reads_checked<LegacyStock>);
  CHECK(tiercache::JsonCodec<LegacyStock>::decode(R"({"qty":7})")->qty == 7);
}

TEST_CASE("the MessagePack codec round-trips and bounds what the bytes claim", "[codec]") {
  const test::Product p = test::sample_product();
  auto bytes = Msgpack::encode(p);
  REQUIRE(bytes.has_value());
  CHECK(*Msgpack::decode(*bytes) == p);

  check_refused<Msgpack>("");
  check_refused<Msgpack>(bytes->substr(0, bytes->size() - 1));     // truncated
  check_refused<Msgpack>(*bytes + "x");                            // trailing bytes
  check_refused<Msgpack>(std::string("\xdd\xff\xff\xff\xff", 5));  // array32 of 4G elements
  check_refused<Msgpack>(std::string("\xdb\xff\xff\xff\xff", 5));  // str32 of 4 GiB
  check_refused<Msgpack>(std::string(1000, '\x91'));               // nested 1000 deep
  check_refused<Msgpack>(R"({"id":7})");                           // JSON, not MessagePack
  check_refused<Msgpack>("\x94\xa1x\xa1x\xa1x\xa1x");              // wrong member types
}

TEST_CASE("the protobuf codec round-trips any message and refuses malformed bytes", "[codec]") {
  tiercache::test::Product p;
  p.set_id(42);
  p.set_name("Espresso cup");
  p.set_price(12.5);
  p.add_tags("kitchen");
  auto bytes = Proto::encode(p);
  REQUIRE(bytes.has_value());
  auto back = Proto::decode(*bytes);
  REQUIRE(back.has_value());
  CHECK(back->id() == 42);
  CHECK(back->name() == "Espresso cup");
  CHECK(back->tags_size() == 1);

  check_refused<Proto>(bytes->substr(0, bytes->size() - 3));         // truncated
  check_refused<Proto>(std::string("\x12\xff\xff\xff\xff\x0f", 6));  // a length past the end
  check_refused<Proto>("\x0f");                                      // wire type 7 does not exist
}

}  // namespace
