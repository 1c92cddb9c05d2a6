// examples/catalog/plots.cpp — the data files, the gnuplot script, and running gnuplot.
#include "examples/catalog/plots.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace catalog {
namespace {

// gnuplot reads this as a missing point (a second with nothing to count).
constexpr const char* kMissing = "NaN";
// Longest the four plots may take to draw.
constexpr std::chrono::seconds kGnuplotTimeout{60};

std::string number(double value) {
  if (std::isnan(value)) return kMissing;
  std::ostringstream out;
  out.precision(6);
  out << value;
  return out.str();
}

std::expected<void, std::string> write_data(const std::string& path,
                                            const std::vector<LoadSample>& samples) {
  std::ofstream out(path);
  out << "# seconds requests_per_s get_p99_ms l1_hit_pct l2_hit_pct origin_reads_per_s\n";
  for (const LoadSample& s : samples)
    out << number(s.elapsed_seconds) << ' ' << number(s.requests_per_second) << ' '
        << number(s.get_p99_ms) << ' ' << number(100 * s.l1_hit_ratio) << ' '
        << number(100 * s.l2_hit_ratio) << ' ' << number(s.origin_reads_per_second) << '\n';
  out.close();
  if (!out) return std::unexpected("cannot write " + path + ": " + std::strerror(errno));
  return {};
}

// gnuplot's string literal of `text`, in double quotes (where \n is a line break).
std::string quoted(const std::string& text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '\n') {
      out += "\\n";
    } else {
      if (c == '\\' || c == '"') out += '\\';
      out += c;
    }
  }
  return out + "\"";
}

// One plot command over every series: `column` of each phase's file, titled by phase.
std::string plot_phases(const std::string& dir, const std::vector<PlotSeries>& series, int column) {
  std::string cmd = "plot ";
  for (std::size_t i = 0; i < series.size(); ++i) {
    if (i > 0) cmd += ", ";
    cmd += quoted(dir + "/" + series[i].phase + ".dat") + " using 1:" + std::to_string(column) +
           " with linespoints lw 2 pt 7 ps 0.6 title " + quoted(series[i].phase);
  }
  return cmd + "\n";
}

std::string script(const std::string& dir, const std::vector<PlotSeries>& series,
                   const std::string& caption) {
  const auto png = [&dir](const char* name) { return quoted(dir + "/" + name); };
  std::ostringstream gp;
  gp << "set terminal pngcairo size 900,540 font 'sans,11' noenhanced\n"
     << "set datafile missing '" << kMissing << "'\n"
     << "set grid\nset key top right\nset xlabel 'seconds into the phase'\n"
     << "set xrange [0:*]\n";

  gp << "set output " << png("throughput.png") << "\n"
     << "set title " << quoted("Throughput over HTTP, cached vs uncached\n" + caption) << "\n"
     << "set ylabel 'requests/s'\nset yrange [0:*]\n"
     << plot_phases(dir, series, 2);

  gp << "set output " << png("latency_p99.png") << "\n"
     << "set title " << quoted("Client-side GET p99 latency per second\n" + caption) << "\n"
     << "set ylabel 'GET p99 (ms)'\nset yrange [0:*]\n"
     << plot_phases(dir, series, 3);

  gp << "set output " << png("origin_load.png") << "\n"
     << "set title " << quoted("Origin load: SQLite reads/s (log scale)\n" + caption) << "\n"
     << "set ylabel 'SELECTs/s'\nset logscale y\nset yrange [1:*]\n"
     << plot_phases(dir, series, 6) << "unset logscale y\n";

  gp << "set output " << png("hit_ratio.png") << "\n"
     << "set title " << quoted("Hit ratios, cached phase (each second)\n" + caption) << "\n"
     << "set ylabel 'hit ratio (%)'\nset yrange [0:100]\nset key bottom right\n"
     << "plot " << quoted(dir + "/cached.dat")
     << " using 1:4 with linespoints lw 2 pt 7 ps 0.6 title 'L1 (in process)', "
     << quoted(dir + "/cached.dat")
     << " using 1:5 with linespoints lw 2 pt 7 ps 0.6 title 'L2 (Redis), of the L1 misses'\n";
  return gp.str();
}

// Runs `gnuplot script` with stdout and stderr to `log`; its exit status, or why it did not run.
std::expected<int, std::string> run_gnuplot(const std::string& script_path,
                                            const std::string& log) {
  posix_spawn_file_actions_t files;
  posix_spawn_file_actions_init(&files);
  posix_spawn_file_actions_addopen(&files, STDOUT_FILENO, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC,
                                   0644);
  posix_spawn_file_actions_adddup2(&files, STDOUT_FILENO, STDERR_FILENO);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK);
  const char* argv[] = {"gnuplot", script_path.c_str(), nullptr};
  pid_t pid = -1;
  const int err = posix_spawnp(&pid, "gnuplot", &files, &attr, const_cast<char**>(argv), environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&files);
  if (err != 0)
    return std::unexpected(std::string("cannot run gnuplot: ") + std::strerror(err) +
                           " (make deps installs gnuplot-nox)");
  // Four small PNGs take gnuplot well under a second; one that hangs (a terminal waiting for a
  // display it cannot have) must not hold the demo's exit.
  const auto deadline = std::chrono::steady_clock::now() + kGnuplotTimeout;
  int status = 0;
  for (;;) {
    const pid_t done = waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (done < 0 && errno != EINTR)
      return std::unexpected(std::string("waitpid: ") + std::strerror(errno));
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      return std::unexpected("gnuplot did not finish within " +
                             std::to_string(kGnuplotTimeout.count()) + " s; its messages are in " +
                             log);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

}  // namespace

std::expected<std::vector<std::string>, std::string> draw_plots(
    const std::string& dir, const std::vector<PlotSeries>& series, const std::string& caption) {
  bool has_cached = false;
  for (const PlotSeries& s : series) {
    if (auto written = write_data(dir + "/" + s.phase + ".dat", s.samples); !written)
      return std::unexpected(written.error());
    has_cached = has_cached || s.phase == "cached";
  }
  if (!has_cached) return std::unexpected(std::string("no cached phase ran: nothing to plot"));
  // A run stopped before its first sample: gnuplot would refuse the empty x range.
  if (std::all_of(series.begin(), series.end(),
                  [](const PlotSeries& s) { return s.samples.empty(); }))
    return std::unexpected(std::string("no sample was taken: nothing to plot"));
  const std::string script_path = dir + "/plots.gp";
  {
    std::ofstream out(script_path);
    out << script(dir, series, caption);
    if (!out) return std::unexpected("cannot write " + script_path + ": " + std::strerror(errno));
  }
  const std::string log = dir + "/gnuplot.log";
  const auto status = run_gnuplot(script_path, log);
  if (!status) return std::unexpected(status.error());
  if (*status != 0)
    return std::unexpected("gnuplot " + script_path + " exited with " + std::to_string(*status) +
                           "; its messages are in " + log);
  return std::vector<std::string>{dir + "/throughput.png", dir + "/hit_ratio.png",
                                  dir + "/origin_load.png", dir + "/latency_p99.png"};
}

}  // namespace catalog
