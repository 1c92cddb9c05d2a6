// tests/support/redis_server.cpp — what test::RedisServer adds to test::ServerProcess: the
// redis-server command line, a PING for readiness and RESP over plain POSIX sockets. Never talks
// hiredis: the fixture must stay usable to test the code that does.
#include "tests/support/redis_server.hpp"

#include <charconv>
#include <chrono>
#include <cstdio>
#include <expected>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "tests/support/socket.hpp"

namespace test {
namespace {

using namespace std::chrono_literals;

// The installed binary; tests need a real server, never a stand-in.
constexpr const char* kRedisServerPath = "/usr/bin/redis-server";
// Loopback address the server binds and every connection uses.
constexpr const char* kLoopback = "127.0.0.1";
// Fresh ports the constructor tries when redis-server loses its port to another process.
constexpr int kStartAttempts = 3;
// Bound on one readiness probe, so a wedged probe cannot eat ServerProcess's whole ready timeout.
constexpr auto kProbeTimeout = 500ms;
// Bound on each connect, send and receive of command(). A paused server trips it.
constexpr auto kCommandTimeout = 5s;

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
    if (auto got = receive_more(sock, buf); !got)
      fail(got.error() + "; got \"" + escaped(buf) + "\"");
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
  if (auto sent = send_all(*sock, request); !sent) fail(sent.error());
  std::string buf;
  if (!requirepass.empty()) {
    const std::string auth = read_reply(*sock, buf);
    if (auth != "+OK") fail("AUTH refused: " + auth);
  }
  return read_reply(*sock, buf);
}

}  // namespace

RedisServer::RedisServer(Options options)
    : options_(std::move(options)), process_("test::RedisServer", "redis") {
  for (int attempt = 1;; ++attempt) {
    const auto port = pick_free_port();
    if (!port) fail(port.error());
    port_ = *port;
    if (start_on_port() == StartOutcome::ready) return;
    if (attempt == kStartAttempts)
      fail("another process took each of " + std::to_string(kStartAttempts) +
           " free ports before redis-server could bind; last port " + std::to_string(port_) +
           "; log tail:\n" + process_.log_tail());
  }
}

RedisServer::~RedisServer() = default;

std::string RedisServer::unix_socket_path() const {
  return options_.unix_socket ? process_.dir() + "/redis.sock" : std::string();
}

std::string RedisServer::url() const {
  return "redis://" + host() + ":" + std::to_string(port_) + "/0";
}

RedisServer::StartOutcome RedisServer::start_on_port() {
  const std::string port_text = std::to_string(port_);
  std::vector<std::string> args = {
      kRedisServerPath,   "--port", port_text,     "--bind", kLoopback, "--save",       "",
      "--appendonly",     "no",     "--daemonize", "no",     "--dir",   process_.dir(), "--logfile",
      process_.log_path()};
  if (options_.unix_socket)
    args.insert(args.end(), {"--unixsocket", unix_socket_path(), "--unixsocketperm", "700"});
  if (!options_.requirepass.empty())
    args.insert(args.end(), {"--requirepass", options_.requirepass});
  args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
  const ServerLaunch launch{
      .args = std::move(args),
      .group = options_.own_process_group ? ProcessGroup::own : ProcessGroup::inherit,
      .name = "redis-server on port " + port_text,
      .probe_request = "PING",
      .probe = [this]() -> std::expected<void, std::string> {
        std::string reply = round_trip(port_, options_.requirepass, {"PING"}, kProbeTimeout);
        if (reply == "+PONG") return {};
        return std::unexpected(std::move(reply));
      }};
  if (process_.start(launch) == StartOutcome::port_taken) return StartOutcome::port_taken;

  // A PONG proves only that *a* server holds the port; make sure it is ours.
  const std::string info = command({"INFO", "server"});
  if (info.find("process_id:" + std::to_string(process_.pid()) + "\r\n") == std::string::npos) {
    process_.kill();
    return StartOutcome::port_taken;
  }
  return StartOutcome::ready;
}

void RedisServer::pause() {
  process_.pause();
}

void RedisServer::resume() {
  process_.resume();
}

void RedisServer::kill() {
  process_.kill();
}

void RedisServer::restart() {
  kill();
  if (start_on_port() == StartOutcome::port_taken)
    fail("restart: another process now holds port " + std::to_string(port_) + "; log tail:\n" +
         process_.log_tail());
}

void RedisServer::set_requirepass(const std::string& password) {
  const std::string r = command({"CONFIG", "SET", "requirepass", password});
  if (r != "+OK") fail("CONFIG SET requirepass: " + r);
  options_.requirepass = password;
}

void RedisServer::drop_clients() const {
  for (const char* type : {"normal", "pubsub"}) {
    const std::string r = command({"CLIENT", "KILL", "TYPE", type});
    if (r.empty() || r[0] != ':') fail(std::string("CLIENT KILL TYPE ") + type + ": " + r);
  }
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
