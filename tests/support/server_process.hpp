// tests/support/server_process.hpp — test::ServerProcess, the process side test::RedisServer and
// test::MemcachedServer share: one server binary run as a child of the test binary in a private
// temp dir, its stdout and stderr appended to a log there, started until ready, paused, resumed
// and killed by signal. It never speaks the server's protocol: the launcher that owns it builds
// the command line and says, through a probe, when its server answers. It never sleeps a guessed
// time: every wait polls an observable state with a bound and throws on expiry.
#pragma once

#include <sys/types.h>

#include <expected>
#include <functional>
#include <string>
#include <vector>

namespace test {

// Whether the server stays in the test binary's process group (a Ctrl-C on the binary stops it
// too) or gets one of its own (spared, for a program that still needs it after SIGINT).
enum class ProcessGroup { inherit, own };

// What ServerProcess::start() runs, and how it tells that the server is ready.
struct ServerLaunch {
  // args[0] is the binary's absolute path.
  std::vector<std::string> args;
  ProcessGroup group = ProcessGroup::inherit;
  // Names the server in errors, e.g. "redis-server on port 6379".
  std::string name;
  // What `probe` sends, for errors: "PING".
  std::string probe_request;
  // Called until the server is ready: nothing if it is, else why not (the answer, or the error).
  // A std::runtime_error it throws counts as "not yet", its message the reason.
  std::function<std::expected<void, std::string>()> probe;
};

class ServerProcess {
 public:
  enum class StartOutcome { ready, port_taken };

  // Creates /tmp/tiercache-<stem>-XXXXXX; the log is <stem>.log in it. `owner` begins every
  // error message ("test::RedisServer"). Throws std::runtime_error if the dir cannot be made.
  ServerProcess(std::string owner, const std::string& stem);
  // kill(), then remove the dir. Never throws.
  ~ServerProcess();

  ServerProcess(const ServerProcess&) = delete;
  ServerProcess& operator=(const ServerProcess&) = delete;

  const std::string& dir() const { return dir_; }
  // -1 unless started and not since killed or exited.
  pid_t pid() const { return pid_; }
  // <dir>/<stem>.log: the server's stdout and stderr, and its own log if told to write it there.
  std::string log_path() const;
  // The log's last 2000 bytes (kLogTailBytes), for a failure message.
  std::string log_tail() const;

  // Spawns launch.args and returns once launch.probe says ready. port_taken if the server exited
  // having logged "Address already in use" (another process took the port first). Throws
  // std::runtime_error, with the log tail, if it exits otherwise or is not ready within
  // kReadyTimeout (10 s). Precondition: not running (kill() first).
  StartOutcome start(const ServerLaunch& launch);
  // SIGSTOP; returns once /proc/<pid>/stat shows the process stopped ('T').
  void pause();
  // SIGCONT; returns once the process no longer shows as stopped.
  void resume();
  // SIGKILL and reap: the process is gone, its port free. No-op if not running.
  void kill();

 private:
  // Spawns launch.args with the log as stdout and stderr; throws if execv fails.
  void spawn(const ServerLaunch& launch);
  // Polls /proc until `pred` holds for the state letter; throws after kSignalTimeout (5 s).
  void wait_for_state(bool (*pred)(char state), const std::string& why) const;
  [[noreturn]] void fail(const std::string& what) const;

  std::string owner_;
  std::string stem_;
  std::string dir_;
  pid_t pid_ = -1;
};

}  // namespace test
