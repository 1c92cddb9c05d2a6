#include "bench/l2_other_load.hpp"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>

namespace tiercache::bench {
namespace {

// Other processes' CPU, in cores, above which a figure is called skewed.
constexpr double kMaxOtherLoad = 0.1;

// utime, stime, cutime, cstime of /proc/<pid>/stat, in clock ticks; 0 if unreadable.
std::uint64_t process_ticks(const std::string& pid) {
  std::ifstream in("/proc/" + pid + "/stat");
  std::string stat;
  std::getline(in, stat);
  // The command name in parentheses may hold spaces; the fields counted below follow it.
  const std::size_t close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close + 2));
  // Fields 3..13 (state through cmajflt) come before utime, field 14.
  constexpr int kFieldsBeforeUtime = 11;
  std::string skip;
  for (int i = 0; i < kFieldsBeforeUtime; ++i) fields >> skip;
  std::uint64_t utime = 0, stime = 0, cutime = 0, cstime = 0;
  fields >> utime >> stime >> cutime >> cstime;
  return utime + stime + cutime + cstime;
}

// The "cpu" line of /proc/stat: user, nice and system ticks summed over every CPU. Interrupt and
// softirq time is left out: most of it is the loopback traffic of the figures themselves.
std::uint64_t machine_busy_ticks() {
  std::ifstream in("/proc/stat");
  std::string label;
  in >> label;
  std::uint64_t user = 0, nice = 0, system = 0;
  in >> user >> nice >> system;
  return user + nice + system;
}

}  // namespace

OtherLoad::OtherLoad(pid_t server) : server_(server), start_(now()) {}

OtherLoad::Ticks OtherLoad::now() const {
  return {
      .machine_busy = machine_busy_ticks(),
      .ours = process_ticks("self") + process_ticks(std::to_string(server_)),
      .wall_ns = static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                                std::chrono::steady_clock::now().time_since_epoch())
                                                .count())};
}

double OtherLoad::cores_used() const {
  const Ticks end = now();
  const double ticks_per_second = static_cast<double>(::sysconf(_SC_CLK_TCK));
  const double seconds = static_cast<double>(end.wall_ns - start_.wall_ns) / 1e9;
  const double machine = static_cast<double>(end.machine_busy - start_.machine_busy);
  const double ours = static_cast<double>(end.ours - start_.ours);
  if (seconds <= 0) return 0;
  // Tick counts are sampled at different moments: a small negative is rounding, not a figure.
  return std::max(0.0, (machine - ours) / ticks_per_second / seconds);
}

double other_load_of(const char* figure, const OtherLoad& load) {
  const double cores = load.cores_used();
  if (cores > kMaxOtherLoad)
    std::fprintf(stderr,
                 "l2: %s: other processes used %.2f cores meanwhile; the figure is skewed: rerun "
                 "on an idle machine\n",
                 figure, cores);
  return cores;
}

}  // namespace tiercache::bench
