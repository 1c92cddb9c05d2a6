// tests/support/fake_redis_peer.hpp — test::FakeRedisPeer, a socket on a free loopback port that
// stands in for a Redis server breaking the protocol in ways a real one never does (a reply no
// command waited for, a message of the wrong shape, a reply that never ends or trickles in). It
// parses just enough RESP to hand each command to the test, which answers by writing to the
// connection itself, as much and as slowly as it likes.
// Plain POSIX, no hiredis: it must stay usable to test the code that uses hiredis.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/support/socket.hpp"

namespace test {

// A command's words: the name and every argument lower case, but AUTH's (a password is not).
using RespCommand = std::vector<std::string>;

// The whole RESP commands at the front of `buf`, which it consumes; an unfinished one stays.
std::vector<RespCommand> take_commands(std::string& buf);

// Sends all of `bytes`; false once the connection is gone.
bool send_all(int fd, std::string_view bytes);

// Each command of each connection is answered by `answer`, which writes to `fd` (until `stop`,
// set when the peer is being destroyed) and returns false to end the connection. Stops and joins
// on destruction: every connection is shut down, which ends any answer still sending.
class FakeRedisPeer {
 public:
  using Answer =
      std::function<bool(const RespCommand& command, int fd, const std::atomic<bool>& stop)>;

  // Throws std::runtime_error if it cannot listen.
  explicit FakeRedisPeer(Answer answer);
  ~FakeRedisPeer();
  FakeRedisPeer(const FakeRedisPeer&) = delete;
  FakeRedisPeer& operator=(const FakeRedisPeer&) = delete;

  std::uint16_t port() const { return port_; }
  std::string address() const { return "127.0.0.1:" + std::to_string(port_); }

  // Every command received so far, in order of arrival, over all connections.
  std::vector<RespCommand> received() const;

 private:
  void accept_loop();
  void serve(int fd);

  Answer answer_;
  Fd listener_;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread acceptor_;
  mutable std::mutex mu_;
  // Kept open (shut down) until the destructor: closed when a connection ends, a number could be
  // reused by the time the destructor shuts the connections down.
  std::vector<Fd> fds_;
  std::vector<std::thread> connections_;
  std::vector<RespCommand> received_;
};

}  // namespace test
