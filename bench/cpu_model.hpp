// bench/cpu_model.hpp — the CPU model from /proc/cpuinfo, printed first by every bench binary.
#pragma once

#include <fstream>
#include <string>

namespace tiercache::bench {

inline std::string cpu_model() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  const std::string field = "model name";
  for (std::string line; std::getline(cpuinfo, line);) {
    if (line.rfind(field, 0) != 0) continue;
    const auto colon = line.find(':');
    if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
  }
  return "unknown";
}

}  // namespace tiercache::bench
