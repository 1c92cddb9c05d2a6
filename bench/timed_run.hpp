// bench/timed_run.hpp — run_timed(): worker threads replay requests for a fixed wall time.
//
// Each worker sets itself up (attaches to a GC, sizes buffers), then waits at the gate; the clock
// starts once all are waiting and stops when the main thread, which sleeps meanwhile, raises stop.
// Throughput is the requests the workers completed over that interval. Workers keep their counts
// in locals and hand them over once at the end, so counting shares no cache line.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <ctime>
#include <latch>
#include <thread>
#include <vector>

namespace tiercache::bench {

struct RunTimes {
  std::chrono::duration<double> warmup;    // run first, not counted: caches, branch predictors
  std::chrono::duration<double> measured;  // BENCH_SECONDS
};

struct ThreadTally {
  std::uint64_t requests = 0;
  std::uint64_t gets = 0;
  std::uint64_t hits = 0;
  std::uint64_t failed_sets = 0;
  std::uint64_t sink = 0;  // folds in every value read, so no copy can be optimised away
};

struct RunResult {
  double mops = 0;  // million requests per second, all threads together
  // CPU time the process used over threads x wall time: below ~0.9, another process competed
  // for the cores and the figure is low.
  double cpu_share = 0;
  ThreadTally total;
  double hit_ratio() const {
    return total.gets == 0 ? 0.0 : static_cast<double>(total.hits) / total.gets;
  }
};

class RunGate {
 public:
  explicit RunGate(unsigned workers) : ready_(workers) {}

  // Worker: call once set up; returns when the clock starts.
  void arrive_and_wait_for_go() {
    ready_.count_down();
    // Relaxed: go carries no data (the workload was built before the threads started).
    go_.wait(false, std::memory_order_relaxed);
  }
  // Relaxed: noticing stop a few requests late is harmless; the clock runs until all return.
  bool should_stop() const { return stop_.load(std::memory_order_relaxed); }

  void wait_until_all_ready() { ready_.wait(); }
  void open() {
    go_.store(true, std::memory_order_relaxed);
    go_.notify_all();
  }
  void close() { stop_.store(true, std::memory_order_relaxed); }

 private:
  std::latch ready_;
  std::atomic<bool> go_{false};
  std::atomic<bool> stop_{false};
};

// Runs body(thread_index, gate) on `threads` threads for `duration`. The body must call
// gate.arrive_and_wait_for_go() once, then work until gate.should_stop().
template <class Body>
RunResult run_timed(unsigned threads, std::chrono::duration<double> duration, Body body) {
  RunGate gate(threads);
  std::vector<ThreadTally> tallies(threads);
  std::vector<std::jthread> workers;
  for (unsigned t = 0; t < threads; ++t)
    workers.emplace_back([&, t] { tallies[t] = body(t, gate); });
  gate.wait_until_all_ready();
  const auto cpu_start = std::clock();
  const auto start = std::chrono::steady_clock::now();
  gate.open();
  std::this_thread::sleep_for(duration);
  gate.close();
  workers.clear();
  const std::chrono::duration<double> elapsed = std::chrono::steady_clock::now() - start;
  const double cpu_seconds = static_cast<double>(std::clock() - cpu_start) / CLOCKS_PER_SEC;

  RunResult result;
  for (const auto& t : tallies) {
    result.total.requests += t.requests;
    result.total.gets += t.gets;
    result.total.hits += t.hits;
    result.total.failed_sets += t.failed_sets;
    result.total.sink += t.sink;
  }
  result.mops = result.total.requests / elapsed.count() / 1e6;
  result.cpu_share = cpu_seconds / (threads * elapsed.count());
  return result;
}

}  // namespace tiercache::bench
