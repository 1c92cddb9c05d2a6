// tests/support/memcached_server.cpp — what test::MemcachedServer adds to test::ServerProcess:
// the memcached command line, `version` for readiness and the text protocol over plain POSIX
// sockets, as redis_server.cpp does for redis-server.
#include "tests/support/memcached_server.hpp"

#include <unistd.h>

#include <chrono>
#include <expected>
#include <sstream>
#include <stdexcept>
#include <string_view>
#include <utility>

#include "tests/support/socket.hpp"

namespace test {
namespace {

using namespace std::chrono_literals;

// The installed binary; tests need a real server, never a stand-in.
constexpr const char* kMemcachedPath = "/usr/bin/memcached";
// Fresh ports the constructor tries when memcached loses its port to another process.
constexpr int kStartAttempts = 3;
// Bound on one readiness probe, so a wedged probe cannot eat ServerProcess's whole ready timeout.
constexpr auto kProbeTimeout = 500ms;
// Bound on each connect, send and receive of command(). A paused server trips it.
constexpr auto kCommandTimeout = 5s;

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error("test::MemcachedServer: " + what);
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
  if (auto sent = send_all(*sock, raw); !sent) fail(sent.error());
  std::string buf;
  std::size_t end = std::string::npos;
  while ((end = reply_end(buf)) == std::string::npos)
    if (auto got = receive_more(*sock, buf); !got) fail(got.error());
  buf.resize(end);
  return buf;
}

}  // namespace

MemcachedServer::MemcachedServer(std::vector<std::string> extra_args)
    : extra_args_(std::move(extra_args)), process_("test::MemcachedServer", "memcached") {
  for (int attempt = 1;; ++attempt) {
    const auto port = pick_free_port();
    if (!port) fail(port.error());
    port_ = *port;
    if (start_on_port() == StartOutcome::ready) return;
    if (attempt == kStartAttempts)
      fail("another process took each of " + std::to_string(kStartAttempts) +
           " free ports first; log tail:\n" + process_.log_tail());
  }
}

MemcachedServer::~MemcachedServer() = default;

std::string MemcachedServer::address() const {
  return "127.0.0.1:" + std::to_string(port_);
}

MemcachedServer::StartOutcome MemcachedServer::start_on_port() {
  const std::string port_text = std::to_string(port_);
  std::vector<std::string> args = {kMemcachedPath, "-l", "127.0.0.1", "-p", port_text, "-U", "0",
                                   "-m",           "64", "-t",        "2"};
  // memcached refuses to run as root unless told which user to be.
  if (::geteuid() == 0) args.insert(args.end(), {"-u", "root"});
  args.insert(args.end(), extra_args_.begin(), extra_args_.end());
  const ServerLaunch launch{.args = std::move(args),
                            .name = "memcached on port " + port_text,
                            .probe_request = "`version`",
                            .probe = [this]() -> std::expected<void, std::string> {
                              std::string reply = round_trip(port_, "version\r\n", kProbeTimeout);
                              if (reply.starts_with("VERSION ")) return {};
                              return std::unexpected(std::move(reply));
                            }};
  if (process_.start(launch) == StartOutcome::port_taken) return StartOutcome::port_taken;
  // An answer proves only that *a* server holds the port; make sure it is ours.
  if (stat("pid") != process_.pid()) {
    process_.kill();
    return StartOutcome::port_taken;
  }
  return StartOutcome::ready;
}

void MemcachedServer::pause() {
  process_.pause();
}

void MemcachedServer::resume() {
  process_.resume();
}

void MemcachedServer::kill() {
  process_.kill();
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
