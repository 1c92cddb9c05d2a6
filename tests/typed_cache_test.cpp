// tests/typed_cache_test.cpp — TypedCache: L1 keeps the decoded object, so a hit decodes nothing;
// bytes are encoded once on the way to L2 and decoded once when L1 takes them; what another
// program stored that the codec cannot read is serialization, never a crash.
#include <atomic>
#include <limits>
#include <thread>

#include "examples/backend/map_backend.hpp"
#include "tests/support/product.hpp"
#include "tests/support/redis_cache.hpp"
#include "tiercache/codecs/json.hpp"
#include "tiercache/codecs/msgpack.hpp"
#include "tiercache/typed_cache.hpp"

namespace {

using namespace std::chrono_literals;
using test::Product;
using tiercache::errc;

// JSON, counting what it does, so that a test can tell a hit from a decode.
struct CountingJson {
  using value_type = Product;
  static inline std::atomic<int> encodes{0};
  static inline std::atomic<int> decodes{0};
  static void reset() {
    encodes = 0;
    decodes = 0;
  }
  static tiercache::Result<std::string> encode(const Product& p) {
    ++encodes;
    return tiercache::JsonCodec<Product>::encode(p);
  }
  static tiercache::Result<Product> decode(std::string_view bytes) {
    ++decodes;
    return tiercache::JsonCodec<Product>::decode(bytes);
  }
};
using Products = tiercache::TypedCache<CountingJson>;

Products open_products(tiercache::Options options = {}) {
  auto cache = Products::open(options);
  if (!cache) FAIL("open: " << cache.error().detail);
  return std::move(*cache);
}

Product product(std::int64_t id) {
  return {id, "product " + std::to_string(id), static_cast<double>(id) / 4, {"t"}};
}

TEST_CASE("a typed hit decodes nothing: the value is decoded once and shared", "[typed]") {
  CountingJson::reset();
  Products cache = open_products();
  REQUIRE(cache.set(test::ctx(), "p:1", product(1)).has_value());
  CHECK(CountingJson::encodes == 1);
  for (int i = 0; i < 1000; ++i) {
    auto got = cache.get(test::ctx(), "p:1");
    REQUIRE(got.has_value());
    CHECK(*got == product(1));
  }
  CHECK(CountingJson::decodes == 1);

  // visit() sees L1's object itself: the same address every time, no copy.
  const Product* first = nullptr;
  const Product* second = nullptr;
  REQUIRE(cache.visit(test::ctx(), "p:1", [&](const Product& p) { first = &p; }).has_value());
  REQUIRE(cache.visit(test::ctx(), "p:1", [&](const Product& p) { second = &p; }).has_value());
  CHECK(first == second);
  Product out = product(99);
  REQUIRE(cache.get(test::ctx(), "p:1", out).has_value());
  CHECK(out == product(1));
  CHECK(CountingJson::decodes == 1);

  auto missing = cache.get(test::ctx(), "p:2");
  REQUIRE_FALSE(missing.has_value());
  CHECK(missing.error() == errc::not_found);
  CHECK(cache.stats().l1_hits == 1003);
}

TEST_CASE("a typed set replaces the object; a purge removes it", "[typed]") {
  Products cache = open_products();
  REQUIRE(cache.set(test::ctx(), "k", product(1)).has_value());
  CHECK(cache.get(test::ctx(), "k")->id == 1);
  REQUIRE(cache.set(test::ctx(), "k", product(2)).has_value());
  CHECK(cache.get(test::ctx(), "k")->id == 2);
  REQUIRE(cache.purge(test::ctx(), "k").has_value());
  CHECK(cache.get(test::ctx(), "k").error() == errc::not_found);
}

TEST_CASE("get_or_load runs the typed loader once, encodes once, decodes once", "[typed]") {
  CountingJson::reset();
  Products cache = open_products({.negative_ttl = 60s});
  std::atomic<int> loads{0};
  const tiercache::TypedLoader<Product> loader =
      [&](const tiercache::Context&, std::string_view key) -> tiercache::Result<Product> {
    ++loads;
    if (key == "gone") return tiercache::fail(errc::not_found, "no such product");
    return product(7);
  };
  for (int i = 0; i < 100; ++i) {
    auto got = cache.get_or_load(test::ctx(), "p:7", loader);
    REQUIRE(got.has_value());
    CHECK(*got == product(7));
  }
  CHECK(loads == 1);
  CHECK(CountingJson::encodes == 1);
  CHECK(CountingJson::decodes == 1);
  // A loader's not_found is cached as absent, like Cache's.
  CHECK(cache.get_or_load(test::ctx(), "gone", loader).error() == errc::not_found);
  CHECK(cache.get_or_load(test::ctx(), "gone", loader).error() == errc::not_found);
  CHECK(loads == 2);
  CHECK(cache.get_or_load(test::ctx(), "p:8", {}).error() == errc::invalid_argument);
  CHECK(cache.get_or_load(test::ctx(), "p:8", loader, 0ms).error() == errc::invalid_argument);
}

TEST_CASE("typed get_or_load from many threads: one load, and every caller gets the value",
          "[typed]") {
  CountingJson::reset();
  Products cache = open_products();
  std::atomic<int> loads{0};
  std::atomic<int> wrong{0};
  const tiercache::TypedLoader<Product> loader =
      [&](const tiercache::Context&, std::string_view) -> tiercache::Result<Product> {
    ++loads;
    std::this_thread::sleep_for(20ms);  // so that the others arrive while it loads
    return product(3);
  };
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t)
    threads.emplace_back([&] {
      for (int i = 0; i < 50; ++i) {
        auto got = cache.get_or_load(test::ctx(), "hot", loader);
        if (!got || *got != product(3)) ++wrong;
      }
    });
  for (auto& t : threads) t.join();
  CHECK(wrong == 0);
  CHECK(loads == 1);
  // Concurrent first reads may each decode; one object is kept, and later hits decode nothing.
  CHECK(CountingJson::decodes >= 1);
  CHECK(CountingJson::decodes <= 8);
}

TEST_CASE("stale and early-refreshed typed hits decode nothing; a refresh's value once",
          "[typed]") {
  CountingJson::reset();
  Products cache = open_products({.stale_while_revalidate = 60s, .refresh_threads = 1});
  std::atomic<int> loads{0};
  const tiercache::TypedLoader<Product> loader =
      [&](const tiercache::Context&, std::string_view) -> tiercache::Result<Product> {
    return product(++loads);
  };
  REQUIRE(cache.get_or_load(test::ctx(), "k", loader, 100ms).value() == product(1));
  const auto expired = std::chrono::steady_clock::now() + 150ms;
  test::wait_until(
      2s, [&] { return std::chrono::steady_clock::now() > expired; }, "it expired");
  for (int i = 0; i < 10; ++i) {
    auto got = cache.get_or_load(test::ctx(), "k", loader, 100ms);
    REQUIRE(got.has_value());
    CHECK((got->id == 1 || got->id == 2));
  }
  test::wait_until(
      5s,
      [&] {
        auto got = cache.get(test::ctx(), "k");
        return got.has_value() && got->id == 2;
      },
      "the background refresh landed");
  CHECK(loads == 2);
  // The first value's decode, and the refreshed value's: the stale hits decoded nothing.
  CHECK(CountingJson::decodes == 2);

  // A const function object is taken as well.
  const auto read_id = [](const Product& p) { CHECK(p.id == 2); };
  CHECK(cache.visit(test::ctx(), "k", read_id).has_value());
  CHECK(cache.get_or_load(test::ctx(), "k", loader, std::chrono::seconds(5)).has_value());
}

TEST_CASE("bytes a typed cache cannot decode answer serialization and change nothing", "[typed]") {
  Products cache = open_products();
  REQUIRE(cache.bytes().set(test::ctx(), "bad", "this is not JSON").has_value());
  auto got = cache.get(test::ctx(), "bad");
  REQUIRE_FALSE(got.has_value());
  CHECK(got.error() == errc::serialization);
  CHECK(cache.stats().decode_failures == 1);
  // Counted and dropped from L1 (which has no L2 behind it here): not served again.
  CHECK(cache.bytes().get(test::ctx(), "bad").error() == errc::not_found);
  REQUIRE(cache.bytes().set(test::ctx(), "bad", "this is not JSON").has_value());
  // A set of a good value replaces it.
  REQUIRE(cache.set(test::ctx(), "bad", product(4)).has_value());
  CHECK(cache.get(test::ctx(), "bad").value() == product(4));

  Product invalid = product(5);
  invalid.name = "\xff not UTF-8";
  CHECK(cache.set(test::ctx(), "k", invalid).error() == errc::serialization);
  CHECK(cache.get(test::ctx(), "k").error() == errc::not_found);
}

TEST_CASE("a typed value JSON cannot hold is refused and stored nowhere", "[typed]") {
  auto store = std::make_shared<example::MapStore>();
  auto cache = tiercache::TypedCache<tiercache::JsonCodec<Product>>::open(
      {.backend = std::make_shared<example::MapBackend>(store)});
  REQUIRE(cache.has_value());
  // nlohmann-json would write the price as null, which no read decodes: the key would answer
  // serialization on every instance sharing L2 until its TTL ended.
  Product nan = product(6);
  nan.price = std::numeric_limits<double>::quiet_NaN();
  const auto refused = [](const auto& r, errc why) { return !r.has_value() && r.error() == why; };
  CHECK(refused(cache->set(test::ctx(), "set", nan), errc::serialization));
  const tiercache::TypedLoader<Product> loader =
      [&](const tiercache::Context&, std::string_view) -> tiercache::Result<Product> {
    return nan;
  };
  CHECK(refused(cache->get_or_load(test::ctx(), "loaded", loader), errc::serialization));
  REQUIRE(cache->flush(test::ctx()).has_value());
  for (const char* key : {"set", "loaded"}) {
    CHECK_FALSE(store->find(key).has_value());
    CHECK(refused(cache->get(test::ctx(), key), errc::not_found));
  }
}

TEST_CASE("get_or_load of L2 bytes the codec cannot read answers serialization as get does",
          "[typed]") {
  // docs/codecs.md and docs/errors.md: the writer of the key is to be fixed. The loader's value
  // would go to L2 as a fill, which leaves the bytes there, and replacing them would have two
  // versions of a program overwrite each other's format.
  auto store = std::make_shared<example::MapStore>();
  store->apply(tiercache::BackendWrite::Kind::set, "bad", {.value = "not JSON"});
  Products cache = open_products({.backend = std::make_shared<example::MapBackend>(store)});
  int loads = 0;
  const tiercache::TypedLoader<Product> loader =
      [&](const tiercache::Context&, std::string_view) -> tiercache::Result<Product> {
    ++loads;
    return product(1);
  };
  CHECK(cache.get_or_load(test::ctx(), "bad", loader).error() == errc::serialization);
  CHECK(cache.get(test::ctx(), "bad").error() == errc::serialization);
  CHECK(loads == 0);
  CHECK(cache.stats().decode_failures == 2);
  REQUIRE(store->find("bad").has_value());
  CHECK(store->find("bad")->value == "not JSON");
}

TEST_CASE("a typed cache refuses a max_value_bytes that does not fit twice in a shard", "[typed]") {
  tiercache::Options o;
  o.l1.max_bytes = 1 << 20;
  o.l1.shards = 1;
  o.l1.max_value_bytes = 700 << 10;
  CHECK(tiercache::Cache::open(o).has_value());
  auto refused = Products::open(o);
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error() == errc::invalid_argument);
  CHECK_THAT(refused.error().detail, Catch::Contains("twice in a typed cache"));
}

TEST_CASE("typed values are evicted and freed within the byte bound", "[typed]") {
  // Leaks or a double free show under ASan; the bound under check_invariants.
  tiercache::Options o;
  o.l1.max_bytes = 256 << 10;
  o.l1.shards = 1;
  o.l1.max_value_bytes = 4 << 10;
  Products cache = open_products(o);
  for (int i = 0; i < 5000; ++i) {
    const std::string key = "p:" + std::to_string(i);
    REQUIRE(cache.set(test::ctx(), key, product(i)).has_value());
    auto got = cache.get(test::ctx(), key);
    REQUIRE(got.has_value());
    CHECK(got->id == i);
  }
  const tiercache::CacheStats s = cache.stats();
  CHECK(s.evictions > 0);
  CHECK(s.bytes <= o.l1.max_bytes);
  CHECK(test::invariants_hold(cache.bytes()));
}

TEST_CASE("typed readers never see a torn or freed object while writers replace and purge",
          "[typed][stress]") {
  tiercache::Options o;
  o.l1.max_bytes = 1 << 20;
  o.l1.max_value_bytes = 4 << 10;
  o.l1.max_entries = 64;  // evictions too
  Products cache = open_products(o);
  std::atomic<bool> stop{false};
  std::atomic<int> torn{0};
  std::atomic<long> seen{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < 2; ++w)
    threads.emplace_back([&, w] {
      for (int i = 0; !stop; ++i) {
        const std::string key = "k" + std::to_string(i % 100);
        if (i % 7 == 0) {
          (void)cache.purge(test::ctx(), key);
        } else {
          (void)cache.set(test::ctx(), key, product(i * 2 + w));
        }
      }
    });
  for (int r = 0; r < 2; ++r)
    threads.emplace_back([&] {
      while (!stop) {
        for (int k = 0; k < 100; ++k) {
          (void)cache.visit(test::ctx(), "k" + std::to_string(k), [&](const Product& p) {
            if (p.name != "product " + std::to_string(p.id) || p.price != p.id / 4.0) ++torn;
            ++seen;
          });
        }
      }
    });
  std::this_thread::sleep_for(500ms);
  stop = true;
  for (auto& t : threads) t.join();
  CHECK(torn == 0);
  CHECK(seen > 0);
  CHECK(test::invariants_hold(cache.bytes()));
}

TEST_CASE("typed values through Redis: encoded once for L2, decoded once by another instance",
          "[typed][redis]") {
  test::RedisServer redis;
  tiercache::Options o;
  o.redis.url = redis.url();
  o.writer.mode = tiercache::WriteMode::sync;
  using JsonProducts = tiercache::TypedCache<tiercache::JsonCodec<Product>>;
  auto a = JsonProducts::open(o);
  REQUIRE(a.has_value());
  CountingJson::reset();
  auto b = Products::open(o);
  REQUIRE(b.has_value());
  REQUIRE(a->set(test::ctx(), "p:1", product(1)).has_value());
  test::wait_until_heard(*b, "a's write is heard by b");

  // Another instance with an empty L1: one L2 read, one decode, then hits.
  for (int i = 0; i < 100; ++i) CHECK(b->get(test::ctx(), "p:1").value() == product(1));
  CHECK(CountingJson::decodes == 1);
  CHECK(b->stats().l2_hits == 1);

  // What L2 holds is the JSON text, as a cache of bytes reads it.
  auto raw = tiercache::Cache::open(o);
  REQUIRE(raw.has_value());
  const std::string text = raw->get(test::ctx(), "p:1").value();
  CHECK(nlohmann::json::parse(text)["name"] == "product 1");

  // get_many: an L1 hit, an L2 hit, a key nowhere, a bad key.
  REQUIRE(a->set(test::ctx(), "p:2", product(2)).has_value());
  REQUIRE(raw->set(test::ctx(), "p:bad", "{").has_value());
  const std::vector<std::string_view> keys = {"p:1", "p:2", "p:none", "", "p:bad", "p:1"};
  auto many = b->get_many(test::ctx(), keys);
  REQUIRE(many.has_value());
  REQUIRE(many->size() == keys.size());
  CHECK((*many)[0].value() == product(1));
  CHECK((*many)[1].value() == product(2));
  CHECK((*many)[2].error() == errc::not_found);
  CHECK((*many)[3].error() == errc::invalid_argument);
  CHECK((*many)[4].error() == errc::serialization);
  CHECK((*many)[5].value() == product(1));
  // Bad bytes in L2 are not kept in L1: each read asks L2 again, and fails again, counted.
  CHECK(b->get(test::ctx(), "p:bad").error() == errc::serialization);
  CHECK(b->stats().decode_failures == 2);
  REQUIRE(raw->set(test::ctx(), "p:bad", *tiercache::JsonCodec<Product>::encode(product(5)))
              .has_value());
  CHECK(b->get(test::ctx(), "p:bad").value() == product(5));

  // MessagePack the same way.
  using PackedProducts = tiercache::TypedCache<tiercache::MsgpackCodec<Product>>;
  auto packed = PackedProducts::open(o);
  REQUIRE(packed.has_value());
  REQUIRE(packed->set(test::ctx(), "m:1", product(9)).has_value());
  auto packed_b = PackedProducts::open(o);
  REQUIRE(packed_b.has_value());
  CHECK(packed_b->get(test::ctx(), "m:1").value() == product(9));
}

}  // namespace

TEST_CASE("typed calls are timed and counted as the cache of bytes's", "[typed][metrics]") {
  Products cache = open_products({.metrics = {.sample_every = 1}});
  const tiercache::TypedLoader<Product> loader =
      [](const tiercache::Context&, std::string_view) -> tiercache::Result<Product> {
    return product(3);
  };
  REQUIRE(cache.get_or_load(test::ctx(), "p:3", loader).has_value());
  for (int i = 0; i < 10; ++i) REQUIRE(cache.get(test::ctx(), "p:3").has_value());
  const tiercache::Metrics m = cache.metrics();
  const auto& get_or_load = m.calls[static_cast<std::size_t>(tiercache::Op::get_or_load)];
  const auto& get = m.calls[static_cast<std::size_t>(tiercache::Op::get)];
  CHECK(get_or_load[static_cast<std::size_t>(tiercache::Tier::origin)].count() == 1);
  CHECK(get[static_cast<std::size_t>(tiercache::Tier::l1)].count() == 10);
  CHECK(m.loads.count() == 1);
  CHECK(m.stats.l1_hits == 10);
}

namespace {

// Reads any bytes but those starting "bad", as a codec meets another program's bytes.
struct PickyCodec {
  using value_type = std::string;
  static tiercache::Result<std::string> encode(const std::string& v) { return v; }
  static tiercache::Result<std::string> decode(std::string_view b) {
    if (b.starts_with("bad")) return tiercache::fail(errc::serialization, "not mine");
    return std::string(b);
  }
};

}  // namespace

TEST_CASE("typed get_many gives a key given twice one answer twice, as Cache::get_many does",
          "[typed]") {
  auto typed = tiercache::TypedCache<PickyCodec>::open({});
  REQUIRE(typed.has_value());
  REQUIRE(typed->bytes().set(test::ctx(), "k", "bad bytes"));
  REQUIRE(typed->set(test::ctx(), "good", std::string("value")));
  const std::vector<std::string_view> keys = {"k", "good", "k", "none", "good", "none"};
  const tiercache::CacheStats before = typed->stats();
  auto many = typed->get_many(test::ctx(), keys);
  REQUIRE(many.has_value());
  REQUIRE(many->size() == keys.size());
  // The first look at "k" found bytes this codec cannot read and dropped them from L1; a second
  // look answered not_found for the same key in the same call.
  for (const std::size_t i : {0, 2}) {
    REQUIRE_FALSE((*many)[i].has_value());
    CHECK((*many)[i].error() == errc::serialization);
  }
  for (const std::size_t i : {1, 4}) CHECK((*many)[i].value_or("") == "value");
  for (const std::size_t i : {3, 5}) {
    REQUIRE_FALSE((*many)[i].has_value());
    CHECK((*many)[i].error() == errc::not_found);
  }
  // Each distinct key was looked up once (a set between two looks could have answered two
  // values for one key), and the undecodable one failed to decode once.
  const tiercache::CacheStats after = typed->stats();
  CHECK(after.l1_hits - before.l1_hits == 1);
  CHECK(after.l1_misses - before.l1_misses == 2);
  CHECK(after.decode_failures - before.decode_failures == 1);
}

TEST_CASE("typed get_many serves and decodes a missed key given twice once", "[typed]") {
  auto store = std::make_shared<example::MapStore>();
  store->apply(tiercache::BackendWrite::Kind::set, "bad", {.value = "bad in L2"});
  store->apply(tiercache::BackendWrite::Kind::set, "good", {.value = "good in L2"});
  auto typed = tiercache::TypedCache<PickyCodec>::open(
      {.backend = std::make_shared<example::MapBackend>(store)});
  REQUIRE(typed.has_value());
  const std::vector<std::string_view> keys = {"bad", "good", "bad", "good"};
  auto many = typed->get_many(test::ctx(), keys);
  REQUIRE(many.has_value());
  for (const std::size_t i : {0, 2}) {
    REQUIRE_FALSE((*many)[i].has_value());
    CHECK((*many)[i].error() == errc::serialization);
  }
  for (const std::size_t i : {1, 3}) CHECK((*many)[i].value_or("") == "good in L2");
  // L2's bytes for "bad" were decoded once, for both its positions.
  CHECK(typed->stats().decode_failures == 1);
  CHECK(typed->stats().l1_misses == 2);
}
