// tests/conformance/backend_conformance.hpp — what every Backend must do, as Catch2 sections.
//
// tests/backend_conformance_test.cpp runs it on every backend that ships (Redis, Memcached, the
// file store) and on examples/backend/map_backend.hpp. To check your own backend, include this
// header in a Catch2 2.x test of yours and call it from a TEST_CASE:
//
//   TEST_CASE("my backend conforms") {
//     tiercache::conformance::check_backend({
//         .name = "mine",
//         .open = [&] { return std::make_shared<MyBackend>(my_server); },
//     });
//   }
//
// `open` must give a new Backend on the same store each time it is called (as a second process
// would see it): the suite checks that one instance reads what another wrote. Every key it uses
// starts with a random tag, so a store that already holds data is fine.
#pragma once

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <future>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tiercache/tiercache.hpp"

namespace tiercache::conformance {

struct Subject {
  std::string name;
  std::function<std::shared_ptr<Backend>()> open;
  // The finest TTL the store keeps (memcached: whole seconds); the TTL checks wait for it.
  std::chrono::milliseconds ttl_granularity{1};
  // Whether reads tell the time a value has left (TtlLeft::after / never); memcached cannot.
  bool tells_ttl_left = true;
  // Whether the backend stores the "no such key" marker (Backend::stores_absent()): declared, so
  // that a backend which stops storing it fails the suite instead of skipping the marker checks.
  bool stores_absent = true;
};

namespace detail {

using namespace std::chrono_literals;

// Long enough for any sane backend on loopback; a backend that never answers fails here.
inline constexpr auto kAnswerWithin = 10s;

inline std::string random_tag() {
  std::random_device rd;
  return "conf" + std::to_string(rd()) + std::to_string(rd()) + ":";
}

// One read, waited for; also checks that the answer came on another thread than the caller's.
inline std::vector<Result<BackendValue>> read(Backend& b, std::vector<std::string> keys) {
  auto answer = std::make_shared<std::promise<std::vector<Result<BackendValue>>>>();
  auto got = answer->get_future();
  auto calls = std::make_shared<std::atomic<int>>(0);
  const auto caller = std::this_thread::get_id();
  auto answered_on = std::make_shared<std::thread::id>();
  const std::size_t n = keys.size();
  b.read(std::move(keys), [=](std::vector<Result<BackendValue>> r) {
    *answered_on = std::this_thread::get_id();
    if (calls->fetch_add(1) == 0) answer->set_value(std::move(r));
  });
  REQUIRE(got.wait_for(kAnswerWithin) == std::future_status::ready);
  auto results = got.get();
  CHECK(*answered_on != caller);
  REQUIRE(results.size() == n);
  return results;
}

inline std::vector<Result<void>> write(Backend& b, const std::vector<BackendWrite>& writes) {
  auto answer = std::make_shared<std::promise<std::vector<Result<void>>>>();
  auto got = answer->get_future();
  auto calls = std::make_shared<std::atomic<int>>(0);
  b.write(writes, [=](std::vector<Result<void>> r) {
    if (calls->fetch_add(1) == 0) answer->set_value(std::move(r));
  });
  REQUIRE(got.wait_for(kAnswerWithin) == std::future_status::ready);
  auto results = got.get();
  REQUIRE(results.size() == writes.size());
  for (const Result<void>& r : results) CHECK(r.has_value());
  return results;
}

inline BackendWrite set(std::string_view key, std::string_view value,
                        std::chrono::milliseconds ttl = 0ms) {
  return {BackendWrite::Kind::set, key, value, ttl, false};
}
inline BackendWrite fill(std::string_view key, std::string_view value) {
  return {BackendWrite::Kind::fill, key, value, 0ms, false};
}
inline BackendWrite purge(std::string_view key) {
  return {BackendWrite::Kind::purge, key, {}, 0ms, false};
}

inline bool is_not_found(const Result<BackendValue>& r) {
  return !r && r.error() == errc::not_found;
}

}  // namespace detail

inline void check_backend(const Subject& s) {
  using namespace std::chrono_literals;
  using namespace detail;
  INFO("backend " << s.name);
  std::shared_ptr<Backend> b = s.open();
  REQUIRE(b != nullptr);
  const std::string t = random_tag();

  SECTION("a set is read back with the time it has left; a missing key is not_found") {
    const std::string k = t + "a", never = t + "never";
    write(*b, {set(k, "one", 60s), set(never, "forever")});
    auto r = read(*b, {k, t + "missing", never});
    REQUIRE(r[0].has_value());
    CHECK(r[0]->value == "one");
    CHECK_FALSE(r[0]->absent);
    CHECK(is_not_found(r[1]));
    REQUIRE(r[2].has_value());
    if (s.tells_ttl_left) {
      CHECK(r[0]->ttl_left.kind == TtlLeft::Kind::after);
      CHECK(r[0]->ttl_left.left <= 60s);
      CHECK(r[0]->ttl_left.left > 50s);
      CHECK(r[2]->ttl_left.kind == TtlLeft::Kind::never);
    } else {
      CHECK(r[0]->ttl_left.kind == TtlLeft::Kind::unknown);
    }
  }

  SECTION("the writes of a batch apply in order") {
    const std::string k = t + "k", j = t + "j";
    write(*b, {set(k, "first"), set(j, "j1"), set(k, "second"), purge(j), set(j, "j2"),
               set(k, "third"), purge(k)});
    auto r = read(*b, {k, j});
    CHECK(is_not_found(r[0]));
    REQUIRE(r[1].has_value());
    CHECK(r[1]->value == "j2");
  }

  SECTION("a fill stores only into an empty key") {
    const std::string empty = t + "empty", held = t + "held";
    write(*b, {set(held, "set value")});
    write(*b, {fill(empty, "filled"), fill(held, "fill value")});
    auto r = read(*b, {empty, held});
    REQUIRE(r[0].has_value());
    CHECK(r[0]->value == "filled");
    REQUIRE(r[1].has_value());
    CHECK(r[1]->value == "set value");
  }

  SECTION("a purge removes the key; a purge of a missing key succeeds") {
    const std::string k = t + "p";
    write(*b, {set(k, "v")});
    write(*b, {purge(k), purge(t + "never-there")});
    CHECK(is_not_found(read(*b, {k})[0]));
  }

  SECTION("one read answers many keys in their order") {
    std::vector<std::string> keys;
    std::vector<std::string> values;
    std::vector<BackendWrite> writes;
    for (int i = 0; i < 300; ++i) {
      keys.push_back(t + "many" + std::to_string(i));
      values.push_back("value " + std::to_string(i * 7));
    }
    for (int i = 0; i < 300; i += 2) writes.push_back(set(keys[i], values[i]));
    write(*b, writes);
    auto r = read(*b, keys);
    for (int i = 0; i < 300; ++i) {
      INFO("key " << i);
      if (i % 2 == 0) {
        REQUIRE(r[i].has_value());
        CHECK(r[i]->value == values[i]);
      } else {
        CHECK(is_not_found(r[i]));
      }
    }
  }

  SECTION("binary keys and values round-trip, the empty value and a large one too") {
    const std::vector<std::string> keys = {
        t + std::string("nul\0key", 7), t + "crlf\r\nkey",   t + "with space", t + "\x7f\x01\xff",
        t + std::string(300, 'L'),      t + "#looks-hashed", t + "empty-value"};
    const std::vector<std::string> values = {
        std::string("a\0b", 3), "line\r\nline", "v", "w", "long key", "hash", ""};
    std::vector<BackendWrite> writes;
    for (std::size_t i = 0; i < keys.size(); ++i) writes.push_back(set(keys[i], values[i]));
    const std::string big_key = t + "big";
    std::string big(512 * 1024, '\0');
    for (std::size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>(i * 31 + 7);
    writes.push_back(set(big_key, big));
    write(*b, writes);
    std::vector<std::string> all = keys;
    all.push_back(big_key);
    auto r = read(*b, all);
    for (std::size_t i = 0; i < keys.size(); ++i) {
      INFO("key " << i);
      REQUIRE(r[i].has_value());
      CHECK(r[i]->value == values[i]);
    }
    REQUIRE(r.back().has_value());
    CHECK(r.back()->value == big);
  }

  SECTION("a value ends with its TTL") {
    const std::string k = t + "ttl";
    // Two units of the store's granularity (a value of one whole-second TTL may expire at the
    // next tick of memcached's clock, before it could be read back), and at least a second, so
    // that a stalled test thread (a sanitizer build) still reads it back in time.
    const auto ttl = std::max<std::chrono::milliseconds>(2 * s.ttl_granularity, 1s);
    write(*b, {set(k, "short-lived", ttl)});
    // Kept first (a store that took the TTL as already passed would pass what follows).
    auto kept = read(*b, {k});
    REQUIRE(kept[0].has_value());
    CHECK(kept[0]->value == "short-lived");
    const auto deadline = std::chrono::steady_clock::now() + 3 * ttl + 2s;
    while (!is_not_found(read(*b, {k})[0])) {
      REQUIRE(std::chrono::steady_clock::now() < deadline);
      std::this_thread::sleep_for(20ms);
    }
  }

  SECTION("the \"no such key\" marker reads back as absent, where the backend stores it") {
    REQUIRE(b->stores_absent() == s.stores_absent);
    if (!s.stores_absent) return;
    const std::string k = t + "absent";
    BackendWrite marker = fill(k, "");
    marker.absent = true;
    write(*b, {marker});
    auto r = read(*b, {k});
    REQUIRE(r[0].has_value());
    CHECK(r[0]->absent);
    CHECK(r[0]->value.empty());
  }

  SECTION("a second instance reads what the first wrote") {
    const std::string k = t + "shared";
    write(*b, {set(k, "from the first")});
    std::shared_ptr<Backend> other = s.open();
    auto r = read(*other, {k});
    REQUIRE(r[0].has_value());
    CHECK(r[0]->value == "from the first");
  }

  SECTION("every batch is answered exactly once, also when the backend is destroyed") {
    auto reads = std::make_shared<std::atomic<int>>(0);
    auto writes = std::make_shared<std::atomic<int>>(0);
    auto wrong = std::make_shared<std::atomic<int>>(0);
    constexpr int kBatches = 200;
    const std::string k = t + "busy";
    for (int i = 0; i < kBatches; ++i) {
      b->read({k, t + "other"}, [=](std::vector<Result<BackendValue>> r) {
        reads->fetch_add(1);
        if (r.size() != 2) wrong->fetch_add(1);
      });
      const std::string v = std::to_string(i);
      b->write(std::vector<BackendWrite>{set(k, v)}, [=](std::vector<Result<void>> r) {
        writes->fetch_add(1);
        if (r.size() != 1) wrong->fetch_add(1);
      });
    }
    b.reset();  // the suite's only reference: destroyed here, with batches still in flight
    CHECK(reads->load() == kBatches);
    CHECK(writes->load() == kBatches);
    CHECK(wrong->load() == 0);
  }

  SECTION("a Cache on it: a second cache with an empty L1 reads the first one's value from L2") {
    Options o;
    o.backend = b;
    o.writer.mode = WriteMode::sync;
    auto first = Cache::open(o);
    REQUIRE(first.has_value());
    o.backend = s.open();
    auto second = Cache::open(o);
    REQUIRE(second.has_value());
    const auto ctx = Context::background().with_timeout(10s);
    REQUIRE(first->set(ctx, t + "cached", "through the cache").has_value());
    auto got = second->get(ctx, t + "cached");
    REQUIRE(got.has_value());
    CHECK(*got == "through the cache");
    CHECK(second->stats().l2_hits == 1);
    REQUIRE(first->purge(ctx, t + "cached").has_value());
    CHECK(is_not_found(read(*o.backend, {t + "cached"})[0]));
  }
}

}  // namespace tiercache::conformance
