// The Catch2 runner. Tags: [concurrency] many threads, [slow] over a second.
// Run with TIERCACHE_TEST_CHILD set, the binary is a test's helper process instead
// (tests/support/child_process.hpp).
#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>

#include <cstdlib>

#include "tests/support/child_process.hpp"

int main(int argc, char* argv[]) {
  if (const char* mode = std::getenv("TIERCACHE_TEST_CHILD")) return test::run_child_mode(mode);
  return Catch::Session().run(argc, argv);
}
