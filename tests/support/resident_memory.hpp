// tests/support/resident_memory.hpp — this process's resident set, for tests that bound what a
// peer's input may make the cache allocate.
#pragma once

#include <cstddef>
#include <fstream>
#include <string>

#include <catch2/catch.hpp>

namespace test {

// VmRSS from /proc/self/status, in KiB; fails the test if there is none.
inline long resident_kib() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);)
    if (line.starts_with("VmRSS:")) return std::stol(line.substr(6));
  FAIL("no VmRSS in /proc/self/status");
  return 0;
}

}  // namespace test
