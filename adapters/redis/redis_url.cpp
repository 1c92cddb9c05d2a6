#include "adapters/redis/redis_url.hpp"

#include <charconv>

#include "tiercache/options.hpp"

namespace tiercache::redis {
namespace {

constexpr std::string_view kTcpScheme = "redis://";
constexpr std::string_view kUnixScheme = "unix://";
constexpr std::string_view kDbParameter = "db=";
// Highest database number the URL may name; a server's own limit (`databases`) is checked by
// SELECT at connect time.
constexpr int kMaxDb = 1 << 20;

bool parse_int(std::string_view text, int lo, int hi, int& out) {
  int v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size() || v < lo || v > hi) return false;
  out = v;
  return true;
}

}  // namespace

Result<RedisUrl> parse_redis_url(std::string_view url) {
  auto bad = [&](const char* why) {
    return fail(errc::invalid_argument, "Options.redis.url \"", redacted_url(url), "\": ", why);
  };
  const bool is_unix = url.starts_with(kUnixScheme);
  if (!is_unix && !url.starts_with(kTcpScheme)) return bad("must start with redis:// or unix://");
  std::string_view rest = url.substr(is_unix ? kUnixScheme.size() : kTcpScheme.size());
  RedisUrl out;
  if (const std::size_t at = rest.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = rest.substr(0, at);
    rest = rest.substr(at + 1);
    const std::size_t colon = userinfo.find(':');
    if (colon == std::string_view::npos) return bad("user info must be [user]:password");
    out.user = userinfo.substr(0, colon);
    out.password = userinfo.substr(colon + 1);
    if (out.password.empty()) return bad("the password after ':' is empty");
  }
  if (is_unix) {
    if (const std::size_t q = rest.find('?'); q != std::string_view::npos) {
      std::string_view query = rest.substr(q + 1);
      rest = rest.substr(0, q);
      if (!query.starts_with(kDbParameter) ||
          !parse_int(query.substr(kDbParameter.size()), 0, kMaxDb, out.db))
        return bad("the only query parameter is db=N, N >= 0");
    }
    if (!rest.starts_with('/')) return bad("the socket path must be absolute");
    out.unix_socket = rest;
    return out;
  }
  if (const std::size_t slash = rest.find('/'); slash != std::string_view::npos) {
    if (!parse_int(rest.substr(slash + 1), 0, kMaxDb, out.db))
      return bad("the database after '/' must be a number >= 0");
    rest = rest.substr(0, slash);
  }
  std::string_view port;
  if (rest.starts_with('[')) {
    const std::size_t close = rest.find(']');
    if (close == std::string_view::npos) return bad("an IPv6 host needs its closing ']'");
    out.host = rest.substr(1, close - 1);
    std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (!after.starts_with(':')) return bad("only :port may follow an IPv6 host");
      port = after.substr(1);
      if (port.empty()) return bad("the port must be a number in [1, 65535]");
    }
  } else {
    if (const std::size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
      if (rest.find(':') != colon) return bad("an IPv6 host must be in brackets: [::1]:6379");
      port = rest.substr(colon + 1);
      if (port.empty()) return bad("the port must be a number in [1, 65535]");
      rest = rest.substr(0, colon);
    }
    out.host = rest;
  }
  if (!port.empty() && !parse_int(port, 1, 65535, out.port))
    return bad("the port must be a number in [1, 65535]");
  if (out.host.empty()) return bad("the host is empty");
  return out;
}

}  // namespace tiercache::redis
