#include "engine/base/latencies.hpp"

namespace tiercache::engine::latency {

constinit thread_local std::uint32_t calls_here = 0;
constinit thread_local std::uint64_t loads_run_here = 0;

}  // namespace tiercache::engine::latency
