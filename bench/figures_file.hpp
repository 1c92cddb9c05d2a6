// bench/figures_file.hpp — record_figure(): one figure as one JSON object per line, appended to
// the file BENCH_FIGURES names. bench/run.sh sets it for every program and assembles the lines
// into bench/results/summary.json; without it (a program run by hand) nothing is written.
//
// The line is the summary's figure object, exactly: {"name", "unit", "value", "peers": {...},
// "target", "met"}.
#pragma once

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace tiercache::bench {

struct PeerValue {
  std::string name;
  double value = 0;
};

struct Figure {
  std::string name;
  std::string unit;
  double value = 0;  // tiercache's
  std::vector<PeerValue> peers;
  std::string target;  // as the brief states it, or "none..." when the brief sets no target
  bool met = false;     // written as null for a figure without a target
};

namespace figures_detail {

inline std::string json_string(std::string_view text) {
  std::string out = "\"";
  for (const char c : text) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char escaped[8];
      std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
      out += escaped;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

// JSON has no NaN or infinity: a figure that came out as one is written as null, which the
// assembler reports.
inline std::string json_number(double value) {
  if (!std::isfinite(value)) return "null";
  char text[32];
  std::snprintf(text, sizeof text, "%.6g", value);
  return text;
}

}  // namespace figures_detail

// Appends `f` to $BENCH_FIGURES. True if written or if BENCH_FIGURES is unset; false (said on
// stderr) if the file cannot be written, which voids the run's summary.
inline bool record_figure(const Figure& f) {
  const char* path = std::getenv("BENCH_FIGURES");
  if (path == nullptr || *path == '\0') return true;
  using figures_detail::json_number;
  using figures_detail::json_string;
  std::string line = "{\"name\": " + json_string(f.name) + ", \"unit\": " + json_string(f.unit) +
                     ", \"value\": " + json_number(f.value) + ", \"peers\": {";
  for (const PeerValue& p : f.peers) {
    if (&p != &f.peers.front()) line += ", ";
    line += json_string(p.name) + ": " + json_number(p.value);
  }
  const bool has_target = !f.target.starts_with("none");
  line += "}, \"target\": " + json_string(f.target) +
          ", \"met\": " + (has_target ? (f.met ? "true" : "false") : "null") + "}\n";
  FILE* out = std::fopen(path, "a");
  bool written = out != nullptr && std::fputs(line.c_str(), out) >= 0;
  if (out != nullptr && std::fclose(out) != 0) written = false;
  if (!written) std::fprintf(stderr, "record_figure: cannot append to %s\n", path);
  return written;
}

}  // namespace tiercache::bench
