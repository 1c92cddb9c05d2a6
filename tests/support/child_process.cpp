#include "tests/support/child_process.hpp"

#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <thread>

#include <catch2/catch.hpp>

#include "tests/support/file_store_hammer.hpp"

extern char** environ;

namespace test {

ChildProcess::ChildProcess(const std::string& mode,
                           const std::vector<std::pair<std::string, std::string>>& env) {
  std::vector<std::string> vars;
  for (char** e = environ; *e != nullptr; ++e) vars.emplace_back(*e);
  vars.push_back("TIERCACHE_TEST_CHILD=" + mode);
  for (const auto& [name, value] : env) vars.push_back(name + "=" + value);
  std::vector<char*> envp;
  for (std::string& v : vars) envp.push_back(v.data());
  envp.push_back(nullptr);
  std::string self = "/proc/self/exe";
  char* argv[] = {self.data(), nullptr};
  const int err = ::posix_spawn(&pid_, "/proc/self/exe", nullptr, nullptr, argv, envp.data());
  if (err != 0) {
    pid_ = -1;
    FAIL("posix_spawn of the test binary failed: " << err);
  }
}

ChildProcess::~ChildProcess() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
}

std::optional<int> ChildProcess::wait_for_exit(std::chrono::milliseconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      pid_ = -1;
      if (WIFEXITED(status)) return WEXITSTATUS(status);
      if (WIFSIGNALED(status)) return -WTERMSIG(status);
      return std::nullopt;
    }
    if (r < 0 || std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

int run_child_mode(const std::string& mode) {
  if (mode == kFileStoreHammerMode) return file_store_hammer_child();
  std::fprintf(stderr, "unknown TIERCACHE_TEST_CHILD mode %s\n", mode.c_str());
  return 2;
}

}  // namespace test
