// adapters/redis/handshake_refusal.hpp — which refusals of a connection's handshake (AUTH,
// SELECT, or the first command a server that wants a password refuses) come from the options
// themselves: a wrong password or user, a db the server does not have, an ACL that forbids it.
// No retry can change those, so open() reports them rather than starting degraded. Not a
// refusal for now (not_serving.hpp), nor a server at maxclients, which turns any command away.
#pragma once

#include <array>
#include <string_view>

namespace tiercache::redis {

inline bool is_refused_for_good(std::string_view error) {
  constexpr std::array<std::string_view, 3> kPrefixes = {"WRONGPASS", "NOAUTH", "NOPERM"};
  for (const std::string_view prefix : kPrefixes)
    if (error.starts_with(prefix)) return true;
  // Before Redis 6 (no error code), and a password sent to a server that has none. Not
  // protected mode's DENIED ("... no password is set for the default user"): no change to the
  // options gets past it, only one to the server's configuration.
  if (error.starts_with("DENIED")) return false;
  constexpr std::array<std::string_view, 5> kTexts = {
      "invalid password", "Client sent AUTH, but no password is set", "without any password",
      "DB index is out of range", "invalid DB index"};
  for (const std::string_view text : kTexts)
    if (error.find(text) != std::string_view::npos) return true;
  return false;
}

}  // namespace tiercache::redis
