// tests/support/promtool.hpp — `promtool check metrics` (Debian's prometheus package, a test
// dependency in scripts/deps.sh) run on an exposition text: the linter Prometheus's own clients are
// held to. It parses the text (format 0.0.4) and flags names against the conventions (a counter
// ends in _total, base units, help on every family).
#pragma once

#include <string>

namespace test {

struct PromtoolVerdict {
  int exit_status = -1;  // 0: valid, no problem found
  std::string output;    // what it printed, stdout and stderr: one line per problem
};

// Runs promtool (found on PATH) with `text` on its stdin. Throws std::runtime_error if it cannot
// be started or does not finish within a bound.
PromtoolVerdict promtool_check_metrics(const std::string& text);

}  // namespace test
