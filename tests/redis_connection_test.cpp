// The connection to Redis as a caller sees it: every address form connects, an unreachable or
// refusing server is named in the errors and in stats(), the breaker fails fast while open and
// closes again on its own, a handshake nobody answers is abandoned at connect_timeout, one
// refused for good (password, db) fails open(), and a process out of file descriptors gets an
// error from open(), not a crash.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "adapters/redis/handshake_refusal.hpp"
#include "tests/support/redis_cache.hpp"

using tiercache::Cache;
using tiercache::errc;
using namespace std::chrono_literals;

namespace {

// One RESP connection to the server that the test keeps open (test::RedisServer::command()
// connects afresh each time, which a full server refuses). Single-line replies only.
class AdminConnection {
 public:
  explicit AdminConnection(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    REQUIRE(fd_ >= 0);
    timeval tv{.tv_sec = 5, .tv_usec = 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  }
  ~AdminConnection() { ::close(fd_); }

  // The reply's first line, e.g. "+OK" or ":2".
  std::string command(std::initializer_list<std::string> args) {
    std::string out = "*" + std::to_string(args.size()) + "\r\n";
    for (const std::string& a : args) out += "$" + std::to_string(a.size()) + "\r\n" + a + "\r\n";
    REQUIRE(::send(fd_, out.data(), out.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(out.size()));
    std::string line;
    char c;
    while (line.size() < 2 || line.substr(line.size() - 2) != "\r\n") {
      REQUIRE(::recv(fd_, &c, 1, 0) == 1);
      line += c;
    }
    return line.substr(0, line.size() - 2);
  }

 private:
  int fd_;
};

// A loopback port nobody listens on: taken from a server that is then killed.
std::uint16_t dead_port() {
  test::RedisServer gone;
  const std::uint16_t port = gone.port();
  gone.kill();
  return port;
}

}  // namespace

TEST_CASE("open() against an unreachable Redis succeeds degraded and every error says why",
          "[redis][fault]") {
  const std::uint16_t port = dead_port();
  auto cache = Cache::open(
      {.redis = {.url = "redis://127.0.0.1:" + std::to_string(port), .connect_timeout = 100ms}});
  REQUIRE(cache);
  const tiercache::CacheStats s = cache->stats();
  CHECK_FALSE(s.l2_available);
  CHECK_THAT(s.l2_last_error, Catch::Contains("Connection refused"));
  auto miss = cache->get(test::ctx_with_timeout(1s), "k");
  REQUIRE_FALSE(miss);
  CHECK(miss.error() == errc::backend_unavailable);
  CHECK_THAT(miss.error().detail, Catch::Contains("Connection refused"));
  CHECK_THAT(miss.error().detail, Catch::Contains("127.0.0.1:" + std::to_string(port)));
}

TEST_CASE("a Redis URL with an IPv6 host in brackets connects", "[redis]") {
  test::RedisServer redis({.extra_args = {"--bind", "127.0.0.1 ::1"}});
  Cache cache =
      test::open_cache({.redis = {.url = "redis://[::1]:" + std::to_string(redis.port()) + "/2"}});
  REQUIRE(cache.set(test::ctx_with_timeout(2s), "k", "v"));
  REQUIRE(cache.flush(test::ctx_with_timeout(2s)));
  CHECK(redis.command({"SELECT", "2"}) == "+OK");
  CHECK(cache.stats().l2_available);
}

TEST_CASE("a unix:// URL connects, with a password and a database", "[redis]") {
  test::RedisServer redis({.requirepass = "s3cret", .unix_socket = true});
  Cache writer =
      test::open_cache({.redis = {.url = "unix://:s3cret@" + redis.unix_socket_path() + "?db=3"}});
  REQUIRE(writer.set(test::ctx_with_timeout(2s), "k", "v"));
  REQUIRE(writer.flush(test::ctx_with_timeout(2s)));
  Cache reader = test::open_cache(
      {.redis = {.unix_socket = redis.unix_socket_path(), .password = "s3cret", .db = 3}});
  CHECK(reader.get(test::ctx_with_timeout(2s), "k") == "v");
}

TEST_CASE("open() fails, naming the refusal, when Redis turns the handshake away for good",
          "[redis]") {
  test::RedisServer redis({.requirepass = "s3cret"});
  const std::string address = "127.0.0.1:" + std::to_string(redis.port());
  // Long enough that the test would hang if open() waited it out: a refusal ends the wait.
  auto refusal = [&](tiercache::RedisOptions r) {
    r.host = "127.0.0.1";
    r.port = redis.port();
    r.connect_timeout = 60s;
    auto opened = Cache::open({.redis = r});
    REQUIRE_FALSE(opened);
    CHECK(opened.error() == errc::invalid_argument);
    CHECK_THAT(opened.error().detail, Catch::Contains(address));
    return opened.error().detail;
  };
  SECTION("a wrong password, never shown") {
    const std::string detail = refusal({.password = "hunter2"});
    CHECK_THAT(detail, Catch::Contains("AUTH refused: WRONGPASS"));
    CHECK_THAT(detail, !Catch::Contains("hunter2"));
  }
  SECTION("a wrong password with a db: the AUTH refusal, not the NOAUTH of the SELECT behind it") {
    CHECK_THAT(
        refusal({.password = "hunter2", .db = 1, .invalidation = tiercache::InvalidationMode::off}),
        Catch::Contains("AUTH refused: WRONGPASS"));
  }
  SECTION("no password") {
    CHECK_THAT(refusal({}), Catch::Contains("NOAUTH"));
  }
  SECTION("a db the server does not have") {
    CHECK_THAT(refusal({.password = "s3cret", .db = 99}), Catch::Contains("SELECT refused"));
  }
  SECTION("with invalidation off too") {
    CHECK_THAT(refusal({.password = "hunter2", .invalidation = tiercache::InvalidationMode::off}),
               Catch::Contains("WRONGPASS"));
  }
}

TEST_CASE("only refusals of what the options say count as a handshake refused for good",
          "[redis]") {
  using tiercache::redis::is_refused_for_good;
  for (const char* options_wrong : {
           "WRONGPASS invalid username-password pair or user is disabled.",
           "NOAUTH Authentication required.",
           "NOPERM this user has no permissions to run the 'select' command",
           "ERR invalid password",
           "ERR Client sent AUTH, but no password is set",
           "ERR AUTH <password> called without any password configured for the default user. Are "
           "you sure your configuration is correct?",
           "ERR DB index is out of range",
           "ERR invalid DB index",
       }) {
    INFO(options_wrong);
    CHECK(is_refused_for_good(options_wrong));
  }
  for (const char* for_now : {
           "ERR max number of clients reached",
           "LOADING Redis is loading the dataset in memory",
           "BUSY Redis is busy running a script.",
           "DENIED Redis is running in protected mode because protected mode is enabled and no "
           "password is set for the default user.",
           "ERR wrong number of arguments for 'auth' command",
       }) {
    INFO(for_now);
    CHECK_FALSE(is_refused_for_good(for_now));
  }
}

TEST_CASE("open() against a server at maxclients starts degraded even when AUTH meets the refusal",
          "[redis][fault]") {
  // A full server answers the first command, AUTH here, with its refusal: a refusal for now, which
  // must not fail open() as a wrong password does.
  test::RedisServer redis({.requirepass = "s3cret"});
  AdminConnection admin(redis.port());
  REQUIRE(admin.command({"AUTH", "s3cret"}) == "+OK");
  REQUIRE(admin.command({"CONFIG", "SET", "maxclients", "1"}) == "+OK");
  auto opened = Cache::open({.redis = {.host = "127.0.0.1",
                                       .port = redis.port(),
                                       .password = "s3cret",
                                       .connect_timeout = 300ms,
                                       .reconnect_backoff_max = 20ms}});
  REQUIRE(opened);
  Cache& cache = *opened;
  CHECK_FALSE(cache.stats().l2_available);
  test::wait_until(
      5s,
      [&] {
        return cache.stats().l2_last_error.find("max number of clients") != std::string::npos;
      },
      "the refusal is named");
  REQUIRE(admin.command({"CONFIG", "SET", "maxclients", "100"}) == "+OK");
  test::wait_until(
      5s, [&] { return cache.stats().l2_available; }, "the cache connects");
}

TEST_CASE(
    "a server that accepts but never answers the handshake keeps the breaker open, "
    "then closes it once it answers",
    "[redis][fault]") {
  test::RedisServer redis;
  redis.pause();
  auto opened = Cache::open(
      {.redis = {.url = redis.url(), .connect_timeout = 100ms, .reconnect_backoff_max = 50ms}});
  REQUIRE(opened);
  Cache& cache = *opened;
  // The kernel accepts for the stopped server; only an answered handshake opens the way.
  CHECK_FALSE(cache.stats().l2_available);
  test::wait_until(
      5s, [&] { return !cache.stats().l2_last_error.empty(); }, "the handshake is abandoned");
  CHECK_THAT(cache.stats().l2_last_error, Catch::Contains("did not answer the handshake"));
  // While it stays open, a miss fails fast rather than waiting on the stopped server.
  const auto start = std::chrono::steady_clock::now();
  auto miss = cache.get(test::ctx_with_timeout(2s), "k");
  REQUIRE_FALSE(miss);
  CHECK(miss.error() == errc::backend_unavailable);
  CHECK(std::chrono::steady_clock::now() - start < 1s);
  redis.resume();
  test::wait_until(
      5s, [&] { return cache.stats().l2_available; }, "the breaker closes");
  auto after = cache.get(test::ctx_with_timeout(2s), "k");
  REQUIRE_FALSE(after);
  CHECK(after.error() == errc::not_found);
}

TEST_CASE(
    "a server at maxclients refuses and closes in one turn; the cache recovers once there "
    "is room and stays up",
    "[redis][fault]") {
  test::RedisServer redis;
  // One connection of the test's own that stays: with maxclients at 1 it is the only client the
  // server lets in, so the test can still give orders.
  AdminConnection admin(redis.port());
  auto opened = Cache::open(
      {.redis = {.url = redis.url(), .connect_timeout = 100ms, .reconnect_backoff_max = 20ms}});
  REQUIRE(opened);
  Cache& cache = *opened;
  REQUIRE(cache.stats().l2_available);
  REQUIRE(admin.command({"CONFIG", "SET", "maxclients", "1"}) == "+OK");
  REQUIRE(admin.command({"CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"}).starts_with(":"));
  // Each reconnect now meets "-ERR max number of clients reached" and the close in one read.
  test::wait_until(
      5s,
      [&] {
        return cache.stats().l2_last_error.find("max number of clients") != std::string::npos;
      },
      "a reconnect is refused by the full server");
  CHECK_FALSE(cache.stats().l2_available);
  REQUIRE(admin.command({"CONFIG", "SET", "maxclients", "100"}) == "+OK");
  test::wait_until(
      5s, [&] { return cache.stats().l2_available; }, "the cache connects");
  // Nothing left over from the refused connections drops the new ones.
  const std::uint64_t reconnects = cache.stats().l2_reconnects;
  for (int i = 0; i < 50; ++i) {
    auto r = cache.get(test::ctx_with_timeout(1s), "k" + std::to_string(i));
    REQUIRE_FALSE(r);
    CHECK(r.error() == errc::not_found);
  }
  CHECK(cache.stats().l2_reconnects == reconnects);
  CHECK(cache.stats().l2_available);
}

TEST_CASE("open() in a process out of file descriptors answers an error instead of crashing",
          "[redis][fault]") {
  test::RedisServer redis;
  rlimit saved{};
  REQUIRE(getrlimit(RLIMIT_NOFILE, &saved) == 0);
  // Room for nothing new: the next descriptor (an eventfd, a socket) fails with EMFILE.
  rlimit none = saved;
  none.rlim_cur = 0;
  REQUIRE(setrlimit(RLIMIT_NOFILE, &none) == 0);
  auto cache = Cache::open({.redis = {.url = redis.url(), .connect_timeout = 50ms}});
  REQUIRE(setrlimit(RLIMIT_NOFILE, &saved) == 0);
  if (cache) {
    // It may have got as far as a degraded start: then it must say why.
    CHECK_FALSE(cache->stats().l2_available);
  } else {
    CHECK(cache.error() == errc::backend_unavailable);
    CHECK_THAT(cache.error().detail, Catch::Contains("eventfd"));
  }
}
