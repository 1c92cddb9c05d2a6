// tests/support/socket.hpp — the POSIX socket pieces the test fixtures (test::RedisServer,
// test::MemcachedServer, test::TcpProxy) share: an owned descriptor, the loopback address, errno
// as text, a free port, and a blocking loopback client whose every call is bounded. Plain POSIX,
// no hiredis or libmemcached: the fixtures must stay usable to test the code that uses them.
// Errors come back as text, so each fixture can name itself in the exception it throws.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <expected>
#include <string>
#include <string_view>
#include <utility>

namespace test {

// Owns one file descriptor.
class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  Fd(Fd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  Fd& operator=(Fd&& other) noexcept {
    std::swap(fd_, other.fd_);
    return *this;
  }
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  bool is_open() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// 127.0.0.1:port.
inline sockaddr_in loopback_address(std::uint16_t port) {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return addr;
}

// "call: strerror(err)", for an error message.
inline std::string errno_text(const std::string& call, int err = errno) {
  return call + ": " + std::strerror(err);
}

// As Redis's util.tcl find_available_port: let the kernel pick by binding port 0, then release
// it. Another process may take the port before the caller binds it, so a caller retries.
inline std::expected<std::uint16_t, std::string> pick_free_port() {
  Fd sock(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!sock.is_open()) return std::unexpected(errno_text("socket"));
  sockaddr_in addr = loopback_address(0);
  if (::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    return std::unexpected(errno_text("bind 127.0.0.1:0"));
  socklen_t len = sizeof addr;
  if (::getsockname(sock.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    return std::unexpected(errno_text("getsockname"));
  return ntohs(addr.sin_port);
}

// A blocking TCP connection to 127.0.0.1:port whose connect, sends and receives each give up
// after `limit` (Linux applies SO_SNDTIMEO to connect too).
inline std::expected<Fd, std::string> connect_loopback(std::uint16_t port,
                                                       std::chrono::milliseconds limit) {
  Fd sock(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!sock.is_open()) return std::unexpected(errno_text("socket"));
  timeval tv{};
  tv.tv_sec = limit.count() / 1000;
  tv.tv_usec = (limit.count() % 1000) * 1000;
  if (::setsockopt(sock.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) != 0 ||
      ::setsockopt(sock.get(), SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0)
    return std::unexpected(errno_text("setsockopt"));
  const sockaddr_in addr = loopback_address(port);
  if (::connect(sock.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
    return std::unexpected(errno_text("connect 127.0.0.1:" + std::to_string(port)));
  return sock;
}

// Sends all of `bytes` on a connect_loopback() socket.
inline std::expected<void, std::string> send_all(const Fd& sock, std::string_view bytes) {
  while (!bytes.empty()) {
    // MSG_NOSIGNAL: a server killed mid-test must fail the call, not SIGPIPE the test binary.
    const ssize_t n = ::send(sock.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return std::unexpected(errno_text("send"));
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
  return {};
}

// Appends the next bytes a connect_loopback() socket receives to `buf`, for a caller still
// waiting for a whole reply: a close or connect_loopback's `limit` passing is then an error.
inline std::expected<void, std::string> receive_more(const Fd& sock, std::string& buf) {
  // Bytes one recv() may take; a reply is rarely larger, so one call usually completes it.
  constexpr std::size_t kChunkBytes = 16384;
  for (;;) {
    char chunk[kChunkBytes];
    const ssize_t n = ::recv(sock.get(), chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      return std::unexpected(std::string("no complete reply in time (is the server paused?)"));
    if (n < 0) return std::unexpected(errno_text("recv"));
    if (n == 0) return std::unexpected(std::string("connection closed mid-reply"));
    buf.append(chunk, static_cast<std::size_t>(n));
    return {};
  }
}

}  // namespace test
