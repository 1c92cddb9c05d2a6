// tests/support/redis_server.cpp — spawns and supervises one redis-server per test with plain
// POSIX calls (fork/execv, sockets, /proc). Never talks hiredis: the fixture must stay usable to
// test the code that does. Every wait is a bounded poll that throws with the log tail on expiry.
#include "tests/support/redis_server.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
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
#include <cstring>
#include <expected>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <utility>

#include "tests/support/socket.hpp"

namespace test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// The installed binary; tests need a real server, never a stand-in.
constexpr const char* kRedisServerPath = "/usr/bin/redis-server";
// Loopback address the server binds and every connection uses.
constexpr const char* kLoopback = "127.0.0.1";
// How long redis-server may take to answer its first PING (usually ~10 ms; slack for sanitizers).
constexpr auto kReadyTimeout = 10s;
// Fresh ports the constructor tries when redis-server loses its port to another process.
constexpr int kStartAttempts = 3;
// Gap between polls of a process or port state; only ever slept inside a bounded loop.
constexpr auto kPollInterval = 5ms;
// Bound on one readiness probe, so a wedged probe cannot eat the whole kReadyTimeout.
constexpr auto kProbeTimeout = 500ms;
// Bound on each connect, send and receive of command(). A paused server trips it.
constexpr auto kCommandTimeout = 5s;
// Bound on pause()/resume() seeing the process state change in /proc.
constexpr auto kSignalTimeout = 5s;
// Bytes of redis.log quoted in a failure message.
constexpr std::size_t kLogTailBytes = 2000;
// Exit status of a child whose execv failed (the shell's "command not executable").
constexpr int kExecFailedStatus = 127;

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error("test::RedisServer: " + what);
}

// Printable form of reply bytes for error messages: CR, LF and non-ASCII escaped.
std::string escaped(std::string_view bytes) {
  std::string out;
  for (const unsigned char c : bytes) {
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c >= 0x7f) {
      char hex[5];
      std::snprintf(hex, sizeof hex, "\\x%02x", c);
      out += hex;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// As util.tcl's find_available_port: let the kernel pick by binding port 0, then release it.
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

// A blocking TCP connection to 127.0.0.1:port whose connect, sends and receives each give up
// after `limit` (Linux applies SO_SNDTIMEO to connect too).
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

void send_all(const Fd& sock, std::string_view bytes) {
  while (!bytes.empty()) {
    // MSG_NOSIGNAL: a server killed mid-test must fail the call, not SIGPIPE the test binary.
    const ssize_t n = ::send(sock.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) fail(errno_text("send"));
    bytes.remove_prefix(static_cast<std::size_t>(n));
  }
}

// RESP multi-bulk: binary-safe, unlike inline commands.
std::string encode_command(const std::vector<std::string>& args) {
  std::string out = "*" + std::to_string(args.size()) + "\r\n";
  for (const auto& arg : args) {
    out += "$" + std::to_string(arg.size()) + "\r\n";
    out += arg;
    out += "\r\n";
  }
  return out;
}

long long parse_length(std::string_view line) {
  long long value = 0;
  const auto [end, ec] = std::from_chars(line.data(), line.data() + line.size(), value);
  if (ec != std::errc{} || end != line.data() + line.size())
    fail("malformed reply: bad length \"" + escaped(line) + "\"");
  return value;
}

// Where the RESP2 reply starting at `pos` ends, or npos while more bytes are needed.
std::size_t reply_end(std::string_view buf, std::size_t pos) {
  if (pos >= buf.size()) return std::string_view::npos;
  const std::size_t eol = buf.find("\r\n", pos);
  if (eol == std::string_view::npos) return std::string_view::npos;
  const std::string_view header = buf.substr(pos + 1, eol - pos - 1);
  switch (buf[pos]) {
    case '+':
    case '-':
    case ':':
      return eol + 2;
    case '$': {
      const long long len = parse_length(header);
      if (len < 0) return eol + 2;
      const std::size_t end = eol + 2 + static_cast<std::size_t>(len) + 2;
      return end <= buf.size() ? end : std::string_view::npos;
    }
    case '*': {
      const long long count = parse_length(header);
      std::size_t next = eol + 2;
      for (long long i = 0; i < count; ++i) {
        next = reply_end(buf, next);
        if (next == std::string_view::npos) return next;
      }
      return next;
    }
    default:
      fail("malformed reply: unexpected type byte '" + escaped(buf.substr(pos, 1)) + "'");
  }
}

// Reads one whole reply (buffering any bytes past it in `buf`) and renders it as command() says.
std::string read_reply(const Fd& sock, std::string& buf) {
  std::size_t end = reply_end(buf, 0);
  while (end == std::string_view::npos) {
    char chunk[4096];
    const ssize_t n = ::recv(sock.get(), chunk, sizeof chunk, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
      fail("no complete reply in time (is the server paused?); got \"" + escaped(buf) + "\"");
    if (n < 0) fail(errno_text("recv"));
    if (n == 0) fail("connection closed mid-reply; got \"" + escaped(buf) + "\"");
    buf.append(chunk, static_cast<std::size_t>(n));
    end = reply_end(buf, 0);
  }
  std::string reply;
  const std::size_t eol = buf.find("\r\n");
  switch (buf[0]) {
    case '+':
    case '-':
    case ':':
      reply = buf.substr(0, eol);
      break;
    case '$':
      reply = parse_length(std::string_view(buf).substr(1, eol - 1)) < 0
                  ? "(nil)"
                  : buf.substr(eol + 2, end - eol - 4);
      break;
    default:
      reply = buf.substr(0, end);
  }
  buf.erase(0, end);
  return reply;
}

// Sends AUTH (if any) and `args` on one connection; returns the reply to `args`.
std::string round_trip(std::uint16_t port, const std::string& requirepass,
                       const std::vector<std::string>& args, std::chrono::milliseconds limit) {
  auto sock = connect_loopback(port, limit);
  if (!sock) fail(sock.error());
  std::string request = requirepass.empty() ? "" : encode_command({"AUTH", requirepass});
  request += encode_command(args);
  send_all(*sock, request);
  std::string buf;
  if (!requirepass.empty()) {
    const std::string auth = read_reply(*sock, buf);
    if (auth != "+OK") fail("AUTH refused: " + auth);
  }
  return read_reply(*sock, buf);
}

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

template <class Pred>
void wait_for_state(pid_t pid, Pred pred, const std::string& why) {
  const auto deadline = Clock::now() + kSignalTimeout;
  char state = process_state(pid);
  while (!pred(state)) {
    if (Clock::now() >= deadline)
      fail("pid " + std::to_string(pid) + " not " + why + " after " +
           std::to_string(std::chrono::milliseconds(kSignalTimeout).count()) +
           " ms; /proc state '" + std::string(1, state) + "'");
    std::this_thread::sleep_for(kPollInterval);
    state = process_state(pid);
  }
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

RedisServer::RedisServer(Options options) : options_(std::move(options)) {
  char dir_template[] = "/tmp/tiercache-redis-XXXXXX";
  if (::mkdtemp(dir_template) == nullptr) fail(errno_text("mkdtemp /tmp/tiercache-redis-XXXXXX"));
  dir_ = dir_template;
  try {
    for (int attempt = 1;; ++attempt) {
      port_ = pick_free_port();
      if (start_on_port() == StartOutcome::ready) return;
      if (attempt == kStartAttempts)
        fail("another process took each of " + std::to_string(kStartAttempts) +
             " free ports before redis-server could bind; last port " + std::to_string(port_) +
             "; log tail:\n" + log_tail());
    }
  } catch (...) {
    // The destructor does not run for a throwing constructor: clean up here, then propagate.
    kill();
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
    throw;
  }
}

RedisServer::~RedisServer() {
  kill();
  std::error_code ec;
  std::filesystem::remove_all(dir_, ec);
  if (ec)
    std::fprintf(stderr, "test::RedisServer: could not remove %s: %s\n", dir_.c_str(),
                 ec.message().c_str());
}

std::string RedisServer::unix_socket_path() const {
  return options_.unix_socket ? dir_ + "/redis.sock" : std::string();
}

std::string RedisServer::url() const {
  return "redis://" + host() + ":" + std::to_string(port_) + "/0";
}

std::string RedisServer::log_path() const {
  return dir_ + "/redis.log";
}

std::string RedisServer::log_tail() const {
  const std::uintmax_t size = file_size_or_zero(log_path());
  return read_from(log_path(), size > kLogTailBytes ? size - kLogTailBytes : 0);
}

RedisServer::StartOutcome RedisServer::start_on_port() {
  const std::string port_text = std::to_string(port_);
  std::vector<std::string> args = {
      kRedisServerPath, "--port", port_text,     "--bind", kLoopback, "--save", "",
      "--appendonly",   "no",     "--daemonize", "no",     "--dir",   dir_,     "--logfile",
      log_path()};
  if (options_.unix_socket)
    args.insert(args.end(), {"--unixsocket", unix_socket_path(), "--unixsocketperm", "700"});
  if (!options_.requirepass.empty())
    args.insert(args.end(), {"--requirepass", options_.requirepass});
  args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);

  // Only this attempt's log lines decide whether the port was lost.
  const std::uintmax_t log_offset = file_size_or_zero(log_path());
  // Early startup errors go to stderr before redis opens its logfile: send both to redis.log.
  Fd log(::open(log_path().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!log.is_open()) fail(errno_text("open " + log_path()));
  Fd dev_null(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  if (!dev_null.is_open()) fail(errno_text("open /dev/null"));
  // The child writes execv's errno here; the write end closes on a successful exec.
  int exec_pipe[2];
  if (::pipe2(exec_pipe, O_CLOEXEC) != 0) fail(errno_text("pipe2"));
  Fd exec_read(exec_pipe[0]);
  Fd exec_write(exec_pipe[1]);

  const bool own_process_group = options_.own_process_group;
  const pid_t parent = ::getpid();
  const pid_t child = ::fork();
  if (child < 0) fail(errno_text("fork"));
  if (child == 0) {
    // Async-signal-safe calls only until execv: the test binary may have other threads.
    if (own_process_group) ::setpgid(0, 0);
    // PDEATHSIG: if the test binary dies without unwinding (abort, SIGKILL), so does the server.
    // It fires when the forking *thread* exits, so a RedisServer must not outlive its creator.
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) ::_exit(kExecFailedStatus);
    sigset_t none;
    ::sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::dup2(dev_null.get(), STDIN_FILENO);
    ::dup2(log.get(), STDOUT_FILENO);
    ::dup2(log.get(), STDERR_FILENO);
    // Keep the test binary's sockets out of redis-server; best effort, hence no check.
    ::close_range(STDERR_FILENO + 1, ~0U, CLOSE_RANGE_CLOEXEC);
    ::execv(kRedisServerPath, argv.data());
    const int err = errno;
    [[maybe_unused]] const ssize_t n = ::write(exec_write.get(), &err, sizeof err);
    ::_exit(kExecFailedStatus);
  }
  pid_ = child;
  // Both sides set the group, so it is in place once either returns, whichever runs first. The
  // parent's call fails (EACCES) if the child has exec'd already, having set it itself.
  if (own_process_group) ::setpgid(child, child);
  exec_write = Fd();
  int exec_errno = 0;
  ssize_t n;
  do {
    n = ::read(exec_read.get(), &exec_errno, sizeof exec_errno);
  } while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof exec_errno)) {
    kill();
    fail(errno_text(std::string("execv ") + kRedisServerPath, exec_errno));
  }

  const std::string where =
      "redis-server (pid " + std::to_string(pid_) + ", port " + port_text + ", dir " + dir_ + ")";
  const auto deadline = Clock::now() + kReadyTimeout;
  std::string last_probe = "no probe yet";
  for (;;) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      if (read_from(log_path(), log_offset).find("Address already in use") != std::string::npos)
        return StartOutcome::port_taken;
      fail(where + " exited (" + describe_status(status) + ") before answering PING; log tail:\n" +
           log_tail());
    }
    try {
      last_probe = round_trip(port_, options_.requirepass, {"PING"}, kProbeTimeout);
    } catch (const std::runtime_error& e) {
      last_probe = e.what();
    }
    if (last_probe == "+PONG") break;
    if (Clock::now() >= deadline) {
      kill();
      fail(where + " did not answer PING within " +
           std::to_string(std::chrono::milliseconds(kReadyTimeout).count()) +
           " ms; last probe: " + last_probe + "; log tail:\n" + log_tail());
    }
    std::this_thread::sleep_for(kPollInterval);
  }

  // A PONG proves only that *a* server holds the port; make sure it is ours.
  const std::string info = command({"INFO", "server"});
  if (info.find("process_id:" + std::to_string(pid_) + "\r\n") == std::string::npos) {
    kill();
    return StartOutcome::port_taken;
  }
  return StartOutcome::ready;
}

void RedisServer::pause() {
  if (pid_ <= 0) fail("pause: the server is not running");
  if (::kill(pid_, SIGSTOP) != 0) fail(errno_text("kill(SIGSTOP)"));
  wait_for_state(
      pid_, [](char state) { return state == 'T'; }, "stopped (SIGSTOP)");
}

void RedisServer::resume() {
  if (pid_ <= 0) fail("resume: the server is not running");
  if (::kill(pid_, SIGCONT) != 0) fail(errno_text("kill(SIGCONT)"));
  wait_for_state(
      pid_, [](char state) { return state != 'T'; }, "running again (SIGCONT)");
}

void RedisServer::kill() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
  }
  pid_ = -1;
}

void RedisServer::restart() {
  kill();
  if (start_on_port() == StartOutcome::port_taken)
    fail("restart: another process now holds port " + std::to_string(port_) + "; log tail:\n" +
         log_tail());
}

std::string RedisServer::command(const std::vector<std::string>& args) const {
  if (args.empty()) fail("command: no arguments");
  try {
    return round_trip(port_, options_.requirepass, args, kCommandTimeout);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error(std::string(e.what()) + " (command " + escaped(args[0]) + " on port " +
                             std::to_string(port_) + ")");
  }
}

long long RedisServer::calls_of(const std::string& name) const {
  const std::string info = command({"INFO", "commandstats"});
  const std::string field = "cmdstat_" + name + ":calls=";
  const std::size_t at = info.find(field);
  if (at == std::string::npos) return 0;
  return std::stoll(info.substr(at + field.size()));
}

std::uint16_t RedisServer::client_port(std::string_view needle) const {
  const std::string list = command({"CLIENT", "LIST"});
  std::size_t begin = 0;
  while (begin < list.size()) {
    std::size_t end = list.find('\n', begin);
    if (end == std::string::npos) end = list.size();
    const std::string_view line(list.data() + begin, end - begin);
    begin = end + 1;
    if (line.find(needle) == std::string_view::npos) continue;
    const std::size_t addr = line.find(" addr=");
    if (addr == std::string_view::npos) continue;
    const std::size_t colon = line.find(':', addr);
    const std::size_t space = line.find(' ', addr + 1);
    if (colon == std::string_view::npos || space == std::string_view::npos || colon > space)
      continue;
    return static_cast<std::uint16_t>(
        std::stoi(std::string(line.substr(colon + 1, space - colon - 1))));
  }
  return 0;
}

}  // namespace test
