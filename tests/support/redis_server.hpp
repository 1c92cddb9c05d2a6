// tests/support/redis_server.hpp — test::RedisServer, a real redis-server process owned by one
// test: free loopback port, private temp dir, no persistence, ready on return, always killed and
// cleaned up on scope exit (test failure included). Modelled on Redis's own tests/support/
// server.tcl (start_server) and util.tcl (free port by binding, pause_process). It never sleeps
// a guessed time: every wait polls an observable state with a bound and throws on expiry.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tests/support/server_process.hpp"

namespace test {

// At namespace scope, not nested: g++ 12 rejects `RedisServer(Options = {})` when the struct with
// default member initializers is nested in the class that uses it as a default argument.
struct RedisServerOptions {
  // Appended last to the command line, e.g. {"--maxmemory", "1mb"}.
  std::vector<std::string> extra_args;
  // Empty: no AUTH. Otherwise passed as --requirepass; readiness and command() AUTH first.
  std::string requirepass;
  // Also listen on <dir>/redis.sock (mode 700); see unix_socket_path().
  bool unix_socket = false;
  // Run the server in a process group of its own (setpgid before exec). For a program run from a
  // terminal, such as the catalog demo (examples/catalog/main.cpp): Ctrl-C sends SIGINT to the
  // terminal's foreground process group, which would stop the server at the moment the program
  // still needs it (for a final flush); in its own group it is spared and stops when the
  // RedisServer is destroyed. Tests leave it false, so that a Ctrl-C on the test binary stops its
  // servers with it.
  bool own_process_group = false;
};

class RedisServer {
 public:
  using Options = RedisServerOptions;

  // Starts redis-server and returns once it answers PING. Throws std::runtime_error (with the
  // tail of redis.log) if it cannot start within kReadyTimeout after a few port attempts.
  explicit RedisServer(Options options = {});
  // SIGKILL if alive, reap, remove the temp dir. Never throws.
  ~RedisServer();

  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;
  RedisServer(RedisServer&&) = delete;
  RedisServer& operator=(RedisServer&&) = delete;

  std::uint16_t port() const { return port_; }
  std::string host() const { return "127.0.0.1"; }
  // Empty unless Options.unix_socket.
  std::string unix_socket_path() const;
  // "redis://127.0.0.1:PORT/0".
  std::string url() const;
  // -1 once kill()ed and not restarted.
  pid_t pid() const { return process_.pid(); }

  // SIGSTOP; returns once /proc/<pid>/stat shows the process stopped ('T'). Connects still
  // succeed (the kernel queues them) but nothing is answered until resume().
  void pause();
  // SIGCONT; returns once the process no longer shows as stopped.
  void resume();
  // SIGKILL and reap: the process is gone, its port free. No-op if not running.
  void kill();
  // kill() if alive, then start again on the same port, dir and options; returns once ready.
  // The dataset is empty afterwards (no persistence).
  void restart();

  // Sends one command (RESP, binary-safe) on a fresh connection, AUTH first if requirepass, and
  // returns the reply: "+OK", "-ERR ...", ":5", a bulk's payload, "(nil)" for a null bulk, or the
  // raw bytes of an array. Throws std::runtime_error on I/O failure or after kCommandTimeout.
  std::string command(const std::vector<std::string>& args) const;
  // CONFIG SET requirepass `password` ("": none), then command() and restart() use it.
  // Connections already authenticated stay so; drop_clients() makes every client log in again.
  void set_requirepass(const std::string& password);
  // CLIENT KILL of every client but the one asking, data and pub/sub connections alike.
  void drop_clients() const;
  // Calls of `name` (lower case, e.g. "eval") the server has run, from INFO commandstats.
  long long calls_of(const std::string& name) const;
  // The port a client connected from (its addr in CLIENT LIST), for the first client whose
  // CLIENT LIST line contains `needle` ("sub=1": a subscriber; "flags=t": tracking on);
  // 0 if none does.
  std::uint16_t client_port(std::string_view needle) const;

 private:
  using StartOutcome = ServerProcess::StartOutcome;

  // Spawns redis-server on port_ and waits until it answers; throws on any other failure.
  StartOutcome start_on_port();

  Options options_;
  // Owns the process and the temp dir: a constructor that throws still kills and removes them.
  ServerProcess process_;
  std::uint16_t port_ = 0;
};

}  // namespace test
