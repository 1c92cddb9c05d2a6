#include "tests/support/promtool.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace test {
namespace {

// promtool checks a few hundred lines in ~50 ms; this is for a machine busy with other builds.
constexpr std::chrono::seconds kLimit{60};

// A private directory, removed with its files when the check ends.
class ScratchDir {
 public:
  ScratchDir() {
    std::string pattern =
        (std::filesystem::temp_directory_path() / "tiercache-promtool-XXXXXX").string();
    if (::mkdtemp(pattern.data()) == nullptr) throw std::runtime_error("mkdtemp " + pattern);
    path_ = pattern;
  }
  ScratchDir(const ScratchDir&) = delete;
  ScratchDir& operator=(const ScratchDir&) = delete;
  ~ScratchDir() {
    std::error_code ignored;  // a destructor cannot report; the path is this check's own
    std::filesystem::remove_all(path_, ignored);
  }
  std::string file(const char* name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

}  // namespace

PromtoolVerdict promtool_check_metrics(const std::string& text) {
  const ScratchDir dir;
  // Files rather than pipes: nothing to pump while it runs, so no deadlock on a full pipe.
  const std::string in = dir.file("exposition.prom");
  const std::string out = dir.file("promtool.out");
  std::ofstream(in, std::ios::binary) << text;

  posix_spawn_file_actions_t actions;
  ::posix_spawn_file_actions_init(&actions);
  ::posix_spawn_file_actions_addopen(&actions, 0, in.c_str(), O_RDONLY, 0);
  ::posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  ::posix_spawn_file_actions_adddup2(&actions, 1, 2);
  std::string program = "promtool", check = "check", metrics = "metrics";
  char* argv[] = {program.data(), check.data(), metrics.data(), nullptr};
  pid_t pid = -1;
  const int err = ::posix_spawnp(&pid, "promtool", &actions, nullptr, argv, environ);
  ::posix_spawn_file_actions_destroy(&actions);
  if (err != 0)
    throw std::runtime_error("cannot start promtool (scripts/deps.sh installs prometheus): " +
                             std::to_string(err));

  const auto deadline = std::chrono::steady_clock::now() + kLimit;
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
      throw std::runtime_error("promtool check metrics did not finish in time");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  PromtoolVerdict verdict;
  verdict.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ostringstream printed;
  printed << std::ifstream(out, std::ios::binary).rdbuf();
  verdict.output = printed.str();
  return verdict;
}

}  // namespace test
