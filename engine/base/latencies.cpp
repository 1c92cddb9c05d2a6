#include "engine/base/latencies.hpp"

namespace tiercache::engine::latency {

// Any nonzero seed: a thread's draws need no independence from another's.
constinit thread_local std::uint64_t draw_state = 0x9E3779B97F4A7C15;
constinit thread_local CallTimer* innermost = nullptr;

}  // namespace tiercache::engine::latency
