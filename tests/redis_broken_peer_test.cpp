// A peer on the Redis port that breaks the protocol: a reply nobody asked for, a pub/sub message
// of a shape hiredis does not expect, a reply that never ends. hiredis 0.14 aborts the process on
// the first two and allocates without limit on the third; each must only drop the connection,
// which then says why. The peer is a socket in the test (a real Redis never sends these), speaking
// just enough RESP for the handshake: "+OK" to every command.
#include <sys/socket.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/redis_cache.hpp"
#include "tests/support/socket.hpp"
#include "tiercache/backend.hpp"

using tiercache::errc;
using namespace std::chrono_literals;

namespace {

// The command names (first words, lower case) of the whole RESP commands at the front of
// `buf`, which it consumes.
std::vector<std::string> take_commands(std::string& buf) {
  std::vector<std::string> names;
  for (;;) {
    if (buf.empty() || buf[0] != '*') return names;
    std::size_t eol = buf.find("\r\n");
    if (eol == std::string::npos) return names;
    const long items = std::stol(buf.substr(1, eol - 1));
    std::size_t at = eol + 2;
    std::string first;
    for (long i = 0; i < items; ++i) {
      eol = buf.find("\r\n", at);
      if (eol == std::string::npos) return names;
      const auto len = static_cast<std::size_t>(std::stol(buf.substr(at + 1, eol - at - 1)));
      if (eol + 2 + len + 2 > buf.size()) return names;
      if (i == 0) first = buf.substr(eol + 2, len);
      at = eol + 2 + len + 2;
    }
    buf.erase(0, at);
    for (char& c : first) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    names.push_back(first);
  }
}

// Listens on a free loopback port; each connection's commands are answered by `answer`, given
// the command's name and whether it is the connection's first batch. Stops and joins on
// destruction.
class BrokenPeer {
 public:
  using Answer = std::function<std::string(const std::string& command, bool first_batch)>;

  explicit BrokenPeer(Answer answer) : answer_(std::move(answer)) {
    listener_ = test::Fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    REQUIRE(listener_.is_open());
    sockaddr_in addr = test::loopback_address(0);
    REQUIRE(::bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    REQUIRE(::listen(listener_.get(), 16) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&addr), &len) == 0);
    port_ = ntohs(addr.sin_port);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~BrokenPeer() {
    stop_ = true;
    ::shutdown(listener_.get(), SHUT_RDWR);
    acceptor_.join();
    {
      std::lock_guard lock(mu_);
      for (int fd : fds_) ::shutdown(fd, SHUT_RDWR);
    }
    for (std::thread& t : connections_) t.join();
  }
  std::uint16_t port() const { return port_; }

 private:
  void accept_loop() {
    while (!stop_) {
      const int fd = ::accept(listener_.get(), nullptr, nullptr);
      if (fd < 0) return;
      std::lock_guard lock(mu_);
      fds_.push_back(fd);
      connections_.emplace_back([this, fd] { serve(fd); });
    }
  }
  void serve(int fd) {
    std::string buf;
    bool first_batch = true;
    char chunk[4096];
    for (;;) {
      const ssize_t got = ::recv(fd, chunk, sizeof chunk, 0);
      if (got <= 0) break;
      buf.append(chunk, static_cast<std::size_t>(got));
      std::string out;
      for (const std::string& command : take_commands(buf)) out += answer_(command, first_batch);
      if (out.empty()) continue;
      first_batch = false;
      if (::send(fd, out.data(), out.size(), MSG_NOSIGNAL) < 0) break;
    }
    ::close(fd);
  }

  Answer answer_;
  test::Fd listener_;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<int> fds_;
  std::vector<std::thread> connections_;
};

tiercache::Options options_for(const BrokenPeer& peer, tiercache::InvalidationMode invalidation) {
  tiercache::Options o;
  o.redis.host = "127.0.0.1";
  o.redis.port = peer.port();
  o.redis.invalidation = invalidation;
  return o;
}

// Waits until the backend's last error names `what`.
void wait_for_error(const tiercache::Backend& backend, const std::string& what) {
  std::string last;
  test::wait_until(
      5s,
      [&] {
        last = backend.health().last_error;
        return last.find(what) != std::string::npos;
      },
      "the dropped connection says why");
  CHECK_THAT(last, Catch::Contains("the server sent"));
}

long rss_kib() {
  std::ifstream status("/proc/self/status");
  std::string line;
  while (std::getline(status, line))
    if (line.starts_with("VmRSS:")) return std::stol(line.substr(6));
  return -1;
}

}  // namespace

TEST_CASE("a reply no command waited for drops the connection, not the process",
          "[redis][broken_peer]") {
  // A duplicated reply, stray bytes from a proxy: hiredis asserts that the connection must be
  // subscribed, and the process aborted.
  BrokenPeer peer([](const std::string&, bool first_batch) {
    return first_batch ? "+OK\r\n+OK\r\n" : "+OK\r\n";
  });
  auto backend = tiercache::make_backend(options_for(peer, tiercache::InvalidationMode::off));
  REQUIRE(backend);
  wait_for_error(**backend, "a reply no command waited for");
}

TEST_CASE("a pub/sub message of an unexpected shape drops the stream, not the process",
          "[redis][broken_peer]") {
  // hiredis asserts a message has two elements at least, a string kind and channel, and an
  // unsubscribe's count an integer.
  struct Shape {
    const char* message;
    const char* refusal;
  };
  const Shape shapes[] = {
      {"*1\r\n$9\r\nsubscribe\r\n", "fewer than 2 elements"},
      {"*2\r\n:1\r\n$20\r\n__redis__:invalidate\r\n", "kind or channel is not a string"},
      {"*3\r\n$11\r\nunsubscribe\r\n$20\r\n__redis__:invalidate\r\n$1\r\nx\r\n",
       "count is not an integer"},
      {"*2\r\n$12\r\npunsubscribe\r\n$1\r\nx\r\n", "without its count"},
  };
  for (const Shape& shape : shapes) {
    INFO(shape.message);
    BrokenPeer peer([&](const std::string& command, bool) -> std::string {
      return command == "subscribe" ? shape.message : "+OK\r\n";
    });
    auto backend = tiercache::make_backend(options_for(peer, tiercache::InvalidationMode::tracked));
    REQUIRE(backend);
    wait_for_error(**backend, shape.refusal);
  }
}

TEST_CASE("one reply cannot make the cache allocate past what its command may be answered",
          "[redis][broken_peer]") {
  // A read of one key is answered an array of 2^20 arrays of 2^20 integers, never finished: each
  // array within the per-array bound, every byte within the buffered-bytes bound, yet 4 bytes on
  // the wire cost hiredis ~60 in objects, without end. The read's reply may cost one value and
  // its TTL, plus slack.
  // Built before RSS is first read and handed over whole (the peer then holds one copy, ~4 MiB),
  // so that what RSS shows is mostly what the cache allocates.
  std::string flood = "*1048576\r\n*1048576\r\n";
  while (flood.size() < (std::size_t{4} << 20)) flood += ":1\r\n";
  std::atomic<long> sent{0};
  BrokenPeer peer([&](const std::string& command, bool) -> std::string {
    if (command != "eval") return "+OK\r\n";
    sent += static_cast<long>(flood.size());
    return std::move(flood);
  });
  tiercache::Options o = options_for(peer, tiercache::InvalidationMode::off);
  // Far above what the reply takes to arrive, also under a sanitizer: the read must end on the
  // bound, not on the connection's timeout.
  o.redis.command_timeout = 10s;
  auto backend = tiercache::make_backend(o);
  REQUIRE(backend);
  test::wait_until(
      5s, [&] { return (*backend)->is_available(); }, "the peer is taken for Redis");
  const long before = rss_kib();
  std::mutex mu;
  std::optional<tiercache::Result<tiercache::BackendValue>> answer;
  (*backend)->read({"k"}, [&](std::vector<tiercache::Result<tiercache::BackendValue>> r) {
    std::lock_guard lock(mu);
    answer = std::move(r.at(0));
  });
  test::wait_until(
      20s,
      [&] {
        std::lock_guard lock(mu);
        return answer.has_value();
      },
      "the read is answered");
  const long grown_kib = rss_kib() - before;
  INFO("the peer sent " << sent.load() / 1024 << " KiB; RSS grew by " << grown_kib << " KiB");
  REQUIRE_FALSE(*answer);
  CHECK(answer->error() == errc::backend_unavailable);
  CHECK_THAT(answer->error().detail, Catch::Contains("a reply of over"));
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  // ~1.1 MiB of objects at most, and the peer's copy; 4 MiB of integers unbounded cost ~70 MiB.
  // (Under a sanitizer, quarantine and shadow memory make RSS say little: the error above shows
  // the bound was applied.)
  CHECK(grown_kib < 16 * 1024);
#endif
}
