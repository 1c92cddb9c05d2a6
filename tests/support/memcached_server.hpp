// tests/support/memcached_server.hpp — test::MemcachedServer, a real memcached process owned by
// one test, in the manner of test::RedisServer: free loopback port (found by binding), no UDP,
// ready once it answers `version`, always killed on scope exit (test failure included), pause()
// / resume() by SIGSTOP / SIGCONT, kill(), restart() on the same port. Plain POSIX, no
// libmemcached: the fixture must stay usable to test the code that uses it. Every wait polls an
// observable state with a bound and throws on expiry.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "tests/support/server_process.hpp"

namespace test {

class MemcachedServer {
 public:
  // Starts memcached (-m 64 MB, 2 threads, `extra_args` appended) and returns once it answers.
  // Throws std::runtime_error with the log tail if it cannot.
  explicit MemcachedServer(std::vector<std::string> extra_args = {});
  // SIGKILL if alive, reap, remove the temp dir. Never throws.
  ~MemcachedServer();

  MemcachedServer(const MemcachedServer&) = delete;
  MemcachedServer& operator=(const MemcachedServer&) = delete;

  std::uint16_t port() const { return port_; }
  // "127.0.0.1:PORT", as MemcachedOptions.servers takes it.
  std::string address() const;
  pid_t pid() const { return process_.pid(); }

  // SIGSTOP; returns once /proc shows the process stopped. Connects still succeed (the kernel
  // queues them) but nothing is answered until resume().
  void pause();
  // SIGCONT; returns once the process no longer shows as stopped.
  void resume();
  // SIGKILL and reap: the process is gone, its port free. No-op if not running.
  void kill();
  // kill() if alive, then start again on the same port; returns once ready. Empty afterwards.
  void restart();

  // Sends `raw` (text protocol, e.g. "stats\r\n" or "set k 0 0 1\r\nv\r\n") on a fresh
  // connection and returns the whole reply (through "END\r\n" for get and stats, else its one
  // line). Throws std::runtime_error on I/O failure or after a bound.
  std::string command(const std::string& raw) const;
  // The value of a key (stored form) and its flags; nullopt if memcached has no such item.
  struct Item {
    std::string value;
    std::uint32_t flags = 0;
  };
  std::optional<Item> get(const std::string& key) const;
  // A counter of `stats`, e.g. "curr_items".
  long long stat(const std::string& name) const;

 private:
  using StartOutcome = ServerProcess::StartOutcome;

  // Spawns memcached on port_ and waits until it answers; throws on any other failure.
  StartOutcome start_on_port();

  std::vector<std::string> extra_args_;
  // Owns the process and the temp dir: a constructor that throws still kills and removes them.
  ServerProcess process_;
  std::uint16_t port_ = 0;
};

}  // namespace test
