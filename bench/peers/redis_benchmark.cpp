#include "bench/peers/redis_benchmark.hpp"

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace tiercache::bench {
namespace {

// Installed by redis-tools (scripts/deps.sh).
constexpr const char* kRedisBenchmarkPath = "/usr/bin/redis-benchmark";
// redis-benchmark -q ends with "SET: <n> requests per second, p50=..."; its progress lines,
// separated by '\r', start with "SET: rps=" and carry no such suffix.
constexpr std::string_view kResultTag = "SET: ";
constexpr std::string_view kResultSuffix = " requests per second";
// Bytes of its output quoted when it fails: the progress lines before them say nothing.
constexpr std::size_t kOutputTailBytes = 600;

std::optional<double> parse_set_rate(const std::string& output) {
  const std::size_t suffix = output.rfind(kResultSuffix);
  if (suffix == std::string::npos) return std::nullopt;
  const std::size_t tag = output.rfind(kResultTag, suffix);
  if (tag == std::string::npos) return std::nullopt;
  const std::string number =
      output.substr(tag + kResultTag.size(), suffix - tag - kResultTag.size());
  char* end = nullptr;
  const double rate = std::strtod(number.c_str(), &end);
  if (end == number.c_str() || *end != '\0' || !(rate > 0)) return std::nullopt;
  return rate;
}

}  // namespace

std::string redis_benchmark_command(const RedisBenchmarkSetRun& run) {
  return std::string(kRedisBenchmarkPath) + " -h 127.0.0.1 -p " + std::to_string(run.port) +
         " -c " + std::to_string(run.clients) + " -P " + std::to_string(run.pipeline) +
         " -t set -d " + std::to_string(run.value_bytes) + " -n " + std::to_string(run.requests) +
         " -r " + std::to_string(run.keyspace) + " -q";
}

std::optional<double> run_redis_benchmark_set(const RedisBenchmarkSetRun& run) {
  const std::string command = redis_benchmark_command(run) + " 2>&1";
  FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) {
    std::perror("redis_benchmark: popen");
    return std::nullopt;
  }
  std::string output;
  char chunk[4096];
  for (std::size_t n; (n = std::fread(chunk, 1, sizeof chunk, pipe)) > 0;) output.append(chunk, n);
  const int status = ::pclose(pipe);
  const std::optional<double> rate = parse_set_rate(output);
  if (status != 0 || !rate) {
    const std::size_t tail =
        output.size() > kOutputTailBytes ? output.size() - kOutputTailBytes : 0;
    std::fprintf(stderr,
                 "redis_benchmark: `%s` exited with status %d, no SET rate; output ends: %s\n",
                 command.c_str(), status, output.c_str() + tail);
    return std::nullopt;
  }
  return rate;
}

}  // namespace tiercache::bench
