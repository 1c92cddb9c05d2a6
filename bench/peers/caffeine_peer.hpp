// bench/peers/caffeine_peer.hpp — run_caffeine(): Caffeine (Debian's libcaffeine-java, on the
// JDK) replaying the same keys and request sequences as tiercache, in the same run. The JVM runs
// bench/peers/caffeine/CaffeinePeer.java from the class path in $CAFFEINE_CLASSPATH, which
// bench/run.sh sets; the workload goes to it through a temporary file.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "bench/timed_run.hpp"

namespace tiercache::bench {

// `requests`: one sequence per thread (bit 31 marks a write of `value`). Every key is put first,
// into a cache bounded at twice the keys, so a read is a hit as it is for every other peer.
// nullopt, said on stderr, when the JVM or the classes are missing or the run fails.
std::optional<RunResult> run_caffeine(const std::vector<std::string>& keys,
                                      const std::string& value,
                                      const std::vector<std::vector<std::uint32_t>>& requests,
                                      unsigned threads, double warmup_s, double seconds);

}  // namespace tiercache::bench
