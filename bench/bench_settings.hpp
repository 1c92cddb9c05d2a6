// bench/bench_settings.hpp — BenchSettings: how long each timed figure runs and how large its data
// set is, read once by bench_main from BENCH_SECONDS and BENCH_SMOKE and handed to every figure.
#pragma once

#include "bench/timed_run.hpp"

namespace tiercache::bench {

enum class BenchSize {
  full,   // the shapes of design.md section 7: the figures to judge
  smoke,  // small data sets (BENCH_SMOKE=1): checks the bench runs, never its speed
};

struct BenchSettings {
  RunTimes times;
  BenchSize size = BenchSize::full;
};

}  // namespace tiercache::bench
