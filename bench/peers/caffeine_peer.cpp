#include "bench/peers/caffeine_peer.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace tiercache::bench {
namespace {

void put_u32(std::FILE* f, std::uint32_t v) {
  const unsigned char b[4] = {static_cast<unsigned char>(v), static_cast<unsigned char>(v >> 8),
                              static_cast<unsigned char>(v >> 16),
                              static_cast<unsigned char>(v >> 24)};
  std::fwrite(b, 1, sizeof b, f);
}

void put_bytes(std::FILE* f, const std::string& s) {
  put_u32(f, static_cast<std::uint32_t>(s.size()));
  std::fwrite(s.data(), 1, s.size(), f);
}

// The file CaffeinePeer.java reads (its header comment says the layout).
bool write_workload(const char* path, const std::vector<std::string>& keys,
                    const std::string& value,
                    const std::vector<std::vector<std::uint32_t>>& requests) {
  std::FILE* f = std::fopen(path, "wb");
  if (f == nullptr) return false;
  put_u32(f, static_cast<std::uint32_t>(keys.size()));
  for (const std::string& k : keys) put_bytes(f, k);
  put_bytes(f, value);
  put_u32(f, static_cast<std::uint32_t>(requests.size()));
  for (const auto& seq : requests) {
    put_u32(f, static_cast<std::uint32_t>(seq.size()));
    for (const std::uint32_t r : seq) put_u32(f, r);
  }
  const bool ok = std::ferror(f) == 0;
  return std::fclose(f) == 0 && ok;
}

}  // namespace

std::optional<RunResult> run_caffeine(const std::vector<std::string>& keys,
                                      const std::string& value,
                                      const std::vector<std::vector<std::uint32_t>>& requests,
                                      unsigned threads, double warmup_s, double seconds) {
  const char* classpath = std::getenv("CAFFEINE_CLASSPATH");
  if (classpath == nullptr || *classpath == '\0') {
    std::fprintf(stderr, "caffeine: CAFFEINE_CLASSPATH is not set (bench/run.sh sets it)\n");
    return std::nullopt;
  }
  char path[] = "/tmp/tiercache-caffeine-XXXXXX";
  const int fd = mkstemp(path);
  if (fd < 0) return std::nullopt;
  close(fd);
  std::optional<RunResult> result;
  if (write_workload(path, keys, value, requests)) {
    char command[1024];
    std::snprintf(command, sizeof command, "java -cp '%s' CaffeinePeer '%s' %u %.3f %.3f",
                  classpath, path, threads, warmup_s, seconds);
    if (std::FILE* out = popen(command, "r")) {
      char line[256] = {};
      const bool read = std::fgets(line, sizeof line, out) != nullptr;
      const int status = pclose(out);
      RunResult r;
      unsigned long long gets = 0, hits = 0;
      if (read && status == 0 &&
          std::sscanf(line, "mops=%lf gets=%llu hits=%llu cpu_share=%lf", &r.mops, &gets, &hits,
                      &r.cpu_share) == 4) {
        r.total.gets = gets;
        r.total.hits = hits;
        result = r;
      } else {
        std::fprintf(stderr, "caffeine: the JVM run failed (status %d): %s\n", status, line);
      }
    }
  } else {
    std::fprintf(stderr, "caffeine: cannot write the workload file %s\n", path);
  }
  unlink(path);
  return result;
}

}  // namespace tiercache::bench
