// tests/support/child_process.hpp — runs this test binary again as a helper process, for tests
// that need a second process on the same files (fork() is unsafe once threads run).
//
// The child gets TIERCACHE_TEST_CHILD=<mode> and any other variables given; tests/main.cpp sends
// it to run_child_mode() before Catch2 starts. A ChildProcess still running when it goes out of
// scope is killed and reaped, on failure too.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace test {

class ChildProcess {
 public:
  // Starts /proc/self/exe in `mode` with `env` (NAME=value) added to this process's environment.
  ChildProcess(const std::string& mode,
               const std::vector<std::pair<std::string, std::string>>& env);
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;
  ~ChildProcess();

  // Its exit status once it exited within `limit`; nothing if it did not (or died of a signal:
  // then -signal).
  std::optional<int> wait_for_exit(std::chrono::milliseconds limit);

 private:
  pid_t pid_ = -1;
};

// The child's side: runs `mode` (the value of TIERCACHE_TEST_CHILD) and returns its exit status.
int run_child_mode(const std::string& mode);

}  // namespace test
