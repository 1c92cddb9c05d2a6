#include "adapters/memcached/memcached_config.hpp"

#include <sys/un.h>

#include <algorithm>
#include <charconv>
#include <string_view>

#include "adapters/memcached/memcached_key.hpp"

namespace tiercache::memcached {
namespace {

// Longest unix socket path: sockaddr_un.sun_path less its terminating NUL.
constexpr std::size_t kMaxSocketPathBytes = sizeof(sockaddr_un{}.sun_path) - 1;

Result<std::uint16_t> parse_port(std::string_view text, std::size_t index,
                                 std::string_view server) {
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc{} || end != text.data() + text.size() || value == 0 ||
      value > 65535)
    return fail(errc::invalid_argument, "MemcachedOptions.servers[", index, "] is \"", server,
                "\": the port must be a number in [1, 65535]");
  return static_cast<std::uint16_t>(value);
}

Result<ServerAddress> parse_server(std::string_view server, std::size_t index) {
  if (server.empty())
    return fail(errc::invalid_argument, "MemcachedOptions.servers[", index,
                "] is empty; must be \"host:port\", \"host\" or a unix socket path");
  if (server.front() == '/') {
    if (server.size() > kMaxSocketPathBytes)
      return fail(errc::invalid_argument, "MemcachedOptions.servers[", index, "] is a path of ",
                  server.size(), " bytes; a unix socket path is at most ", kMaxSocketPathBytes);
    return ServerAddress{std::string(server), 0, true};
  }
  std::string_view host = server;
  std::string_view port;
  if (server.front() == '[') {
    const std::size_t close = server.find(']');
    if (close == std::string_view::npos || close == 1)
      return fail(errc::invalid_argument, "MemcachedOptions.servers[", index, "] is \"", server,
                  "\": an IPv6 address goes in brackets, \"[::1]:11211\"");
    host = server.substr(1, close - 1);
    const std::string_view rest = server.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':')
        return fail(errc::invalid_argument, "MemcachedOptions.servers[", index, "] is \"", server,
                    "\": only \":port\" may follow \"]\"");
      port = rest.substr(1);
      if (port.empty()) port = "x";  // "[::1]:" names no port: refused below
    }
  } else {
    const std::size_t colon = server.find(':');
    if (colon != std::string_view::npos) {
      if (server.find(':', colon + 1) != std::string_view::npos)
        return fail(errc::invalid_argument, "MemcachedOptions.servers[", index, "] is \"", server,
                    "\": an IPv6 address goes in brackets, \"[::1]:11211\"");
      host = server.substr(0, colon);
      port = server.substr(colon + 1);
      if (port.empty()) port = "x";
    }
  }
  const bool host_ok = !host.empty() && std::all_of(host.begin(), host.end(), [](char c) {
    return is_key_byte(static_cast<unsigned char>(c)) && c != '/';
  });
  if (!host_ok)
    return fail(errc::invalid_argument, "MemcachedOptions.servers[", index, "] is \"", server,
                "\": the host is empty or holds a space, a control byte or '/'");
  ServerAddress out{std::string(host), kDefaultPort, false};
  if (!port.empty()) {
    Result<std::uint16_t> p = parse_port(port, index, server);
    if (!p) return std::unexpected(std::move(p.error()));
    out.port = *p;
  }
  return out;
}

Result<void> check_timeout(std::string_view field, std::chrono::milliseconds value) {
  if (value.count() <= 0 || value > kMaxTimeout)
    return fail(errc::invalid_argument, "MemcachedOptions.", field, " is ", value.count(),
                "ms; must be in [1, ", kMaxTimeout.count(), "]");
  return {};
}

}  // namespace

std::string ServerAddress::name() const {
  if (unix_socket) return host;
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

Result<Config> check_options(const MemcachedOptions& options) {
  Config config{};
  if (options.servers.empty())
    return fail(errc::invalid_argument,
                "MemcachedOptions.servers is empty; name at least one server");
  for (std::size_t i = 0; i < options.servers.size(); ++i) {
    Result<ServerAddress> address = parse_server(options.servers[i], i);
    if (!address) return std::unexpected(std::move(address.error()));
    for (std::size_t j = 0; j < config.servers.size(); ++j)
      if (config.servers[j].name() == address->name())
        return fail(errc::invalid_argument, "MemcachedOptions.servers[", i, "] (\"",
                    options.servers[i], "\") names the same server as servers[", j, "]");
    config.servers.push_back(std::move(*address));
  }
  const std::string& prefix = options.key_prefix;
  if (prefix.size() > kMaxMemcachedKeyPrefixBytes)
    return fail(errc::invalid_argument, "MemcachedOptions.key_prefix is ", prefix.size(),
                " bytes; at most ", kMaxMemcachedKeyPrefixBytes);
  if (!std::all_of(prefix.begin(), prefix.end(),
                   [](char c) { return is_key_byte(static_cast<unsigned char>(c)); }))
    return fail(errc::invalid_argument,
                "MemcachedOptions.key_prefix holds a space, a control byte or 0x7f, which "
                "memcached keys cannot");
  config.key_prefix = prefix;
  for (const auto& [field, value] : {std::pair<std::string_view, std::chrono::milliseconds>{
                                         "connect_timeout", options.connect_timeout},
                                     {"command_timeout", options.command_timeout},
                                     {"reconnect_backoff_min", options.reconnect_backoff_min},
                                     {"reconnect_backoff_max", options.reconnect_backoff_max}})
    if (auto bad = check_timeout(field, value); !bad)
      return std::unexpected(std::move(bad.error()));
  if (options.reconnect_backoff_min > options.reconnect_backoff_max)
    return fail(errc::invalid_argument, "MemcachedOptions.reconnect_backoff_min (",
                options.reconnect_backoff_min.count(), "ms) is over reconnect_backoff_max (",
                options.reconnect_backoff_max.count(), "ms)");
  if (options.max_value_bytes == 0)
    return fail(errc::invalid_argument, "MemcachedOptions.max_value_bytes is 0; must be > 0");
  config.connect_timeout = options.connect_timeout;
  config.command_timeout = options.command_timeout;
  config.backoff_min = options.reconnect_backoff_min;
  config.backoff_max = options.reconnect_backoff_max;
  config.max_value_bytes = options.max_value_bytes;
  return config;
}

}  // namespace tiercache::memcached
