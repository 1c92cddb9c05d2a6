// The memcached backend (tiercache/memcached.hpp) against real memcached processes the fixture
// starts on free ports.
#include <algorithm>
#include <chrono>
#include <future>
#include <string>
#include <vector>

#include "adapters/memcached/memcached_backend.hpp"
#include "adapters/memcached/memcached_key.hpp"
#include "adapters/memcached/stored_item.hpp"
#include "tests/support/memcached_server.hpp"
#include "tests/support/tcp_proxy.hpp"
#include "tests/support/test_support.hpp"
#include "tiercache/memcached.hpp"

using tiercache::Backend;
using tiercache::BackendValue;
using tiercache::BackendWrite;
using tiercache::Cache;
using tiercache::Context;
using tiercache::errc;
using tiercache::Loaded;
using tiercache::MemcachedOptions;
using tiercache::Result;
using tiercache::WriteMode;
using tiercache::memcached::stored_key;
using namespace std::chrono_literals;
using namespace std::string_literals;

namespace {

// Bound on a backend's answer in the tests that call it directly.
constexpr auto kAnswerBound = 5s;

std::vector<std::string> addresses(const std::vector<const test::MemcachedServer*>& servers) {
  std::vector<std::string> out;
  for (const auto* s : servers) out.push_back(s->address());
  return out;
}

// Short timeouts so fault tests stay quick.
MemcachedOptions fast(std::vector<std::string> servers) {
  return {.servers = std::move(servers), .command_timeout = 200ms, .reconnect_backoff_max = 50ms};
}

std::shared_ptr<Backend> backend(const MemcachedOptions& options) {
  auto b = tiercache::make_memcached_backend(options);
  if (!b) FAIL("make_memcached_backend: " << b.error().detail);
  return *b;
}

Cache open_cache(const MemcachedOptions& memcached, tiercache::Options options = {}) {
  options.backend = backend(memcached);
  return test::open_cache(options);
}

Cache open_cache(const test::MemcachedServer& server, tiercache::Options options = {}) {
  return open_cache(fast({server.address()}), std::move(options));
}

std::vector<Result<void>> write_now(Backend& b, const std::vector<BackendWrite>& writes) {
  std::promise<std::vector<Result<void>>> answered;
  auto answer = answered.get_future();
  b.write(writes, [&](std::vector<Result<void>> r) { answered.set_value(std::move(r)); });
  if (answer.wait_for(kAnswerBound) != std::future_status::ready) FAIL("no answer to a write");
  return answer.get();
}

std::vector<Result<BackendValue>> read_now(Backend& b, std::vector<std::string> keys) {
  std::promise<std::vector<Result<BackendValue>>> answered;
  auto answer = answered.get_future();
  b.read(std::move(keys),
         [&](std::vector<Result<BackendValue>> r) { answered.set_value(std::move(r)); });
  if (answer.wait_for(kAnswerBound) != std::future_status::ready) FAIL("no answer to a read");
  return answer.get();
}

}  // namespace

TEST_CASE("a value one cache sets is read by a second cache with a fresh L1 from memcached",
          "[memcached]") {
  test::MemcachedServer server;
  Cache writer = open_cache(server);
  Cache reader = open_cache(server);
  REQUIRE(writer.set(test::ctx(), "k", "v"));
  REQUIRE(writer.flush(test::ctx_with_timeout(5s)));
  const auto raw = server.get("k");
  REQUIRE(raw);
  CHECK(raw->value == "v");
  CHECK(raw->flags == tiercache::memcached::kValueFlags);
  CHECK(reader.get(test::ctx_with_timeout(1s), "k") == "v");
  CHECK(reader.stats().l2_hits == 1);
  CHECK(reader.get(test::ctx_with_timeout(1s), "absent").error() == errc::not_found);
  CHECK(reader.stats().l2_misses == 1);
}

TEST_CASE("a fill leaves a value memcached holds; a purge removes the key, present or not",
          "[memcached]") {
  test::MemcachedServer server;
  auto b = backend(fast({server.address()}));
  REQUIRE(server.command("set taken 0 0 6\r\ntheirs\r\n") == "STORED\r\n");
  const auto filled =
      write_now(*b, {{.kind = BackendWrite::Kind::fill, .key = "taken", .value = "mine"},
                     {.kind = BackendWrite::Kind::fill, .key = "free", .value = "mine"}});
  REQUIRE(filled.size() == 2);
  CHECK(filled[0]);
  CHECK(filled[1]);
  CHECK(server.get("taken")->value == "theirs");
  CHECK(server.get("free")->value == "mine");
  const auto purged = write_now(*b, {{.kind = BackendWrite::Kind::purge, .key = "taken"},
                                     {.kind = BackendWrite::Kind::purge, .key = "never"}});
  CHECK(purged[0]);
  CHECK(purged[1]);
  CHECK_FALSE(server.get("taken"));
  // Through a cache: set, purge, set in order, the last wins.
  Cache cache = open_cache(server);
  for (int round = 0; round < 20; ++round) {
    REQUIRE(cache.set(test::ctx(), "k", "first" + std::to_string(round)));
    REQUIRE(cache.purge(test::ctx(), "k"));
    REQUIRE(cache.set(test::ctx(), "k", "last" + std::to_string(round)));
  }
  REQUIRE(cache.purge(test::ctx(), "free"));
  REQUIRE(cache.flush(test::ctx_with_timeout(5s)));
  CHECK(server.get("k")->value == "last19");
  CHECK_FALSE(server.get("free"));
}

TEST_CASE("TTLs go to memcached in whole seconds; past 30 days as a unix time", "[memcached]") {
  using tiercache::memcached::expiration_of;
  CHECK(expiration_of(0ms, 1'000'000'000) == 0);
  CHECK(expiration_of(1ms, 1'000'000'000) == 1);
  CHECK(expiration_of(1000ms, 1'000'000'000) == 1);
  CHECK(expiration_of(1001ms, 1'000'000'000) == 2);
  CHECK(expiration_of(std::chrono::hours(24 * 30), 1'000'000'000) == 2'592'000);
  CHECK(expiration_of(std::chrono::hours(24 * 30) + 1ms, 1'000'000'000) ==
        1'000'000'000 + 2'592'001);
  // memcached reads the expiration as a signed 32-bit number: a later time is capped at its last.
  CHECK(expiration_of(tiercache::kMaxTtl, 2'000'000'000) == INT32_MAX);

  test::MemcachedServer server;
  Cache cache = open_cache(server);
  REQUIRE(cache.set(test::ctx(), "short", "v", 1s));
  REQUIRE(cache.set(test::ctx(), "long", "v", std::chrono::hours(24 * 40)));
  // Past 2038-01-19, the last time memcached can read: sent as that time, not wrapped into 1901.
  REQUIRE(cache.set(test::ctx(), "longest", "v", tiercache::kMaxTtl));
  REQUIRE(cache.flush(test::ctx_with_timeout(5s)));
  // Sent as a relative 3456000 s, memcached would take it for a time in 1970: gone at once.
  CHECK(server.get("long"));
  CHECK(server.get("longest"));
  REQUIRE(server.get("short"));
  test::wait_until(
      5s, [&] { return !server.get("short"); }, "memcached expires the 1 s item");
  CHECK(server.get("long"));
}

TEST_CASE("the absent marker is an empty item with its flags, read back as absent", "[memcached]") {
  test::MemcachedServer server;
  tiercache::Options options{.negative_ttl = 1min, .negative_in_l2 = true};
  Cache first = open_cache(server, options);
  int loads = 0;
  auto loader = [&](const Context&, std::string_view) -> Result<Loaded> {
    ++loads;
    return Loaded::absent();
  };
  CHECK(first.get_or_load(test::ctx_with_timeout(1s), "gone", loader).error() == errc::not_found);
  REQUIRE(first.flush(test::ctx_with_timeout(5s)));
  const auto raw = server.get("gone");
  REQUIRE(raw);
  CHECK(raw->value.empty());
  CHECK(raw->flags == tiercache::memcached::kAbsentFlags);
  Cache second = open_cache(server, options);
  CHECK(second.get_or_load(test::ctx_with_timeout(1s), "gone", loader).error() == errc::not_found);
  CHECK(loads == 1);
  CHECK(second.stats().negative_hits == 1);
}

TEST_CASE("keys memcached cannot take round-trip under their hashed form", "[memcached]") {
  test::MemcachedServer server;
  MemcachedOptions options = fast({server.address()});
  options.key_prefix = "app:";
  Cache writer = open_cache(options);
  Cache reader = open_cache(options);
  const std::vector<std::string> keys = {
      "nul\0inside"s,        "crlf\r\nget x", "with space", std::string(300, 'k'),
      "#starts-with-marker", "tab\there",     "del\x7f"};
  for (const std::string& key : keys) REQUIRE(writer.set(test::ctx(), key, "v:" + key));
  REQUIRE(writer.set(test::ctx(), "plain", "p"));
  REQUIRE(writer.flush(test::ctx_with_timeout(5s)));
  for (const std::string& key : keys) {
    const std::string stored = stored_key("app:", key);
    CHECK(stored.size() == 4 + 1 + 32);
    CHECK(stored.starts_with("app:#"));
    const auto raw = server.get(stored);
    REQUIRE(raw);
    CHECK(raw->value == "v:" + key);
    CHECK(reader.get(test::ctx_with_timeout(1s), key) == "v:" + key);
  }
  CHECK(server.get("app:plain")->value == "p");
  CHECK(stored_key("app:", "plain") == "app:plain");
  // Distinct keys, distinct stored keys; and 250 bytes with the prefix is still taken as is.
  CHECK(stored_key("", "a b") != stored_key("", "a c"));
  CHECK(stored_key("app:", std::string(246, 'x')) == "app:" + std::string(246, 'x'));
  CHECK(stored_key("app:", std::string(247, 'x')).size() == 37);
  CHECK(server.stat("curr_items") == static_cast<long long>(keys.size()) + 1);
}

TEST_CASE("three servers share the keys by ketama, whatever order each instance lists them in",
          "[memcached]") {
  test::MemcachedServer a, b, c;
  Cache writer = open_cache(fast(addresses({&a, &b, &c})));
  Cache reader = open_cache(fast(addresses({&c, &a, &b})));
  constexpr int kKeys = 300;
  for (int i = 0; i < kKeys; ++i)
    REQUIRE(writer.set(test::ctx(), "k" + std::to_string(i), "v" + std::to_string(i)));
  REQUIRE(writer.flush(test::ctx_with_timeout(5s)));
  long long total = 0;
  for (const auto* s : {&a, &b, &c}) {
    const long long items = s->stat("curr_items");
    CHECK(items > 0);
    total += items;
  }
  CHECK(total == kKeys);
  std::vector<std::string> keys;
  for (int i = 0; i < kKeys; ++i) keys.push_back("k" + std::to_string(i));
  std::vector<std::string_view> views(keys.begin(), keys.end());
  auto got = reader.get_many(test::ctx_with_timeout(5s), views);
  REQUIRE(got);
  int found = 0;
  for (int i = 0; i < kKeys; ++i) found += (*got)[i] == "v" + std::to_string(i) ? 1 : 0;
  CHECK(found == kKeys);
  CHECK(reader.stats().l2_hits == kKeys);
}

TEST_CASE(
    "memcached killed: calls end within their deadline, L1 serves, queued writes land "
    "after a restart",
    "[memcached][fault]") {
  test::MemcachedServer server;
  Cache cache = open_cache(server);
  REQUIRE(cache.set(test::ctx(), "held", "l1"));
  REQUIRE(cache.flush(test::ctx_with_timeout(5s)));
  server.kill();
  auto miss = cache.get(test::ctx_with_timeout(5s), "other");
  REQUIRE_FALSE(miss);
  CHECK((miss.error() == errc::backend_unavailable || miss.error() == errc::timeout));
  CHECK_THAT(miss.error().detail, Catch::Contains("memcached reads"));
  CHECK(cache.get(test::ctx(), "held") == "l1");
  for (int i = 0; i < 20; ++i)
    REQUIRE(cache.set(test::ctx(), "queued" + std::to_string(i), "q" + std::to_string(i)));
  test::wait_until(
      5s, [&] { return !cache.stats().l2_available; }, "the loss is noticed");
  CHECK_FALSE(cache.stats().l2_last_error.empty());
  server.restart();
  REQUIRE(cache.flush(test::ctx_with_timeout(10s)));
  for (int i = 0; i < 20; ++i) {
    const auto raw = server.get("queued" + std::to_string(i));
    REQUIRE(raw);
    CHECK(raw->value == "q" + std::to_string(i));
  }
  // The write lane is back (the flush went through); the read lane's own probe, on its backoff,
  // brings it back too, without a read asking.
  test::wait_until(
      5s, [&] { return cache.stats().l2_available; }, "both lanes are back");
  CHECK(cache.stats().l2_reconnects >= 1);
}

TEST_CASE("a paused server fails a read with timeout from the backend; resumed, it serves again",
          "[memcached][fault]") {
  test::MemcachedServer server;
  Cache writer = open_cache(server, {.writer = {.mode = WriteMode::sync}});
  REQUIRE(writer.set(test::ctx_with_timeout(2s), "k", "v"));
  Cache reader = open_cache(server);
  server.pause();
  // The caller's deadline is far beyond command_timeout: the timeout comes from the backend.
  auto r = reader.get(test::ctx_with_timeout(10s), "k");
  REQUIRE_FALSE(r);
  CHECK(r.error() == errc::timeout);
  CHECK_THAT(r.error().detail, Catch::Contains("memcached reads"));
  server.resume();
  test::wait_until(
      5s, [&] { return reader.get(test::ctx_with_timeout(1s), "k") == "v"; },
      "the resumed server answers");
}

TEST_CASE("an error line before a get's first VALUE fails the read; the next read is served",
          "[memcached][fault]") {
  // libmemcached's fetch reports a failure before the first VALUE as NOTFOUND, as it does a
  // plain miss: the backend must still tell the caller the read failed, not that k is missing.
  struct Injected {
    const char* line;
    errc code;
  };
  const Injected injected = GENERATE(values<Injected>({
      {"SERVER_ERROR temporary failure\r\n", errc::backend_error},
      {"CLIENT_ERROR bad data chunk\r\n", errc::backend_error},
      // Not a memcached reply at all: the stream is out of step, the server backs off.
      {"HELLO\r\n", errc::backend_unavailable},
  }));
  // The line instead of the server's reply, or before it (which then still waits to be read).
  const bool reply_kept = GENERATE(false, true);
  INFO(injected.line << (reply_kept ? " before the reply" : " instead of the reply"));
  test::MemcachedServer server;
  test::TcpProxy proxy(server.port());
  auto b = backend(fast({"127.0.0.1:" + std::to_string(proxy.port())}));
  const auto set_k = [&](std::string_view value) {
    const std::vector<BackendWrite> writes = {
        {.kind = BackendWrite::Kind::set, .key = "k", .value = value}};
    REQUIRE(write_now(*b, writes).front());
  };
  set_k("v");
  if (reply_kept) {
    proxy.prepend_to_next_reply(injected.line);
  } else {
    proxy.replace_next_reply(injected.line, "END\r\n");
  }
  auto failed = read_now(*b, {"k", "k", "absent"});
  REQUIRE(proxy.replies_replaced() == 1);
  for (const auto& r : failed) {
    REQUIRE_FALSE(r);
    INFO(r.error().code.message() << ": " << r.error().detail);
    CHECK(r.error() == injected.code);
  }
  // A new value, so that a read served the rest of the old reply would show it.
  set_k("w");
  // The next read starts on a clean stream and is served; after an out-of-step line, once the
  // server's probe is answered (until then reads fail at once with backend_unavailable).
  Result<BackendValue> next = tiercache::fail(errc::backend_unavailable, "not read yet");
  test::wait_until(
      5s,
      [&] {
        next = read_now(*b, {"k"}).front();
        return next || next.error() != errc::backend_unavailable;
      },
      "a read after the injected line is answered");
  REQUIRE(next);
  CHECK(next->value == "w");
  auto again = read_now(*b, {"k", "absent"});
  REQUIRE(again[0]);
  CHECK(again[0]->value == "w");
  REQUIRE_FALSE(again[1]);
  CHECK(again[1].error() == errc::not_found);
}

TEST_CASE("bad MemcachedOptions are refused with invalid_argument naming the field",
          "[memcached]") {
  const MemcachedOptions good{.servers = {"127.0.0.1:11211"}};
  const std::vector<std::pair<MemcachedOptions, std::string>> cases = {
      {{}, "servers"},
      {{.servers = {""}}, "servers[0]"},
      {{.servers = {"127.0.0.1:11211", "host:0"}}, "servers[1]"},
      {{.servers = {"host:70000"}}, "servers[0]"},
      {{.servers = {"host:port"}}, "servers[0]"},
      {{.servers = {"a b:1"}}, "servers[0]"},
      {{.servers = {"::1"}}, "servers[0]"},
      {{.servers = {"/" + std::string(200, 's')}}, "servers[0]"},
      {{.servers = {"h:11211", "h"}}, "servers[1]"},
      {{.servers = good.servers, .key_prefix = "a b"}, "key_prefix"},
      {{.servers = good.servers, .key_prefix = std::string(218, 'p')}, "key_prefix"},
      {{.servers = good.servers, .connect_timeout = 0ms}, "connect_timeout"},
      {{.servers = good.servers, .command_timeout = -1ms}, "command_timeout"},
      {{.servers = good.servers, .reconnect_backoff_min = 0ms}, "reconnect_backoff_min"},
      {{.servers = good.servers, .reconnect_backoff_min = 2s, .reconnect_backoff_max = 1s},
       "reconnect_backoff_min"},
      {{.servers = good.servers, .max_value_bytes = 0}, "max_value_bytes"},
  };
  for (const auto& [options, field] : cases) {
    auto r = tiercache::make_memcached_backend(options);
    REQUIRE_FALSE(r);
    CHECK(r.error() == errc::invalid_argument);
    CHECK_THAT(r.error().detail, Catch::Contains("MemcachedOptions." + field));
  }
  CHECK(tiercache::make_memcached_backend(good));
  CHECK(tiercache::make_memcached_backend({.servers = {"[::1]:11211", "/tmp/m.sock", "h"}}));
}

TEST_CASE("a value over max_value_bytes or with foreign flags fails that key only", "[memcached]") {
  test::MemcachedServer server;
  MemcachedOptions options = fast({server.address()});
  options.max_value_bytes = 100;
  auto b = backend(options);
  REQUIRE(server.command("set big 0 0 101\r\n" + std::string(101, 'x') + "\r\n") == "STORED\r\n");
  REQUIRE(server.command("set fits 0 0 100\r\n" + std::string(100, 'y') + "\r\n") == "STORED\r\n");
  REQUIRE(server.command("set foreign 8 0 3\r\nzip\r\n") == "STORED\r\n");
  const auto got = read_now(*b, {"big", "fits", "foreign", "none", "fits"});
  REQUIRE(got.size() == 5);
  REQUIRE_FALSE(got[0]);
  CHECK(got[0].error() == errc::serialization);
  REQUIRE(got[1]);
  CHECK(got[1]->value == std::string(100, 'y'));
  CHECK(got[1]->ttl_left.kind == tiercache::TtlLeft::Kind::unknown);
  CHECK(got[2].error() == errc::not_found);
  CHECK(got[3].error() == errc::not_found);
  REQUIRE(got[4]);
  CHECK(got[4]->value == got[1]->value);
  CHECK(b->health().unreadable_values == 1);
  const auto refused =
      write_now(*b, {{.kind = BackendWrite::Kind::set, .key = "w", .value = std::string(101, 'z')},
                     {.kind = BackendWrite::Kind::set, .key = "w2", .value = "ok"}});
  CHECK(refused[0].error() == errc::backend_error);
  CHECK(refused[1]);
  // memcached's own limit (-I 1m): its refusal is final, and the server stays up.
  MemcachedOptions large = fast({server.address()});
  large.max_value_bytes = 4 << 20;
  auto l = backend(large);
  const auto too_large = write_now(
      *l, {{.kind = BackendWrite::Kind::set, .key = "huge", .value = std::string(2 << 20, 'h')}});
  REQUIRE_FALSE(too_large[0]);
  CHECK(too_large[0].error() == errc::backend_error);
  CHECK(l->is_available());
}

TEST_CASE("a backend destroyed with batches queued answers each of them exactly once",
          "[memcached]") {
  test::MemcachedServer server;
  std::atomic<int> answers{0};
  std::atomic<int> results{0};
  {
    auto b = backend(fast({server.address()}));
    for (int i = 0; i < 200; ++i) {
      b->read({"k" + std::to_string(i)}, [&](std::vector<Result<BackendValue>> r) {
        ++answers;
        results += static_cast<int>(r.size());
      });
      const std::string key = "w" + std::to_string(i);
      b->write(std::vector<BackendWrite>{{.key = key, .value = "v"}},
               [&](std::vector<Result<void>> r) {
                 ++answers;
                 results += static_cast<int>(r.size());
               });
    }
  }
  CHECK(answers == 400);
  CHECK(results == 400);
}
