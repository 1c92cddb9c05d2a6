// bench/l1_typed.hpp — what keeping values decoded in L1 saves (issue 12): a TypedCache hit
// against a cache of bytes whose every hit is decoded (what go-redis/cache does), in one run.
#pragma once

#include "bench/bench_settings.hpp"

namespace tiercache::bench {

// Prints and records typed_hit_ns (peers json_decode_per_hit, msgpack_decode_per_hit). False
// (said on stderr) if a call failed.
bool run_l1_typed_figures(const BenchSettings& settings);

}  // namespace tiercache::bench
