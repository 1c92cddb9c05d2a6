// Self-test of test::RedisServer: the fixture every [redis] test stands on must itself start,
// pause, resume, kill and restart a real server as it promises.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <optional>
#include <string>

#include <catch2/catch.hpp>

#include "tests/support/redis_server.hpp"

using namespace std::chrono_literals;
using namespace std::string_literals;

namespace {

// Connects to the server's port (which must succeed), sends an inline PING and returns what came
// back within `limit`, or nullopt if nothing did. Plain sockets, so the check is independent of
// the fixture's own code.
std::optional<std::string> ping_reply_within(std::uint16_t port, std::chrono::milliseconds limit) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  timeval tv{};
  tv.tv_sec = limit.count() / 1000;
  tv.tv_usec = (limit.count() % 1000) * 1000;
  REQUIRE(::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const bool connected = ::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
  const bool sent = connected && ::send(fd, "PING\r\n", 6, MSG_NOSIGNAL) == 6;
  char buf[64];
  const ssize_t n = sent ? ::recv(fd, buf, sizeof buf, 0) : -1;
  ::close(fd);
  REQUIRE(sent);
  if (n <= 0) return std::nullopt;
  return std::string(buf, static_cast<std::size_t>(n));
}

}  // namespace

TEST_CASE("a started server answers PING and round-trips a binary value", "[redis]") {
  test::RedisServer redis;
  CHECK(redis.port() != 0);
  CHECK(redis.pid() > 0);
  CHECK(redis.url() == "redis://127.0.0.1:" + std::to_string(redis.port()) + "/0");
  CHECK(redis.command({"PING"}) == "+PONG");

  const std::string key = "k\r\n\0z"s;
  const std::string value = "a\0b\r\nc\r\n"s;
  CHECK(redis.command({"SET", key, value}) == "+OK");
  CHECK(redis.command({"GET", key}) == value);
  CHECK(redis.command({"GET", "absent"}) == "(nil)");
  CHECK(redis.command({"STRLEN", key}) == ":" + std::to_string(value.size()));
  CHECK(redis.command({"NOSUCHCOMMAND"}).starts_with("-ERR"));
}

TEST_CASE("a paused server leaves PING unanswered until it is resumed", "[redis]") {
  test::RedisServer redis;
  redis.pause();
  CHECK(ping_reply_within(redis.port(), 200ms) == std::nullopt);
  redis.resume();
  CHECK(ping_reply_within(redis.port(), 5000ms) == "+PONG\r\n");
  CHECK(redis.command({"PING"}) == "+PONG");
}

TEST_CASE("a killed server restarts on the same port with an empty dataset", "[redis]") {
  test::RedisServer redis({.requirepass = "s3cret pass", .unix_socket = true});
  const auto port = redis.port();
  const auto first_pid = redis.pid();
  REQUIRE(redis.command({"SET", "k", "v"}) == "+OK");
  CHECK(std::filesystem::exists(redis.unix_socket_path()));

  redis.kill();
  CHECK(redis.pid() == -1);
  CHECK_THROWS(redis.command({"PING"}));

  redis.restart();
  CHECK(redis.port() == port);
  CHECK(redis.pid() > 0);
  CHECK(redis.pid() != first_pid);
  CHECK(redis.command({"DBSIZE"}) == ":0");
  CHECK(redis.command({"GET", "k"}) == "(nil)");
  CHECK(std::filesystem::exists(redis.unix_socket_path()));
  CHECK(ping_reply_within(port, 5000ms)->starts_with("-NOAUTH"));
}
