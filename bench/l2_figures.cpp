#include "bench/l2_figures.hpp"

#include <charconv>
#include <cstdio>
#include <stdexcept>
#include <string_view>

#include "bench/l2_burst.hpp"
#include "bench/l2_cluster.hpp"
#include "bench/l2_coalesce.hpp"
#include "bench/l2_coherence.hpp"
#include "bench/l2_many.hpp"
#include "bench/l2_memcached.hpp"
#include "bench/l2_metrics.hpp"
#include "bench/l2_read.hpp"
#include "bench/l2_write.hpp"

namespace tiercache::bench {
namespace {

// "redis_version:7.0.15" in INFO server.
constexpr std::string_view kVersionField = "redis_version:";

std::string server_version(const test::RedisServer& server) {
  const std::string info = server.command({"INFO", "server"});
  const std::size_t at = info.find(kVersionField);
  if (at == std::string::npos) return "unknown";
  const std::size_t from = at + kVersionField.size();
  return info.substr(from, info.find_first_of("\r\n", from) - from);
}

}  // namespace

std::optional<Cache> open_l2_cache(const test::RedisServer& server, const WriterOptions& writer) {
  auto cache = Cache::open({.redis = {.url = server.url()}, .writer = writer});
  if (!cache) {
    std::fprintf(stderr, "l2: Cache::open: %s\n", cache.error().detail.c_str());
    return std::nullopt;
  }
  return std::move(*cache);
}

bool empty_redis(const test::RedisServer& server) {
  const std::string reply = server.command({"FLUSHALL"});
  if (reply == "+OK") return true;
  std::fprintf(stderr, "l2: FLUSHALL answered %s\n", reply.c_str());
  return false;
}

std::optional<std::size_t> redis_key_count(const test::RedisServer& server) {
  const std::string reply = server.command({"DBSIZE"});
  if (reply.size() > 1 && reply[0] == ':') {
    std::size_t count = 0;
    const char* end = reply.data() + reply.size();
    const auto [stop, ec] = std::from_chars(reply.data() + 1, end, count);
    if (ec == std::errc{} && stop == end) return count;
  }
  std::fprintf(stderr, "l2: DBSIZE answered %s\n", reply.c_str());
  return std::nullopt;
}

std::string numbered_key(const char* prefix, std::size_t n) {
  char key[64];
  std::snprintf(key, sizeof key, "%s:%012zu", prefix, n);
  return key;
}

// Starts the server, prints its line, then runs figures(server); false (said on stderr) if the
// server could not start or stopped answering, or the figures failed.
template <class Figures>
bool with_server(Figures figures) {
  try {
    const test::RedisServer server;
    std::printf("%-20s redis_server=%s port=%u persistence=off value_bytes=%zu\n", "l2_config",
                server_version(server).c_str(), server.port(), kL2ValueBytes);
    return figures(server);
  } catch (const std::runtime_error& e) {
    // The fixture throws when redis-server cannot start or stops answering.
    std::fprintf(stderr, "l2: %s\n", e.what());
    return false;
  }
}

bool run_l2_figures(const BenchSettings& settings) {
  return with_server([&](const test::RedisServer& server) {
    return run_l2_write_figures(server, settings) && run_l2_metrics_figure(server, settings) &&
           run_l2_burst_figure(server, settings.size) &&
           run_l2_read_figures(server, settings.size) &&
           run_l2_many_figure(server, settings.size) &&
           run_l2_coalesce_figure(server, settings.size) &&
           run_l2_coherence_figures(server, settings) &&
           run_l2_memcached_figures(server, settings.size) &&
           run_l2_cluster_figures(server, settings.size);
  });
}

bool run_l2_cluster_only(const BenchSettings& settings) {
  return with_server([&](const test::RedisServer& server) {
    return run_l2_cluster_figures(server, settings.size);
  });
}

bool run_l2_memcached_only(const BenchSettings& settings) {
  return with_server([&](const test::RedisServer& server) {
    return run_l2_memcached_figures(server, settings.size);
  });
}

bool run_l2_metrics_only(const BenchSettings& settings) {
  return with_server(
      [&](const test::RedisServer& server) { return run_l2_metrics_figure(server, settings); });
}

}  // namespace tiercache::bench
