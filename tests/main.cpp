// The Catch2 runner. Tags: [concurrency] many threads, [slow] over a second.
#define CATCH_CONFIG_MAIN
#include <catch2/catch.hpp>
