// Self-test of test::TcpProxy: the faults the liveness tests stand on (a blackhole that swallows
// bytes without closing, connections that stay dead after heal, sever, a rate limit, a replaced
// reply) shown with a real redis-server behind the proxy and raw sockets in front of it,
// independent of tiercache.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <initializer_list>
#include <optional>
#include <string>
#include <string_view>

#include "tests/support/redis_server.hpp"
#include "tests/support/tcp_proxy.hpp"
#include "tests/support/test_support.hpp"

using namespace std::chrono_literals;

namespace {

// Bound on a reply or an EOF that should come: generous, it only keeps a broken proxy from
// hanging the suite; a healthy one answers in well under a millisecond.
constexpr auto kArrivalBound = 5s;
// How long a connection must stay silent to count as swallowing its bytes. A bound on the
// check, not a speed claim: a forwarded PING comes back three orders of magnitude sooner.
constexpr auto kSilenceBound = 200ms;
// What read_within() returns when the bound passed with nothing read, or the peer closed.
constexpr std::string_view kNothing = "(nothing within the bound)";
constexpr std::string_view kEof = "(EOF)";
// A value bigger than many of the proxy's reads and than a socket buffer, to exercise
// back-pressure in both directions.
constexpr std::size_t kBigValueBytes = std::size_t{4} << 20;
// The rate limit's self-test: this many bytes each way at this rate must take about
// kThrottledBytes / kThrottledRate (0.52 s; the bucket's 16 KiB head start takes off 0.016 s).
constexpr std::size_t kThrottledBytes = std::size_t{512} << 10;
constexpr std::size_t kThrottledBytesPerSecond = 1'000'000;
// Least time that transfer may take for the limit to count as working: loose against 0.5 s, so
// a scheduler's hiccup cannot fail it, and far above the ~1 ms it takes unlimited.
constexpr auto kThrottledAtLeast = 300ms;
// Bound on the throttled transfer's reply, only so a broken limit cannot hang the suite.
constexpr auto kThrottledArrivalBound = 10s;

// A plain blocking client connection to 127.0.0.1:port.
class RawConnection {
 public:
  explicit RawConnection(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
    REQUIRE(fd_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    // A send() that the peer stops taking fails after kArrivalBound instead of hanging the suite.
    const timeval tv{.tv_sec = std::chrono::seconds(kArrivalBound).count(), .tv_usec = 0};
    REQUIRE(::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) == 0);
  }
  ~RawConnection() { ::close(fd_); }
  RawConnection(const RawConnection&) = delete;
  RawConnection& operator=(const RawConnection&) = delete;

  void send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      REQUIRE(n > 0);
      bytes.remove_prefix(static_cast<std::size_t>(n));
    }
  }

  // Reads until `bytes` bytes came, the peer closed or `limit` passed without a byte: what was
  // read, or kEof / kNothing if that was nothing. A reset reads as "(error ...)".
  std::string read_within(std::chrono::milliseconds limit, std::size_t bytes = 1) {
    timeval tv{};
    tv.tv_sec = limit.count() / 1000;
    tv.tv_usec = (limit.count() % 1000) * 1000;
    REQUIRE(::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) == 0);
    std::string got;
    while (got.size() < bytes) {
      char chunk[65536];
      const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
      if (n > 0) {
        got.append(chunk, static_cast<std::size_t>(n));
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (!got.empty()) break;
      if (n == 0) return std::string(kEof);
      if (errno == EAGAIN || errno == EWOULDBLOCK) return std::string(kNothing);
      return std::string("(error ") + std::strerror(errno) + ")";
    }
    return got;
  }

  // Sends an inline PING and returns the reply, read as read_within() says.
  std::string ping_within(std::chrono::milliseconds limit) {
    send("PING\r\n");
    return read_within(limit, sizeof "+PONG\r\n" - 1);
  }

 private:
  int fd_;
};

std::string resp_command(std::initializer_list<std::string_view> args) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (const std::string_view arg : args) {
    out += "$" + std::to_string(arg.size()) + "\r\n";
    out += arg;
    out += "\r\n";
  }
  return out;
}

}  // namespace

TEST_CASE("a PING through the proxy reaches the server and its reply comes back",
          "[proxy][redis]") {
  test::RedisServer redis;
  test::TcpProxy proxy(redis.port());
  CHECK(proxy.port() != redis.port());
  CHECK(proxy.url() == "redis://127.0.0.1:" + std::to_string(proxy.port()) + "/0");

  RawConnection client(proxy.port());
  CHECK(client.ping_within(kArrivalBound) == "+PONG\r\n");
  CHECK(client.ping_within(kArrivalBound) == "+PONG\r\n");
  CHECK(proxy.connections_accepted() == 1);
  CHECK(proxy.live_connections() == 1);
  CHECK(proxy.dead_connections() == 0);
}

TEST_CASE("a value larger than the socket buffers crosses the proxy whole, both ways",
          "[proxy][redis]") {
  test::RedisServer redis;
  test::TcpProxy proxy(redis.port());
  RawConnection client(proxy.port());
  std::string value(kBigValueBytes, '\0');
  for (std::size_t i = 0; i < value.size(); ++i) value[i] = static_cast<char>(i * 7 % 251);

  client.send(resp_command({"SET", "big", value}));
  CHECK(client.read_within(kArrivalBound, 5) == "+OK\r\n");
  CHECK(redis.command({"STRLEN", "big"}) == ":" + std::to_string(kBigValueBytes));

  client.send(resp_command({"GET", "big"}));
  const std::string header = "$" + std::to_string(kBigValueBytes) + "\r\n";
  const std::string reply = client.read_within(kArrivalBound, header.size() + value.size() + 2);
  CHECK(reply == header + value + "\r\n");
}

TEST_CASE("replace_next_reply swaps one reply for the injected bytes; prepend keeps the reply",
          "[proxy][redis]") {
  test::RedisServer redis;
  test::TcpProxy proxy(redis.port());
  RawConnection client(proxy.port());
  // A reply spread over many of the proxy's reads: its end marker is found wherever it falls.
  std::string value(kBigValueBytes, 'a');
  value.back() = 'Z';
  client.send(resp_command({"SET", "big", value}));
  CHECK(client.read_within(kArrivalBound, 5) == "+OK\r\n");

  proxy.replace_next_reply("-ERR injected\r\n", "Z\r\n");
  // Pipelined: the PING's reply follows the replaced one and is forwarded as ever.
  client.send(resp_command({"GET", "big"}) + "PING\r\n");
  const std::string replaced = "-ERR injected\r\n+PONG\r\n";
  CHECK(client.read_within(kArrivalBound, replaced.size()) == replaced);
  CHECK(proxy.replies_replaced() == 1);

  proxy.prepend_to_next_reply("+first\r\n");
  const std::string prepended = "+first\r\n+PONG\r\n";
  client.send("PING\r\n");
  CHECK(client.read_within(kArrivalBound, prepended.size()) == prepended);
  CHECK(proxy.replies_replaced() == 2);
  // Taken once: the next reply is the server's alone.
  CHECK(client.ping_within(kArrivalBound) == "+PONG\r\n");
}

TEST_CASE("the server closing a forwarded connection closes the client's side too",
          "[proxy][redis]") {
  test::RedisServer redis;
  test::TcpProxy proxy(redis.port());
  RawConnection client(proxy.port());
  client.send("QUIT\r\n");
  CHECK(client.read_within(kArrivalBound, 5) == "+OK\r\n");
  CHECK(client.read_within(kArrivalBound) == kEof);
}

TEST_CASE("a connection to a proxy whose server is gone is closed at once", "[proxy][redis]") {
  test::RedisServer redis;
  test::TcpProxy proxy(redis.port());
  redis.kill();
  RawConnection client(proxy.port());
  CHECK(client.read_within(kArrivalBound) == kEof);
}

TEST_CASE("a blackholed connection swallows a PING: no reply and no close", "[proxy][redis]") {
  test::RedisServer redis;
  test::TcpProxy proxy(redis.port());
  RawConnection before(proxy.port());
  REQUIRE(before.ping_within(kArrivalBound) == "+PONG\r\n");

  proxy.blackhole();
  CHECK(before.ping_within(kSilenceBound) == kNothing);
  CHECK(proxy.dead_connections() == 1);

  // A connection made during the fault is accepted (connect succeeds) but goes nowhere either.
  RawConnection during(proxy.port());
  CHECK(during.ping_within(kSilenceBound) == kNothing);
  test::wait_until(
      kArrivalBound, [&] { return proxy.connections_accepted() == 2; },
      "the proxy accepts the connection made during the blackhole");
  CHECK(proxy.dead_connections() == 2);
  CHECK(proxy.live_connections() == 0);
}

TEST_CASE("a dead connection hides the server going away from its client", "[proxy][redis]") {
  test::RedisServer redis;
  test::TcpProxy proxy(redis.port());
  RawConnection client(proxy.port());
  REQUIRE(client.ping_within(kArrivalBound) == "+PONG\r\n");
  proxy.blackhole();
  redis.kill();
  CHECK(client.read_within(kSilenceBound) == kNothing);
  CHECK(proxy.dead_connections() == 1);
}

TEST_CASE("after heal new connections forward again; one from before the blackhole stays dead",
          "[proxy][redis]") {
  test::RedisServer redis;
  test::TcpProxy proxy(redis.port());
  RawConnection old_connection(proxy.port());
  REQUIRE(old_connection.ping_within(kArrivalBound) == "+PONG\r\n");
  proxy.blackhole();
  proxy.heal();

  RawConnection new_connection(proxy.port());
  CHECK(new_connection.ping_within(kArrivalBound) == "+PONG\r\n");
  CHECK(old_connection.ping_within(kSilenceBound) == kNothing);
  CHECK(proxy.live_connections() == 1);
  CHECK(proxy.dead_connections() == 1);
}

TEST_CASE("a dead connection ends when its client closes it", "[proxy][redis]") {
  test::RedisServer redis;
  test::TcpProxy proxy(redis.port());
  std::optional<RawConnection> client;
  client.emplace(proxy.port());
  REQUIRE(client->ping_within(kArrivalBound) == "+PONG\r\n");
  proxy.blackhole();
  proxy.heal();
  REQUIRE(proxy.dead_connections() == 1);
  client.reset();
  test::wait_until(
      kArrivalBound, [&] { return proxy.dead_connections() == 0; },
      "the proxy sees the client's close");
}

TEST_CASE("sever closes every connection, dead ones too, and new connections forward",
          "[proxy][redis]") {
  test::RedisServer redis;
  test::TcpProxy proxy(redis.port());
  RawConnection live(proxy.port());
  REQUIRE(live.ping_within(kArrivalBound) == "+PONG\r\n");
  proxy.blackhole();
  RawConnection dead(proxy.port());
  test::wait_until(
      kArrivalBound, [&] { return proxy.connections_accepted() == 2; },
      "the proxy accepts the connection made during the blackhole");

  proxy.sever();
  CHECK(live.read_within(kArrivalBound) == kEof);
  CHECK(dead.read_within(kArrivalBound) == kEof);
  CHECK(proxy.live_connections() == 0);
  CHECK(proxy.dead_connections() == 0);

  RawConnection after(proxy.port());
  CHECK(after.ping_within(kArrivalBound) == "+PONG\r\n");
}

TEST_CASE("destroying the proxy closes its connections", "[proxy][redis]") {
  test::RedisServer redis;
  std::optional<test::TcpProxy> proxy;
  proxy.emplace(redis.port());
  RawConnection client(proxy->port());
  REQUIRE(client.ping_within(kArrivalBound) == "+PONG\r\n");
  proxy->blackhole();
  proxy.reset();
  CHECK(client.read_within(kArrivalBound) == kEof);
}

TEST_CASE("a rate limit slows a transfer to its rate, each way; unlimit_rate lifts it",
          "[proxy][redis]") {
  test::RedisServer redis;
  test::TcpProxy proxy(redis.port());
  const std::string value(kThrottledBytes, 'v');
  const std::string bulk = "$" + std::to_string(value.size()) + "\r\n" + value + "\r\n";
  RawConnection client(proxy.port());
  REQUIRE(client.ping_within(kArrivalBound) == "+PONG\r\n");
  proxy.limit_rate(kThrottledBytesPerSecond, kThrottledBytesPerSecond);
  using Seconds = std::chrono::duration<double>;

  // Measuring a duration is the point here: it checks the fault injector, not the product.
  // Each clock stops before the reply is checked, so Catch's reporting is not timed with it.
  // Upload: the SET carries the value; its +OK is small.
  auto start = std::chrono::steady_clock::now();
  client.send(resp_command({"SET", "big", value}));
  const std::string set_reply = client.read_within(kThrottledArrivalBound, 5);
  const Seconds upload = std::chrono::steady_clock::now() - start;
  REQUIRE(set_reply == "+OK\r\n");
  CHECK(redis.command({"STRLEN", "big"}) == ":" + std::to_string(kThrottledBytes));

  // Download: the GET is small; its reply carries the value.
  start = std::chrono::steady_clock::now();
  client.send(resp_command({"GET", "big"}));
  const std::string get_reply = client.read_within(kThrottledArrivalBound, bulk.size());
  const Seconds download = std::chrono::steady_clock::now() - start;
  REQUIRE(get_reply.size() == bulk.size());
  // Double parentheses: compared as a bool, so a mismatch does not print 512 KiB twice.
  REQUIRE((get_reply == bulk));
  INFO(kThrottledBytes << " bytes at " << kThrottledBytesPerSecond << " B/s: upload took "
                       << upload.count() << " s, download " << download.count() << " s");
  CHECK(upload >= kThrottledAtLeast);
  CHECK(download >= kThrottledAtLeast);

  // Lifted on the same connection: the value comes back faster than the limit could carry it.
  proxy.unlimit_rate();
  start = std::chrono::steady_clock::now();
  client.send(resp_command({"GET", "big"}));
  const std::string unlimited_reply = client.read_within(kArrivalBound, bulk.size());
  const Seconds unlimited = std::chrono::steady_clock::now() - start;
  REQUIRE(unlimited_reply.size() == bulk.size());
  REQUIRE((unlimited_reply == bulk));
  INFO("unlimited, the download took " << unlimited.count() << " s");
  CHECK(unlimited < kThrottledAtLeast);
}

TEST_CASE("blackhole_one silences one connection, named by the server, and no other",
          "[proxy][redis]") {
  test::RedisServer redis;
  test::TcpProxy proxy(redis.port());
  RawConnection victim(proxy.port());
  RawConnection bystander(proxy.port());
  victim.send(resp_command({"CLIENT", "SETNAME", "victim"}));
  REQUIRE(victim.read_within(kArrivalBound, sizeof "+OK\r\n" - 1) == "+OK\r\n");
  REQUIRE(bystander.ping_within(kArrivalBound) == "+PONG\r\n");

  const std::uint16_t port = redis.client_port("name=victim");
  REQUIRE(port != 0);
  CHECK_FALSE(proxy.blackhole_one(redis.port()));  // no upstream socket is bound there
  REQUIRE(proxy.blackhole_one(port));
  CHECK(victim.ping_within(kSilenceBound) == kNothing);
  CHECK(bystander.ping_within(kArrivalBound) == "+PONG\r\n");
  CHECK(proxy.dead_connections() == 1);
  CHECK(proxy.live_connections() == 1);
}
