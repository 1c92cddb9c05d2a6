#include "adapters/redis/endpoint.hpp"

#include <algorithm>
#include <utility>

#include "adapters/redis/redis_url.hpp"

namespace tiercache::redis {

std::string Endpoint::address() const {
  if (!unix_socket.empty()) return unix_socket;
  if (host.find(':') != std::string::npos) return "[" + host + "]:" + std::to_string(port);
  return host + ":" + std::to_string(port);
}

Result<Endpoint> make_endpoint(const RedisOptions& r) {
  Endpoint e;
  e.host = r.host;
  e.port = r.port;
  e.unix_socket = r.unix_socket;
  e.user = r.user;
  e.password = r.password;
  e.db = r.db;
  if (!r.url.empty()) {
    if (!r.host.empty() || !r.unix_socket.empty() || !r.user.empty() || !r.password.empty() ||
        r.port != RedisOptions{}.port || r.db != 0)
      return fail(errc::invalid_argument,
                  "Options.redis.url is set; host, port, unix_socket, user, password and db "
                  "must then stay at their defaults");
    Result<RedisUrl> parsed = parse_redis_url(r.url);
    if (!parsed) return std::unexpected(std::move(parsed.error()));
    e.host = std::move(parsed->host);
    e.port = parsed->port;
    e.unix_socket = std::move(parsed->unix_socket);
    e.user = std::move(parsed->user);
    e.password = std::move(parsed->password);
    e.db = parsed->db;
  }
  // No host name holds these: a typo, refused here rather than found by a failing connect (as
  // MemcachedOptions.servers are). Not echoed: a control byte would reach the caller's log.
  if (!std::all_of(e.host.begin(), e.host.end(), [](char c) {
        return static_cast<unsigned char>(c) > ' ' && c != 0x7f && c != '/';
      }))
    return fail(errc::invalid_argument, r.url.empty() ? "Options.redis.host" : "Options.redis.url",
                ": the host holds a space, a control byte or '/'");
  if (!e.host.empty() && !e.unix_socket.empty())
    return fail(errc::invalid_argument,
                "Options.redis.host and Options.redis.unix_socket are both set; pick one");
  if (e.port < 1 || e.port > 65535)
    return fail(errc::invalid_argument, "Options.redis.port is ", e.port,
                "; must be in [1, 65535]");
  if (e.db < 0) return fail(errc::invalid_argument, "Options.redis.db is ", e.db, "; must be >= 0");
  if (!e.user.empty() && e.password.empty())
    return fail(errc::invalid_argument, "Options.redis.user is set without a password");
  // Each is added to a steady_clock::now() in nanoseconds (a deadline, the next PING, the next
  // reconnect; the backoff is doubled first), which a far larger one overflows into the past.
  const std::pair<const char*, std::chrono::milliseconds> durations[] = {
      {"connect_timeout", r.connect_timeout},
      {"command_timeout", r.command_timeout},
      {"reconnect_backoff_min", r.reconnect_backoff_min},
      {"reconnect_backoff_max", r.reconnect_backoff_max},
      {"health_check_interval", r.health_check_interval},
      {"invalidation_heartbeat", r.invalidation_heartbeat}};
  for (const auto& [name, value] : durations)
    if (value.count() <= 0 || value > kMaxOptionDuration)
      return fail(errc::invalid_argument, "Options.redis.", name, " is ", value.count(),
                  "ms; must be in [1, ", kMaxOptionDuration.count(), "]");
  if (r.invalidation != InvalidationMode::off && r.invalidation != InvalidationMode::bcast &&
      r.invalidation != InvalidationMode::tracked)
    return fail(errc::invalid_argument, "Options.redis.invalidation is ",
                static_cast<int>(r.invalidation), "; must be off, bcast or tracked");
  if (r.reconnect_backoff_max < r.reconnect_backoff_min)
    return fail(errc::invalid_argument, "Options.redis.reconnect_backoff_max (",
                r.reconnect_backoff_max.count(), "ms) is below reconnect_backoff_min (",
                r.reconnect_backoff_min.count(), "ms)");
  e.connect_timeout = r.connect_timeout;
  e.command_timeout = r.command_timeout;
  e.backoff_min = r.reconnect_backoff_min;
  e.backoff_max = r.reconnect_backoff_max;
  e.health_check_interval = r.health_check_interval;
  e.invalidation_heartbeat = r.invalidation_heartbeat;
  return e;
}

Result<std::vector<Endpoint>> make_cluster_endpoints(const RedisOptions& r) {
  if (!r.url.empty() || !r.host.empty() || !r.unix_socket.empty() || r.db != 0)
    return fail(errc::invalid_argument,
                "Options.redis.cluster_nodes is set; url, host, unix_socket and db must then stay "
                "at their defaults (a cluster has database 0 only)");
  std::vector<Endpoint> seeds;
  for (const std::string& seed : r.cluster_nodes) {
    RedisOptions one = r;
    one.cluster_nodes.clear();
    // A bare "host:port" is read as the URL it abbreviates.
    one.url = seed.find("://") == std::string::npos ? "redis://" + seed : seed;
    if (seed.empty() || !one.url.starts_with("redis://"))
      return fail(errc::invalid_argument, "Options.redis.cluster_nodes: \"", redacted_url(seed),
                  "\" is not host:port or a redis:// URL");
    const bool credentials_in_url = one.url.find('@') != std::string::npos;
    if (credentials_in_url && (!r.user.empty() || !r.password.empty()))
      return fail(errc::invalid_argument, "Options.redis.cluster_nodes: \"", redacted_url(seed),
                  "\" carries credentials and so do Options.redis.user/password; pick one place");
    if (!credentials_in_url) one.user.clear(), one.password.clear();
    Result<Endpoint> e = make_endpoint(one);
    if (!e) return fail(errc::invalid_argument, "Options.redis.cluster_nodes: ", e.error().detail);
    if (!credentials_in_url) e->user = r.user, e->password = r.password;
    if (e->db != 0)
      return fail(errc::invalid_argument, "Options.redis.cluster_nodes: \"", redacted_url(seed),
                  "\" names database ", e->db, "; a cluster has database 0 only");
    if (!seeds.empty() && (seeds.front().user != e->user || seeds.front().password != e->password))
      return fail(errc::invalid_argument,
                  "Options.redis.cluster_nodes: the seeds carry different credentials; every node "
                  "of a cluster takes the same");
    seeds.push_back(std::move(*e));
  }
  if (seeds.empty()) return fail(errc::invalid_argument, "Options.redis.cluster_nodes is empty");
  return seeds;
}

}  // namespace tiercache::redis
