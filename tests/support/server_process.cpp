// tests/support/server_process.cpp — fork/execv, signals, waitpid and /proc for one server
// process per test. The child runs async-signal-safe calls only until execv, because the test
// binary may have other threads by then.
#include "tests/support/server_process.hpp"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>
#include <utility>

#include "tests/support/socket.hpp"

namespace test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// How long a server may take to answer its first probe (usually ~10 ms; slack for sanitizers).
constexpr auto kReadyTimeout = 10s;
// Gap between polls of a process state or probes; only ever slept inside a bounded loop.
constexpr auto kPollInterval = 5ms;
// Bound on pause()/resume() seeing the process state change in /proc.
constexpr auto kSignalTimeout = 5s;
// Bytes of the log quoted in a failure message.
constexpr std::size_t kLogTailBytes = 2000;
// Exit status of a child whose execv failed (the shell's "command not executable").
constexpr int kExecFailedStatus = 127;

std::string describe_status(int status) {
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "killed by signal " + std::to_string(WTERMSIG(status));
  return "wait status " + std::to_string(status);
}

// The state letter of /proc/<pid>/stat ('R', 'S', 'T', ...), or '?' if unreadable.
char process_state(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(in, stat);
  // The command name in parentheses may itself hold ") "; the state follows the last ')'.
  const std::size_t close = stat.rfind(')');
  if (close == std::string::npos || close + 2 >= stat.size()) return '?';
  return stat[close + 2];
}

std::uintmax_t file_size_or_zero(const std::string& path) {
  std::error_code ec;
  const auto size = std::filesystem::file_size(path, ec);
  return ec ? 0 : size;
}

std::string read_from(const std::string& path, std::uintmax_t offset) {
  std::ifstream in(path, std::ios::binary);
  in.seekg(static_cast<std::streamoff>(offset));
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace

ServerProcess::ServerProcess(std::string owner, const std::string& stem)
    : owner_(std::move(owner)), stem_(stem) {
  std::string pattern = "/tmp/tiercache-" + stem + "-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) fail(errno_text("mkdtemp " + pattern));
  dir_ = pattern;
}

ServerProcess::~ServerProcess() {
  kill();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
  if (ec)
    std::fprintf(stderr, "%s: could not remove %s: %s\n", owner_.c_str(), dir_.c_str(),
                 ec.message().c_str());
}

std::string ServerProcess::log_path() const {
  return dir_ + "/" + stem_ + ".log";
}

std::string ServerProcess::log_tail() const {
  const std::uintmax_t size = file_size_or_zero(log_path());
  return read_from(log_path(), size > kLogTailBytes ? size - kLogTailBytes : 0);
}

void ServerProcess::fail(const std::string& what) const {
  throw std::runtime_error(owner_ + ": " + what);
}

void ServerProcess::spawn(const ServerLaunch& launch) {
  std::vector<std::string> args = launch.args;
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  // Early startup errors go to stderr before a server opens its own logfile: both go to the log.
  Fd log(::open(log_path().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!log.is_open()) fail(errno_text("open " + log_path()));
  Fd dev_null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!dev_null.is_open()) fail(errno_text("open /dev/null"));
  // The child writes execv's errno here; the write end closes on a successful exec.
  int exec_pipe[2];
  if (::pipe2(exec_pipe, O_CLOEXEC) != 0) fail(errno_text("pipe2"));
  Fd exec_read(exec_pipe[0]);
  Fd exec_write(exec_pipe[1]);

  const bool own_group = launch.group == ProcessGroup::own;
  const pid_t parent = ::getpid();
  const pid_t child = ::fork();
  if (child < 0) fail(errno_text("fork"));
  if (child == 0) {
    if (own_group) ::setpgid(0, 0);
    // PDEATHSIG: if the test binary dies without unwinding (abort, SIGKILL), so does the server.
    // It fires when the forking *thread* exits, so a server must not outlive its creator.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(kExecFailedStatus);
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::dup2(dev_null.get(), STDIN_FILENO);
    ::dup2(log.get(), STDOUT_FILENO);
    ::dup2(log.get(), STDERR_FILENO);
    // Keep the test binary's sockets out of the server; best effort, hence no check.
    ::close_range(STDERR_FILENO + 1, ~0U, CLOSE_RANGE_CLOEXEC);
    ::execv(argv[0], argv.data());
    const int err = errno;
    [[maybe_unused]] const ssize_t n = ::write(exec_write.get(), &err, sizeof err);
    ::_exit(kExecFailedStatus);
  }
  pid_ = child;
  // Both sides set the group, so it is in place once either returns, whichever runs first. The
  // parent's call fails (EACCES) if the child has exec'd already, having set it itself.
  if (own_group) ::setpgid(child, child);
  exec_write = Fd();
  int exec_errno = 0;
  ssize_t n;
  do {
    n = ::read(exec_read.get(), &exec_errno, sizeof exec_errno);
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof exec_errno)) {
    kill();
    fail(errno_text("execv " + launch.args[0], exec_errno));
  }
}

ServerProcess::StartOutcome ServerProcess::start(const ServerLaunch& launch) {
  // Only this attempt's log lines decide whether the port was lost.
  const std::uintmax_t log_offset = file_size_or_zero(log_path());
  spawn(launch);
  const std::string where = launch.name + " (pid " + std::to_string(pid_) + ", dir " + dir_ + ")";
  const auto deadline = Clock::now() + kReadyTimeout;
  for (;;) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      if (read_from(log_path(), log_offset).find("Address already in use") != std::string::npos)
        return StartOutcome::port_taken;
      fail(where + " exited (" + describe_status(status) + ") before answering " +
           launch.probe_request + "; log tail:\n" + log_tail());
    }
    std::expected<void, std::string> probed;
    try {
      probed = launch.probe();
    } catch (const std::runtime_error& e) {
      probed = std::unexpected(std::string(e.what()));
    }
    if (probed) return StartOutcome::ready;
    if (Clock::now() >= deadline) {
      kill();
      fail(where + " did not answer " + launch.probe_request + " within " +
           std::to_string(std::chrono::milliseconds(kReadyTimeout).count()) +
           " ms; last probe: " + probed.error() + "; log tail:\n" + log_tail());
    }
    std::this_thread::sleep_for(kPollInterval);
  }
}

void ServerProcess::pause() {
  if (pid_ <= 0) fail("pause: the server is not running");
  if (::kill(pid_, SIGSTOP) != 0) fail(errno_text("kill(SIGSTOP)"));
  wait_for_state([](char state) { return state == 'T'; }, "stopped (SIGSTOP)");
}

void ServerProcess::resume() {
  if (pid_ <= 0) fail("resume: the server is not running");
  if (::kill(pid_, SIGCONT) != 0) fail(errno_text("kill(SIGCONT)"));
  wait_for_state([](char state) { return state != 'T'; }, "running again (SIGCONT)");
}

void ServerProcess::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

void ServerProcess::wait_for_state(bool (*pred)(char state), const std::string& why) const {
  const auto deadline = Clock::now() + kSignalTimeout;
  char state = process_state(pid_);
  while (!pred(state)) {
    if (Clock::now() >= deadline)
      fail("pid " + std::to_string(pid_) + " not " + why + " after " +
           std::to_string(std::chrono::milliseconds(kSignalTimeout).count()) +
           " ms; /proc state '" + std::string(1, state) + "'");
    std::this_thread::sleep_for(kPollInterval);
    state = process_state(pid_);
  }
}

}  // namespace test
