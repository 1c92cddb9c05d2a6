// tests/support/fake_redis_peer.cpp — accept loop, one thread per connection, and the RESP
// command framing.
#include "tests/support/fake_redis_peer.hpp"

#include <cctype>
#include <stdexcept>

namespace test {

std::vector<RespCommand> take_commands(std::string& buf) {
  std::vector<RespCommand> commands;
  for (;;) {
    if (buf.empty() || buf[0] != '*') return commands;
    std::size_t eol = buf.find("\r\n");
    if (eol == std::string::npos) return commands;
    const long items = std::stol(buf.substr(1, eol - 1));
    std::size_t at = eol + 2;
    RespCommand words;
    for (long i = 0; i < items; ++i) {
      eol = buf.find("\r\n", at);
      if (eol == std::string::npos) return commands;
      const auto len = static_cast<std::size_t>(std::stol(buf.substr(at + 1, eol - at - 1)));
      if (eol + 2 + len + 2 > buf.size()) return commands;
      words.push_back(buf.substr(eol + 2, len));
      at = eol + 2 + len + 2;
    }
    buf.erase(0, at);
    for (std::size_t i = 0; i < words.size() && (i == 0 || words[0] != "auth"); ++i)
      for (char& c : words[i]) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    commands.push_back(std::move(words));
  }
}

bool send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t sent = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent <= 0) return false;
    bytes.remove_prefix(static_cast<std::size_t>(sent));
  }
  return true;
}

FakeRedisPeer::FakeRedisPeer(Answer answer) : answer_(std::move(answer)) {
  listener_ = Fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!listener_.is_open()) throw std::runtime_error("fake Redis peer: " + errno_text("socket"));
  sockaddr_in addr = loopback_address(0);
  socklen_t len = sizeof addr;
  if (::bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::listen(listener_.get(), 16) != 0 ||
      ::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    throw std::runtime_error("fake Redis peer: " + errno_text("listen on 127.0.0.1:0"));
  port_ = ntohs(addr.sin_port);
  acceptor_ = std::thread([this] { accept_loop(); });
}

FakeRedisPeer::~FakeRedisPeer() {
  stop_ = true;
  ::shutdown(listener_.get(), SHUT_RDWR);
  acceptor_.join();
  {
    std::lock_guard lock(mu_);
    for (const Fd& fd : fds_) ::shutdown(fd.get(), SHUT_RDWR);
  }
  for (std::thread& t : connections_) t.join();
}

std::vector<RespCommand> FakeRedisPeer::received() const {
  std::lock_guard lock(mu_);
  return received_;
}

void FakeRedisPeer::accept_loop() {
  while (!stop_) {
    const int fd = ::accept(listener_.get(), nullptr, nullptr);
    if (fd < 0) return;
    std::lock_guard lock(mu_);
    fds_.emplace_back(fd);
    connections_.emplace_back([this, fd] { serve(fd); });
  }
}

void FakeRedisPeer::serve(int fd) {
  std::string buf;
  char chunk[4096];
  for (bool open = true; open && !stop_;) {
    const ssize_t got = ::recv(fd, chunk, sizeof chunk, 0);
    if (got <= 0) break;
    buf.append(chunk, static_cast<std::size_t>(got));
    for (const RespCommand& command : take_commands(buf)) {
      {
        std::lock_guard lock(mu_);
        received_.push_back(command);
      }
      if (!answer_(command, fd, stop_)) {
        open = false;
        break;
      }
    }
  }
  ::shutdown(fd, SHUT_RDWR);
}

}  // namespace test
