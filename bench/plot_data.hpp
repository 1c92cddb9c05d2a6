// bench/plot_data.hpp — the data behind bench/plots.sh's PNGs: whitespace-separated columns that
// gnuplot reads, one file each, in the directory BENCH_DATA_DIR names. bench/run.sh sets it;
// without it (a program run by hand) nothing is written.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace tiercache::bench {

// Points an empirical CDF is drawn with, spread evenly over the samples; and, for its tail, points
// per decade of 1 - fraction (0.9, 0.99, ... as far as the samples reach), so a log-scale tail
// plot stays smooth.
inline constexpr std::size_t kCdfPoints = 500;
inline constexpr int kCdfTailPointsPerDecade = 50;

// Writes `text` to $BENCH_DATA_DIR/`file`, replacing it. True if written or if BENCH_DATA_DIR is
// unset; false (said on stderr) if the file cannot be written.
inline bool write_plot_data(std::string_view file, const std::string& text) {
  const char* dir = std::getenv("BENCH_DATA_DIR");
  if (dir == nullptr || *dir == '\0') return true;
  const std::string path = std::string(dir) + "/" + std::string(file);
  FILE* out = std::fopen(path.c_str(), "w");
  bool written = out != nullptr && std::fputs(text.c_str(), out) >= 0;
  if (out != nullptr && std::fclose(out) != 0) written = false;
  if (!written) std::fprintf(stderr, "write_plot_data: cannot write %s\n", path.c_str());
  return written;
}

// The empirical CDF of `sorted_ns` (ascending) as "<latency> <fraction of samples <= it>" lines,
// the latency in nanoseconds divided by `ns_per_unit` (1 for ns, 1000 for µs).
inline std::string cdf_text(const std::vector<std::uint64_t>& sorted_ns, double ns_per_unit) {
  const std::size_t n = sorted_ns.size();
  if (n == 0) return {};
  std::vector<std::size_t> at;
  const std::size_t points = std::min(n, kCdfPoints);
  for (std::size_t i = 0; i < points; ++i)
    at.push_back(points == 1 ? n - 1 : i * (n - 1) / (points - 1));
  const double decades = std::log10(static_cast<double>(n));
  for (int i = kCdfTailPointsPerDecade; i <= decades * kCdfTailPointsPerDecade; ++i) {
    const double slower = std::pow(10.0, -static_cast<double>(i) / kCdfTailPointsPerDecade);
    at.push_back(std::min(n - 1, static_cast<std::size_t>((1 - slower) * static_cast<double>(n))));
  }
  std::sort(at.begin(), at.end());
  at.erase(std::unique(at.begin(), at.end()), at.end());
  std::string text;
  char line[64];
  for (const std::size_t i : at) {
    std::snprintf(line, sizeof line, "%.4g %.6f\n", static_cast<double>(sorted_ns[i]) / ns_per_unit,
                  static_cast<double>(i + 1) / static_cast<double>(n));
    text += line;
  }
  return text;
}

}  // namespace tiercache::bench
