// bench/gbench/workload.hpp — what every tiercache_gbench benchmark replays: the key strings, the
// per-thread request sequences (key indices drawn once, before any clock runs), the read/write
// mix, and FixtureSlot, which keeps one pre-populated data set alive across the benchmark
// instances (thread counts, mixes, distributions) that share it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace tiercache::gbench {

// Most threads any benchmark runs; each thread replays its own sequence.
inline constexpr unsigned kMaxThreads = 4;
// Requests in each thread's sequence (a power of two: a run longer than that wraps around).
inline constexpr std::size_t kSequenceLength = std::size_t{1} << 20;
inline constexpr std::size_t kSequenceMask = kSequenceLength - 1;

enum class Dist {
  uniform,
  zipf_0_8,
  zipf_0_99,
  zipf_1_2,
  hot,  // every request is the zipf_0_99 sequence's hottest key
};

// "uniform", "zipf0.8", "zipf0.99", "zipf1.2", "hot".
std::string_view dist_name(Dist dist);

// "key:<n>" for n in [0, count), the keys bench/l1_workload.cpp uses.
struct KeySet {
  std::vector<std::string> keys;
};

// Key indices per thread, each kSequenceLength long.
struct Sequences {
  std::array<std::vector<std::uint32_t>, kMaxThreads> per_thread;
  const std::vector<std::uint32_t>& for_thread(int thread_index) const {
    return per_thread[static_cast<unsigned>(thread_index) % kMaxThreads];
  }
};

// The key set of `count` keys. Only the latest count is kept; asking for another frees it.
std::shared_ptr<const KeySet> key_set(std::uint32_t count);
// The sequences of `dist` over `keys` keys, with fixed seeds: every target and every run replays
// the same requests. Sequences for one key count are kept until another key count is asked for.
std::shared_ptr<const Sequences> sequences(std::uint32_t keys, Dist dist);
// Frees the key set and the sequences.
void release_workloads();

// Which requests of a mixed sequence are writes: position p writes if a Weyl sequence of p falls
// below the write fraction, so every target writes at the same positions.
class Mix {
 public:
  explicit Mix(double write_fraction);
  bool is_write(std::uint64_t position) const {
    return all_writes_ || (position + 1) * kWeyl < threshold_;
  }

 private:
  static constexpr std::uint64_t kWeyl = 0x9e3779b97f4a7c15;
  std::uint64_t threshold_ = 0;
  bool all_writes_ = false;
};

// Holds one fixture of any type at a time, under a string key naming what was built. Acquiring
// another key destroys the held fixture before building the next, so the memory peak is one data
// set, not the sum of them. Benchmarks are registered grouped by key, so the instances sharing a
// data set (thread counts innermost) build it once. Safe from every thread of a run: the first to
// arrive builds, the others wait on the mutex.
class FixtureSlot {
 public:
  // `build` returns std::shared_ptr<T>, or nullptr if it failed (then nothing is held).
  template <class T, class Build>
  std::shared_ptr<T> acquire(const std::string& key, Build&& build) {
    const std::lock_guard lock(mutex_);
    if (held_ == nullptr || key_ != key) {
      held_.reset();
      key_.clear();
      std::shared_ptr<T> built = std::forward<Build>(build)();
      if (built == nullptr) return nullptr;
      held_ = std::move(built);
      key_ = key;
    }
    return std::static_pointer_cast<T>(held_);
  }

  void release() {
    const std::lock_guard lock(mutex_);
    held_.reset();
    key_.clear();
  }

 private:
  std::mutex mutex_;
  std::string key_;
  std::shared_ptr<void> held_;
};

// "10K", "1M", "100" ...: a key count for benchmark names.
std::string count_name(std::uint64_t n);

}  // namespace tiercache::gbench
