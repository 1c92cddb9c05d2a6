// The /metrics HTTP endpoint (tiercache/metrics_endpoint.hpp) over real HTTP: a raw socket client
// on 127.0.0.1 or ::1, a free port picked by the endpoint (port 0), a real Cache attached.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/resident_memory.hpp"
#include "tests/support/socket.hpp"
#include "tests/support/test_support.hpp"
#include "tiercache/metrics_endpoint.hpp"

using tiercache::Cache;
using tiercache::errc;
using tiercache::make_metrics_endpoint;
using tiercache::Metrics;
using tiercache::MetricsEndpoint;
using tiercache::MetricsEndpointOptions;
using namespace std::chrono_literals;

namespace {

// Each connect, send and receive of a request gives up after this.
constexpr auto kIoLimit = 5s;

struct HttpReply {
  int status = 0;
  std::string content_type;
  std::string body;
};

// One request on a fresh connection to address:port (numeric v4 or v6), read to the server's
// close. Throws std::runtime_error on an I/O failure, so it may run on any thread.
HttpReply http_request(const std::string& address, std::uint16_t port, const std::string& path,
                       const std::string& method = "GET") {
  sockaddr_storage addr{};
  socklen_t addr_len = 0;
  auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
  auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
  if (::inet_pton(AF_INET, address.c_str(), &v4->sin_addr) == 1) {
    v4->sin_family = AF_INET;
    v4->sin_port = htons(port);
    addr_len = sizeof *v4;
  } else if (::inet_pton(AF_INET6, address.c_str(), &v6->sin6_addr) == 1) {
    v6->sin6_family = AF_INET6;
    v6->sin6_port = htons(port);
    addr_len = sizeof *v6;
  } else {
    throw std::runtime_error("not a numeric address: " + address);
  }
  test::Fd sock(::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!sock.is_open()) throw std::runtime_error(test::errno_text("socket"));
  timeval tv{};
  tv.tv_sec = std::chrono::duration_cast<std::chrono::seconds>(kIoLimit).count();
  ::setsockopt(sock.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(sock.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  if (::connect(sock.get(), reinterpret_cast<const sockaddr*>(&addr), addr_len) != 0)
    throw std::runtime_error(test::errno_text("connect " + address + ":" + std::to_string(port)));
  const std::string request =
      method + " " + path + " HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n";
  if (auto sent = test::send_all(sock, request); !sent) throw std::runtime_error(sent.error());

  std::string raw;
  for (;;) {
    char chunk[16384];
    const ssize_t n = ::recv(sock.get(), chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::runtime_error(test::errno_text("recv"));
    if (n == 0) break;
    raw.append(chunk, static_cast<std::size_t>(n));
  }
  HttpReply reply;
  const auto head_end = raw.find("\r\n\r\n");
  if (!raw.starts_with("HTTP/1.1 ") || head_end == std::string::npos)
    throw std::runtime_error("not an HTTP reply: " + raw.substr(0, 200));
  reply.status = std::stoi(raw.substr(9, 3));
  reply.body = raw.substr(head_end + 4);
  const std::string head = raw.substr(0, head_end);
  for (std::size_t at = head.find("\r\n"); at != std::string::npos;) {
    const std::size_t next = head.find("\r\n", at + 2);
    const std::string line = head.substr(at + 2, next == std::string::npos ? next : next - at - 2);
    std::string name = line.substr(0, line.find(':'));
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (name == "content-type") reply.content_type = line.substr(line.find(':') + 2);
    at = next;
  }
  return reply;
}

std::shared_ptr<MetricsEndpoint> endpoint_on(MetricsEndpointOptions options) {
  auto endpoint = make_metrics_endpoint(options);
  if (!endpoint) FAIL("make_metrics_endpoint: " << endpoint.error().detail);
  REQUIRE((*endpoint)->port() != 0);
  return *endpoint;
}

// An endpoint on a free 127.0.0.1 port answering 200 with empty metrics.
std::shared_ptr<MetricsEndpoint> serving_endpoint() {
  auto endpoint = endpoint_on({.port = 0});
  REQUIRE(endpoint->attach([] { return Metrics{}; }));
  return endpoint;
}

// What a scraper sends: no "Connection: close", so nothing but the server's own rules ends it.
constexpr const char* kPlainScrape = "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n";

struct TimedReply {
  std::string raw;  // every byte received until the server closed
  std::chrono::steady_clock::duration took{};
};

// Sends `request` on a fresh connection to 127.0.0.1:port and reads to the server's close,
// timing both from the connect. Throws std::runtime_error on an I/O failure (a receive waiting
// past `limit` too).
TimedReply timed_exchange(std::uint16_t port, std::string_view request,
                          std::chrono::milliseconds limit) {
  const auto start = std::chrono::steady_clock::now();
  auto sock = test::connect_loopback(port, limit);
  if (!sock) throw std::runtime_error(sock.error());
  if (auto sent = test::send_all(*sock, request); !sent) throw std::runtime_error(sent.error());
  TimedReply reply;
  for (;;) {
    char chunk[16384];
    const ssize_t n = ::recv(sock->get(), chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::runtime_error(test::errno_text("recv"));
    if (n == 0) break;
    reply.raw.append(chunk, static_cast<std::size_t>(n));
  }
  reply.took = std::chrono::steady_clock::now() - start;
  return reply;
}

// Whether the server ended the connection: a receive sees its close or reset (after whatever
// it answered) rather than waiting out the socket's receive timeout.
bool server_closed(const test::Fd& sock) {
  for (;;) {
    char chunk[4096];
    const ssize_t n = ::recv(sock.get(), chunk, sizeof chunk, 0);
    if (n > 0 || (n < 0 && errno == EINTR)) continue;
    return n == 0 || errno == ECONNRESET;
  }
}

}  // namespace

TEST_CASE("the endpoint serves a cache's metrics over HTTP on a free loopback port",
          "[metrics-expo]") {
  const auto endpoint = endpoint_on({.port = 0});
  const std::uint16_t port = endpoint->port();
  CHECK(http_request("127.0.0.1", port, "/metrics").status == 503);
  {
    Cache cache = test::open_cache({.metrics = {.endpoint = endpoint}});
    REQUIRE(cache.set(test::ctx(), "k", "v"));
    REQUIRE(cache.set(test::ctx(), "k2", "v"));
    const HttpReply reply = http_request("127.0.0.1", port, "/metrics");
    CHECK(reply.status == 200);
    CHECK(reply.content_type == tiercache::kPrometheusContentType);
    CHECK(reply.body.find("\ntiercache_sets_total 2\n") != std::string::npos);
    CHECK(reply.body.starts_with("# HELP tiercache_hits_total "));

    CHECK(http_request("127.0.0.1", port, "/other").status == 404);
    CHECK(http_request("127.0.0.1", port, "/metrics/").status == 404);
    CHECK(http_request("127.0.0.1", port, "/metrics", "POST").status == 405);
    const HttpReply head = http_request("127.0.0.1", port, "/metrics", "HEAD");
    CHECK(head.status == 200);
    CHECK(head.body.empty());
  }
  // The cache detached as it was destroyed.
  const HttpReply after = http_request("127.0.0.1", port, "/metrics");
  CHECK(after.status == 503);
  CHECK(after.body.find("no cache") != std::string::npos);
}

TEST_CASE("a second cache given the same endpoint fails to open; the first is still served",
          "[metrics-expo]") {
  const auto endpoint = endpoint_on({.port = 0, .prometheus = {.prefix = "first_"}});
  Cache first = test::open_cache({.metrics = {.endpoint = endpoint}});
  auto second = Cache::open({.metrics = {.endpoint = endpoint}});
  REQUIRE_FALSE(second);
  CHECK(second.error() == errc::invalid_argument);
  CHECK(second.error().detail.find("one Cache per endpoint") != std::string::npos);
  REQUIRE(first.set(test::ctx(), "k", "v"));
  const HttpReply reply = http_request("127.0.0.1", endpoint->port(), "/metrics");
  CHECK(reply.status == 200);
  CHECK(reply.body.find("\nfirst_sets_total 1\n") != std::string::npos);
}

TEST_CASE("attach refuses a second source; a source that throws is answered 500",
          "[metrics-expo]") {
  const auto endpoint = endpoint_on({.port = 0});
  REQUIRE(endpoint->attach([]() -> Metrics { throw std::runtime_error("no snapshot today"); }));
  CHECK(endpoint->attach([] { return Metrics{}; }).error() == errc::invalid_argument);
  const HttpReply reply = http_request("127.0.0.1", endpoint->port(), "/metrics");
  CHECK(reply.status == 500);
  CHECK(reply.body.find("no snapshot today") != std::string::npos);
  endpoint->detach();
  REQUIRE(endpoint->attach([] { return Metrics{}; }));
  CHECK(http_request("127.0.0.1", endpoint->port(), "/metrics").status == 200);
}

TEST_CASE("a non-loopback address is refused unless allow_non_loopback says so", "[metrics-expo]") {
  for (const char* address : {"0.0.0.0", "10.1.2.3", "::", "2001:db8::1"}) {
    auto endpoint = make_metrics_endpoint({.address = address, .port = 0});
    INFO(address);
    REQUIRE_FALSE(endpoint);
    CHECK(endpoint.error() == errc::invalid_argument);
    CHECK(endpoint.error().detail.find("allow_non_loopback") != std::string::npos);
  }
  const auto any = endpoint_on({.address = "0.0.0.0", .allow_non_loopback = true, .port = 0});
  CHECK(http_request("127.0.0.1", any->port(), "/metrics").status == 503);
  // The rest of 127.0.0.0/8 is loopback too.
  const auto other = endpoint_on({.address = "127.0.0.2", .port = 0});
  CHECK(http_request("127.0.0.2", other->port(), "/metrics").status == 503);
}

TEST_CASE("the endpoint serves on ::1", "[metrics-expo]") {
  const auto endpoint = endpoint_on({.address = "::1", .port = 0});
  Cache cache = test::open_cache({.metrics = {.endpoint = endpoint}});
  REQUIRE(cache.set(test::ctx(), "k", "v"));
  const HttpReply reply = http_request("::1", endpoint->port(), "/metrics");
  CHECK(reply.status == 200);
  CHECK(reply.body.find("\ntiercache_sets_total 1\n") != std::string::npos);
}

TEST_CASE("a bad address, path or Prometheus option is invalid_argument", "[metrics-expo]") {
  for (const char* address : {"localhost", "", "127.0.0.1:9464", "127.1", "::g", " 127.0.0.1"}) {
    auto endpoint = make_metrics_endpoint({.address = address, .port = 0});
    INFO('"' << address << '"');
    REQUIRE_FALSE(endpoint);
    CHECK(endpoint.error() == errc::invalid_argument);
    CHECK(endpoint.error().detail.find("address") != std::string::npos);
  }
  for (const char* path : {"metrics", "", "/metrics?x=1", "/my metrics"}) {
    auto endpoint = make_metrics_endpoint({.port = 0, .path = path});
    INFO('"' << path << '"');
    REQUIRE_FALSE(endpoint);
    CHECK(endpoint.error() == errc::invalid_argument);
  }
  auto bad_label =
      make_metrics_endpoint({.port = 0, .prometheus = {.const_labels = {{"le", "x"}}}});
  REQUIRE_FALSE(bad_label);
  CHECK(bad_label.error() == errc::invalid_argument);
  // Another path is served as given.
  const auto custom = endpoint_on({.port = 0, .path = "/cache/metrics"});
  CHECK(http_request("127.0.0.1", custom->port(), "/cache/metrics").status == 503);
  CHECK(http_request("127.0.0.1", custom->port(), "/metrics").status == 404);
}

TEST_CASE("a port already in use is backend_unavailable naming address and port",
          "[metrics-expo]") {
  const auto first = endpoint_on({.port = 0});
  const std::string where = "127.0.0.1:" + std::to_string(first->port());
  auto second = make_metrics_endpoint({.port = first->port()});
  REQUIRE_FALSE(second);
  CHECK(second.error() == errc::backend_unavailable);
  INFO(second.error().detail);
  CHECK(second.error().detail.find(where) != std::string::npos);
  // A listener that is not an endpoint holds the port the same way.
  test::Fd sock(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in addr = test::loopback_address(0);
  REQUIRE(::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  REQUIRE(::listen(sock.get(), 1) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(sock.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  auto third = make_metrics_endpoint({.port = ntohs(addr.sin_port)});
  REQUIRE_FALSE(third);
  CHECK(third.error() == errc::backend_unavailable);
}

TEST_CASE("caches opened and destroyed while the endpoint is scraped are never read after",
          "[metrics-expo][concurrency]") {
  const auto endpoint = endpoint_on({.port = 0});
  // Scrapes in a loop until destroyed (joined then, on a failed check too). Catch2 checks only
  // on this thread: the scraper counts, the test checks after.
  struct Scraper {
    std::uint16_t port;
    std::atomic<bool> stop{false};
    std::atomic<bool> failed{false};
    std::atomic<int> ok{0}, unattached{0}, other{0};
    std::string failure;  // written before `failed` is set, read after it is seen
    std::thread thread{[this] {
      try {
        while (!stop.load()) {
          const int status = http_request("127.0.0.1", port, "/metrics").status;
          (status == 200 ? ok : status == 503 ? unattached : other).fetch_add(1);
        }
      } catch (const std::exception& e) {
        failure = e.what();
        failed = true;
      }
    }};
    ~Scraper() {
      stop = true;
      thread.join();
    }
  } scraper{endpoint->port()};

  constexpr int kCaches = 40;
  for (int i = 0; i < kCaches; ++i) {
    Cache cache = test::open_cache({.metrics = {.endpoint = endpoint}});
    REQUIRE(cache.set(test::ctx(), "k", "v"));
    // Let a scrape see each cache, so that its detach races a render now and then.
    const int seen = scraper.ok.load();
    test::wait_until(
        5s, [&] { return scraper.ok.load() > seen || scraper.failed.load(); }, "a scrape");
    if (scraper.failed.load()) FAIL("scraper: " << scraper.failure);
  }
  CHECK(scraper.ok.load() >= kCaches);
  CHECK(scraper.other.load() == 0);
}

TEST_CASE("a client that connects and sends nothing holds the worker about a second",
          "[metrics-expo]") {
  const auto endpoint = serving_endpoint();
  auto idle = test::connect_loopback(endpoint->port(), 10s);
  REQUIRE(idle);
  // Queued behind the idle connection on the one worker.
  const TimedReply reply = timed_exchange(endpoint->port(), kPlainScrape, 10s);
  CHECK(reply.raw.starts_with("HTTP/1.1 200 "));
  CHECK(reply.took < 2s);
  // The idle client was let go, not left open.
  CHECK(server_closed(*idle));
}

TEST_CASE("idle clients queued ahead of a scrape hold it about a second in all, not one each",
          "[metrics-expo]") {
  constexpr int kIdle = 12;
  const auto endpoint = serving_endpoint();
  std::vector<test::Fd> idle;
  for (int i = 0; i < kIdle; ++i) {
    auto sock = test::connect_loopback(endpoint->port(), 10s);
    REQUIRE(sock);
    idle.push_back(std::move(*sock));
  }
  // Queued behind all of them on the one worker: each idle one's second ran from its accept.
  const TimedReply reply = timed_exchange(endpoint->port(), kPlainScrape, 20s);
  CHECK(reply.raw.starts_with("HTTP/1.1 200 "));
  CHECK(reply.took < std::chrono::seconds(kIdle / 2));
  for (const test::Fd& sock : idle) CHECK(server_closed(sock));
}

TEST_CASE("a client trickling header lines loses the worker about a second after it was taken",
          "[metrics-expo]") {
  const auto endpoint = serving_endpoint();
  auto slow = test::connect_loopback(endpoint->port(), 10s);
  REQUIRE(slow);
  REQUIRE(test::send_all(*slow, "GET /metrics HTTP/1.1\r\n"));
  // One header line every 100 ms for up to 6 s: each read comes well within any per-read
  // timeout, so only a bound on the whole request ends it.
  std::atomic<bool> stop{false};
  std::atomic<bool> cut_off{false};
  std::thread trickler([&] {
    for (int i = 0; i < 60 && !stop.load(); ++i) {
      if (!test::send_all(*slow, "a:b\r\n")) {
        cut_off = true;
        return;
      }
      std::this_thread::sleep_for(100ms);
    }
  });
  TimedReply reply;
  try {
    reply = timed_exchange(endpoint->port(), kPlainScrape, 10s);
  } catch (const std::exception& e) {
    stop = true;
    trickler.join();
    FAIL("scrape: " << e.what());
  }
  CHECK(reply.raw.starts_with("HTTP/1.1 200 "));
  CHECK(reply.took < 2s);
  CHECK(server_closed(*slow));
  trickler.join();
  CHECK(cut_off.load());
}

TEST_CASE("endless header lines are refused within a bounded size and the connection dropped",
          "[metrics-expo]") {
  const auto endpoint = serving_endpoint();
  // The worker thread and its allocator arena exist before the measure.
  REQUIRE(http_request("127.0.0.1", endpoint->port(), "/metrics").status == 200);
  const std::string lines = [] {
    std::string s;
    for (int i = 0; i < 100000; ++i) s += "a:b\r\n";
    return s;
  }();
  const long before_kib = test::resident_kib();

  auto sock = test::connect_loopback(endpoint->port(), 5s);
  REQUIRE(sock);
  REQUIRE(test::send_all(*sock, "GET /metrics HTTP/1.1\r\n"));
  // 1,000,000 header lines (5 MB) and never the blank line that ends them. A server that stops
  // reading resets the connection, and a send fails.
  bool send_failed = false;
  for (int i = 0; i < 10 && !send_failed; ++i) send_failed = !test::send_all(*sock, lines);
  const bool closed = send_failed || server_closed(*sock);
  const long after_kib = test::resident_kib();

  CHECK(closed);
  INFO("resident set grew by " << (after_kib - std::min(after_kib, before_kib)) << " KiB");
  CHECK(after_kib < before_kib + 4 * 1024);
  // The worker is free for the next scrape.
  CHECK(http_request("127.0.0.1", endpoint->port(), "/metrics").status == 200);
}
