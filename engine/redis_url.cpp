#include "engine/redis_url.hpp"

#include <charconv>

#include "engine/fail.hpp"

namespace tiercache::engine {
namespace {

constexpr std::string_view kScheme = "redis://";

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
    // Never echo a password: quote only what follows the '@', if there is one.
    const std::size_t at = url.rfind('@');
    const std::string shown = at == std::string_view::npos
                                  ? std::string(url)
                                  : "redis://***@" + std::string(url.substr(at + 1));
    return fail(errc::invalid_argument, "Options.redis.url \"", shown, "\": ", why);
  };
  if (!url.starts_with(kScheme)) return bad("must start with redis://");
  std::string_view rest = url.substr(kScheme.size());
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
  if (const std::size_t slash = rest.find('/'); slash != std::string_view::npos) {
    if (!parse_int(rest.substr(slash + 1), 0, 1 << 20, out.db))
      return bad("the database after '/' must be a number >= 0");
    rest = rest.substr(0, slash);
  }
  if (const std::size_t colon = rest.rfind(':'); colon != std::string_view::npos) {
    if (!parse_int(rest.substr(colon + 1), 1, 65535, out.port))
      return bad("the port must be a number in [1, 65535]");
    rest = rest.substr(0, colon);
  }
  if (rest.empty()) return bad("the host is empty");
  out.host = rest;
  return out;
}

}  // namespace tiercache::engine
