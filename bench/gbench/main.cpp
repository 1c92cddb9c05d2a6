// bench/gbench/main.cpp — tiercache_gbench: issue 4's benchmark grid as Google Benchmark
// families, tiercache and its peers side by side in one binary, on the same key sequences.
//
// Names: L1/<op>/<dist>/k<keys>/v<value bytes>/<target>[/real_time][/threads:N] and
// L2/<op>/v100/<target>..., so --benchmark_filter selects by any part, e.g.
// 'L1/get/zipf0.99/k1M/v100', 'mutex_lru', 'L2/', 'threads:2'. Every benchmark reports
// items_per_second (all threads, over wall time) and, where it reads, hit_ratio (hits / gets).
// Without --benchmark_min_time each runs for at least kDefaultMinTime seconds; the default run
// (L1 and L2) takes about 80 s on the 2-core reference machine (40 s with
// --benchmark_min_time=0.05).
//
// L1 (tiercache without L2; peers libcds_raw = bench/peers LibcdsMap, tbb_concurrent_hash_map,
// mutex_lru = 64-shard std::mutex LRU). Keys "key:<n>", each target pre-populated once per data
// set before its first timed loop. Ops: get (read-only), rw90 / rw50 (10 / 50 % sets), set (all
// sets), get_into, get_or_load (all hits), purge_set (purge + set back), cache_aside_c10pct.
//   1M keys x 100 B   get, rw90, rw50, set        zipf0.99            1, 2, 4 threads   all
//                     get                         uniform, zipf0.8, zipf1.2   2         all
//                     get                         hot (one key)       1, 2, 4           all
//                     rw90                        hot                 2                 all
//                     get_into, get_or_load       zipf0.99            1, 2, 4           tiercache
//                     purge_set                   uniform             1, 2, 4           tiercache
//   1M keys x 100 B,  cache_aside_c10pct          zipf0.99            1, 2, 4    tiercache,
//   room for 100K     (get_or_load; peer: get,    zipf0.8, zipf1.2    2          mutex_lru
//   entries            set on a miss; warmed by one pass of the same distribution)
//   10K keys x 100 B  get, rw90                   zipf0.99            2                 all
//   1M keys x 16 B    get                         zipf0.99            2                 all
//   100K keys x 4 KiB get, rw90                   zipf0.99            2                 all
//   10K keys x 64 KiB get, rw90                   zipf0.99            2                 all
//   10M keys x 16 B   get                         zipf0.99            2                 all
//                     (only with TIERCACHE_GBENCH_10M=1: peak RSS ~3 GiB, and ~85 s alone at
//                     --benchmark_min_time=0.05, mostly pre-population)
// Fewer keys for larger values keep every data set under ~1 GiB (one held at a time). Zipf 0.8
// and 0.99 come from bench/scrambled_zipf.hpp; 1.2 (beyond that closed form's theta < 1) from an
// exact CDF with the same rank-to-key permutation (bench/gbench/workload.cpp).
//
// L2 (Redis, 100 B values, one redis-server started on first use, killed at exit):
//   set_batch_flush   tiercache_async (10K async sets + flush per iteration),
//                     hiredis_pipelined_p256 (the same 10K SETs, 256 per round trip),
//                     redis_benchmark_c1_p256 (redis-benchmark's own rate, 200K SETs)   1 thread
//   set               tiercache_sync, hiredis_per_call (a connection per thread)      1, 2, 4
//   get_l2_hit        tiercache (every get misses L1, hits Redis), hiredis_per_call     1, 2, 4
//                     hiredis_pipelined_p256 (10K GETs per iteration)                  1
//
// Not covered: get_many (the `l2_many` figures of `make bench` measure it); the latency
// percentiles, replay and memory figures of issue 4 (bench/, `make bench`).
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "bench/cpu_model.hpp"
#include "bench/gbench/register.hpp"

namespace {

// Seconds each benchmark runs at least unless --benchmark_min_time says otherwise. Set through
// the flag, not MinTime(), which would override the flag.
constexpr const char* kDefaultMinTime = "--benchmark_min_time=0.2";
// Set to 1 to add the 10M-key data set.
constexpr const char* k10MEnv = "TIERCACHE_GBENCH_10M";

}  // namespace

int main(int argc, char** argv) {
  std::vector<char*> args(argv, argv + argc);
  bool has_min_time = false;
  for (const char* a : args)
    has_min_time = has_min_time || std::string_view(a).starts_with("--benchmark_min_time");
  std::string default_min_time = kDefaultMinTime;
  if (!has_min_time) args.insert(args.begin() + 1, default_min_time.data());
  int count = static_cast<int>(args.size());
  benchmark::Initialize(&count, args.data());
  if (benchmark::ReportUnrecognizedArguments(count, args.data())) return 1;

  benchmark::AddCustomContext("cpu_model", tiercache::bench::cpu_model());
  benchmark::AddCustomContext("cores", std::to_string(std::thread::hardware_concurrency()));
  const char* ten_m = std::getenv(k10MEnv);
  const bool with_10m = ten_m != nullptr && std::strcmp(ten_m, "1") == 0;
  tiercache::gbench::register_l1_benchmarks(with_10m);
  tiercache::gbench::register_l2_benchmarks();

  benchmark::RunSpecifiedBenchmarks();
  tiercache::gbench::release_l1_fixtures();
  tiercache::gbench::release_l2_fixtures();
  benchmark::Shutdown();
  return 0;
}
