// tests/support/catch_pch.hpp — what every test file's compile starts from, precompiled once per
// build (the Makefile's TEST_PCH): Catch2's single header is most of a small test file's compile.
// No #pragma once: it is only ever the main file (the precompile) or -include'd first.

#include <catch2/catch.hpp>
