// tests/support/memcached_server.cpp — spawns and supervises one memcached per test with plain
// POSIX calls (fork/execv, sockets, /proc), as redis_server.cpp does for redis-server.
#include "tests/support/memcached_server.hpp"

#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <expected>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <thread>

#include "tests/support/socket.hpp"

namespace test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// The installed binary; tests need a real server, never a stand-in.
constexpr const char* kMemcachedPath = "/usr/bin/memcached";
// How long memcached may take to answer its first `version` (slack for sanitizers).
constexpr auto kReadyTimeout = 10s;
// Fresh ports the constructor tries when memcached loses its port to another process.
constexpr int kStartAttempts = 3;
// Gap between polls of a process or port state; only ever slept inside a bounded loop.
constexpr auto kPollInterval = 5ms;
// Bound on one readiness probe.
constexpr auto kProbeTimeout = 500ms;
// Bound on each connect, send and receive of command(). A paused server trips it.
constexpr auto kCommandTimeout = 5s;
// Bound on pause()/resume() seeing the process state change in /proc.
constexpr auto kSignalTimeout = 5s;
// Bytes of the log quoted in a failure message.
constexpr std::size_t kLogTailBytes = 2000;
// Exit status of a child whose execv failed.
constexpr int kExecFailedStatus = 127;

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error("test::MemcachedServer: " + what);
}

std::uint16_t pick_free_port() {
  Fd sock(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!sock.is_open()) fail(errno_text("socket"));
  sockaddr_in addr = loopback_address(0);
  if (::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    fail(errno_text("bind 127.0.0.1:0"));
  socklen_t len = sizeof addr;
  if (::getsockname(sock.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0)
    fail(errno_text("getsockname"));
  return ntohs(addr.sin_port);
}

std::expected<Fd, std::string> connect_loopback(std::uint16_t port,
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

// Where the reply in `buf` ends, or npos while more bytes are needed: after "END\r\n" for a
// reply of VALUE or STAT lines, else after its one line.
std::size_t reply_end(std::string_view buf) {
  std::size_t pos = 0;
  for (;;) {
    const std::size_t eol = buf.find("\r\n", pos);
    if (eol == std::string_view::npos) return eol;
    const std::string_view line = buf.substr(pos, eol - pos);
    pos = eol + 2;
    if (line.starts_with("STAT ")) continue;
    if (!line.starts_with("VALUE ")) return pos;
    // VALUE <key> <flags> <bytes> [<cas>]
    std::istringstream fields{std::string(line)};
    std::string word, key;
    std::uint32_t flags = 0;
    std::size_t bytes = 0;
    if (!(fields >> word >> key >> flags >> bytes))
      fail("malformed VALUE line: " + std::string(line));
    if (buf.size() < pos + bytes + 2) return std::string_view::npos;
    pos += bytes + 2;
  }
}

std::string round_trip(std::uint16_t port, const std::string& raw,
                       std::chrono::milliseconds limit) {
  auto sock = connect_loopback(port, limit);
  if (!sock) fail(sock.error());
  std::string_view out = raw;
  while (!out.empty()) {
    const ssize_t n = ::send(sock->get(), out.data(), out.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(errno_text("send"));
    out.remove_prefix(static_cast<std::size_t>(n));
  }
  std::string buf;
  std::size_t end = std::string::npos;
  while ((end = reply_end(buf)) == std::string::npos) {
    char chunk[16384];
    const ssize_t n = ::recv(sock->get(), chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      fail("no complete reply in time (is the server paused?)");
    if (n < 0) fail(errno_text("recv"));
    if (n == 0) fail("connection closed mid-reply");
    buf.append(chunk, static_cast<std::size_t>(n));
  }
  buf.resize(end);
  return buf;
}

char process_state(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  std::getline(in, stat);
  const std::size_t close = stat.rfind(')');
  if (close == std::string::npos || close + 2 >= stat.size()) return '?';
  return stat[close + 2];
}

template <class Pred>
void wait_for_state(pid_t pid, Pred pred, const std::string& why) {
  const auto deadline = Clock::now() + kSignalTimeout;
  while (!pred(process_state(pid))) {
    if (Clock::now() >= deadline) fail("pid " + std::to_string(pid) + " not " + why + " in time");
    std::this_thread::sleep_for(kPollInterval);
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

}  // namespace

MemcachedServer::MemcachedServer(std::vector<std::string> extra_args)
    : extra_args_(std::move(extra_args)) {
  char dir_template[] = "/tmp/tiercache-memcached-XXXXXX";
  if (::mkdtemp(dir_template) == nullptr) fail(errno_text("mkdtemp"));
  dir_ = dir_template;
  try {
    for (int attempt = 1;; ++attempt) {
      port_ = pick_free_port();
      if (start_on_port() == StartOutcome::ready) return;
      if (attempt == kStartAttempts)
        fail("another process took each of " + std::to_string(kStartAttempts) +
             " free ports first; log tail:\n" + log_tail());
    }
  } catch (...) {
    kill();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
    throw;
  }
}

MemcachedServer::~MemcachedServer() {
  kill();
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

std::string MemcachedServer::address() const {
  return "127.0.0.1:" + std::to_string(port_);
}

std::string MemcachedServer::log_path() const {
  return dir_ + "/memcached.log";
}

std::string MemcachedServer::log_tail() const {
  const std::string log = read_file(log_path());
  return log.size() > kLogTailBytes ? log.substr(log.size() - kLogTailBytes) : log;
}

MemcachedServer::StartOutcome MemcachedServer::start_on_port() {
  std::vector<std::string> args = {
      kMemcachedPath, "-l", "127.0.0.1", "-p", std::to_string(port_), "-U", "0",
      "-m",           "64", "-t",        "2"};
  // memcached refuses to run as root unless told which user to be.
  if (::geteuid() == 0) args.insert(args.end(), {"-u", "root"});
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  const std::size_t log_offset = read_file(log_path()).size();
  Fd log(::open(log_path().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!log.is_open()) fail(errno_text("open " + log_path()));
  Fd dev_null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!dev_null.is_open()) fail(errno_text("open /dev/null"));
  const pid_t parent = ::getpid();
  const pid_t child = ::fork();
  if (child < 0) fail(errno_text("fork"));
  if (child == 0) {
    // Async-signal-safe calls only until execv. PDEATHSIG: the server dies with the test binary.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(kExecFailedStatus);
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::dup2(dev_null.get(), STDIN_FILENO);
    ::dup2(log.get(), STDOUT_FILENO);
    ::dup2(log.get(), STDERR_FILENO);
    ::close_range(STDERR_FILENO + 1, ~0U, CLOSE_RANGE_CLOEXEC);
    ::execv(kMemcachedPath, argv.data());
    ::_exit(kExecFailedStatus);
  }
  pid_ = child;
  const auto deadline = Clock::now() + kReadyTimeout;
  std::string last_probe = "no probe yet";
  for (;;) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      if (read_file(log_path()).substr(log_offset).find("Address already in use") !=
          std::string::npos)
        return StartOutcome::port_taken;
      fail("memcached exited before answering; log tail:\n" + log_tail());
    }
    try {
      last_probe = round_trip(port_, "version\r\n", kProbeTimeout);
    } catch (const std::runtime_error& e) {
      last_probe = e.what();
    }
    if (last_probe.starts_with("VERSION ")) break;
    if (Clock::now() >= deadline) {
      kill();
      fail("memcached did not answer `version` in time; last probe: " + last_probe +
           "; log tail:\n" + log_tail());
    }
    std::this_thread::sleep_for(kPollInterval);
  }
  // An answer proves only that *a* server holds the port; make sure it is ours.
  if (stat("pid") != pid_) {
    kill();
    return StartOutcome::port_taken;
  }
  return StartOutcome::ready;
}

void MemcachedServer::pause() {
  if (pid_ <= 0) fail("pause: the server is not running");
  if (::kill(pid_, SIGSTOP) != 0) fail(errno_text("kill(SIGSTOP)"));
  wait_for_state(
      pid_, [](char s) { return s == 'T'; }, "stopped (SIGSTOP)");
}

void MemcachedServer::resume() {
  if (pid_ <= 0) fail("resume: the server is not running");
  if (::kill(pid_, SIGCONT) != 0) fail(errno_text("kill(SIGCONT)"));
  wait_for_state(
      pid_, [](char s) { return s != 'T'; }, "running again (SIGCONT)");
}

void MemcachedServer::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

void MemcachedServer::restart() {
  kill();
  if (start_on_port() == StartOutcome::port_taken)
    fail("restart: another process now holds port " + std::to_string(port_));
}

std::string MemcachedServer::command(const std::string& raw) const {
  return round_trip(port_, raw, kCommandTimeout);
}

std::optional<MemcachedServer::Item> MemcachedServer::get(const std::string& key) const {
  const std::string reply = command("get " + key + "\r\n");
  if (reply == "END\r\n") return std::nullopt;
  if (!reply.starts_with("VALUE ")) fail("get " + key + ": " + reply);
  const std::size_t eol = reply.find("\r\n");
  std::istringstream fields(reply.substr(0, eol));
  std::string word, got_key;
  Item item;
  std::size_t bytes = 0;
  fields >> word >> got_key >> item.flags >> bytes;
  item.value = reply.substr(eol + 2, bytes);
  return item;
}

long long MemcachedServer::stat(const std::string& name) const {
  const std::string reply = command("stats\r\n");
  const std::string field = "STAT " + name + " ";
  const std::size_t at = reply.find(field);
  if (at == std::string::npos) fail("stats has no " + name);
  return std::stoll(reply.substr(at + field.size()));
}

}  // namespace test
