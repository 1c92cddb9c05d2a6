// bench/gbench/l1_benchmarks.cpp — the L1 grid: tiercache without L2 against the bench/peers
// maps, on the same key sequences (bench/gbench/workload.hpp), each target pre-populated before
// its first timed loop and kept (FixtureSlot) for every benchmark that shares its data set.
//
// Each iteration is one request of the calling thread's sequence (resumed where that thread index
// of the same benchmark family left off in its previous run): a get, a set, or (purge_set) a
// purge then a set of the same key. items_per_second is the throughput of all threads over wall
// time (UseRealTime); hit_ratio is hits / gets, averaged over threads.
#include <benchmark/benchmark.h>

#include <array>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include "bench/gbench/l1_targets.hpp"
#include "bench/gbench/register.hpp"
#include "bench/gbench/workload.hpp"

namespace tiercache::gbench {

// ---- tiercache's L1 sizing ----

namespace {

// Budget beyond what `keys` entries are charged when everything must fit: each shard gets an
// equal part and the keys hash a few standard deviations unevenly over the shards.
constexpr double kFitSlack = 1.5;
// Shards' worth of extra entries, so a data set of few large values fits too.
constexpr std::size_t kFitSlackEntries = 256;

// What open() charges per entry beyond key and value, read from a small cache's stats.
std::size_t overhead_bytes_per_entry(const StoreShape& shape) {
  const auto probe =
      Cache::open({.l1 = {.max_bytes = std::size_t{4} << 20,
                          .max_key_bytes = shape.key_bytes,
                          .max_value_bytes = shape.value_bytes,
                          .expected_entry_bytes = shape.key_bytes + shape.value_bytes}});
  return probe ? probe->stats().overhead_bytes_per_entry : 0;
}

}  // namespace

std::shared_ptr<TiercacheL1> TiercacheL1::open(const StoreShape& shape) {
  const std::size_t entry_bytes =
      shape.key_bytes + shape.value_bytes + overhead_bytes_per_entry(shape);
  const auto max_bytes = static_cast<std::size_t>(
      (static_cast<double>(shape.keys) * kFitSlack + kFitSlackEntries) * entry_bytes);
  auto cache = Cache::open({.l1 = {.max_bytes = max_bytes,
                                   .max_entries = shape.capacity_entries,
                                   .max_key_bytes = shape.key_bytes,
                                   .max_value_bytes = shape.value_bytes,
                                   .expected_entry_bytes = shape.key_bytes + shape.value_bytes}});
  if (!cache) {
    std::fprintf(stderr, "gbench: Cache::open: %s\n", cache.error().detail.c_str());
    return nullptr;
  }
  return std::make_shared<TiercacheL1>(std::move(*cache));
}

namespace {

enum class Op {
  mix,          // get, or set at the Mix's write positions
  get_into,     // tiercache: get_into a caller buffer
  purge_set,    // tiercache: purge, then set the key back (one item)
  get_or_load,  // tiercache: get_or_load with a loader that copies the value
  cache_aside,  // a bounded target below the data set: get_or_load, or get and set on a miss
};

enum TargetMask : unsigned {
  kTiercache = 1,
  kLibcds = 2,
  kTbb = 4,
  kMutexLru = 8,
  kAllTargets = kTiercache | kLibcds | kTbb | kMutexLru,
  kBoundedTargets = kTiercache | kMutexLru,
};

struct L1Case {
  std::string op_name;
  Op op = Op::mix;
  double write_fraction = 0;
  Dist dist = Dist::zipf_0_99;
  std::vector<int> threads;
  unsigned targets = kAllTargets;
};

// Every case of a group shares one data set: built once per target, replayed by every case.
struct L1Group {
  StoreShape shape;
  // Bounded groups (shape.capacity_entries != 0) are warmed with this distribution's requests.
  Dist warm = Dist::zipf_0_99;
  std::vector<L1Case> cases;
};

// Longest "key:<n>" of the grid (n < 10M).
constexpr std::size_t kKeyBytes = 16;
// Thread counts of the scaling cases; 4 oversubscribes the 2-core reference machine.
const std::vector<int> kScaling = {1, 2, 4};
const std::vector<int> kTwo = {2};

FixtureSlot& store_slot() {
  static FixtureSlot slot;
  return slot;
}

std::string bytes_name(std::size_t n) {
  if (n >= 1024 && n % 1024 == 0) return std::to_string(n / 1024) + "Ki";
  return std::to_string(n);
}

// One cache-aside request; true on a hit. tiercache's loader counts its calls in `loads`.
template <class T>
bool cache_aside(T& target, const std::string& key, const std::string& value, const Loader& loader,
                 const std::uint64_t& loads) {
  if constexpr (std::is_same_v<T, TiercacheL1>) {
    const std::uint64_t before = loads;
    (void)target.get_or_load(key, loader);
    return loads == before;
  } else {
    (void)value;
    (void)loader;
    (void)loads;
    if (target.get(key)) return true;
    (void)target.set(key, value);
    return false;
  }
}

template <class T>
std::shared_ptr<T> build_store(const L1Group& group) {
  const StoreShape& shape = group.shape;
  std::shared_ptr<T> target = T::open(shape);
  if (target == nullptr) return nullptr;
  [[maybe_unused]] const typename T::ThreadScope scope;
  const auto keys = key_set(shape.keys);
  const std::string value(shape.value_bytes, 'a');
  if (shape.capacity_entries == 0) {
    for (const std::string& key : keys->keys)
      if (!target->set(key, value)) {
        std::fprintf(stderr, "gbench: pre-populating %s: a set failed\n", T::kName.data());
        return nullptr;
      }
    return target;
  }
  // A bounded target is warmed by one pass of cache-aside requests, so it holds what the
  // measured requests would have left in it.
  const auto warm = sequences(shape.keys, group.warm);
  std::uint64_t loads = 0;
  const Loader loader = [&](const Context&, std::string_view) -> Result<std::string> {
    ++loads;
    return value;
  };
  for (const std::uint32_t index : warm->per_thread[kMaxThreads - 1])
    (void)cache_aside(*target, keys->keys[index], value, loader, loads);
  return target;
}

template <class T>
std::shared_ptr<T> acquire_store(const L1Group& group) {
  const StoreShape& s = group.shape;
  std::string key = std::string(T::kName) + "/k" + std::to_string(s.keys) + "/v" +
                    std::to_string(s.value_bytes) + "/cap" + std::to_string(s.capacity_entries);
  if (s.capacity_entries != 0) key += "/warm:" + std::string(dist_name(group.warm));
  return store_slot().acquire<T>(key, [&] { return build_store<T>(group); });
}

// Where each thread index of one benchmark family (a case on a target) resumes its sequence. A
// run starting over at position 0 would replay the prefix the previous run (gbench runs each
// instance several times while it sizes the iteration count) just left in the cache and in the
// CPU caches, inflating hit ratio and speed. Every family starts at 0, so the targets of a case
// replay the same requests.
using ResumeAt = std::array<std::atomic<std::uint64_t>, kMaxThreads>;

struct Tally {
  std::uint64_t gets = 0;
  std::uint64_t hits = 0;
  std::uint64_t failed = 0;
};

template <class T>
void run_l1(benchmark::State& state, const L1Group& group, const L1Case& c, ResumeAt& resume_at) {
  const auto keyset = key_set(group.shape.keys);
  const auto seqs = sequences(group.shape.keys, c.dist);
  const std::shared_ptr<T> target = acquire_store<T>(group);
  if (target == nullptr) {
    state.SkipWithError("could not build the target's data set");
    return;
  }
  const std::vector<std::string>& keys = keyset->keys;
  const std::vector<std::uint32_t>& seq = seqs->for_thread(state.thread_index());
  const std::array<std::string, 2> values = {std::string(group.shape.value_bytes, 'a'),
                                             std::string(group.shape.value_bytes, 'b')};
  [[maybe_unused]] const typename T::ThreadScope scope;
  T& t = *target;
  Tally tally;
  std::atomic<std::uint64_t>& resume = resume_at[state.thread_index() % kMaxThreads];
  std::uint64_t p = resume.load(std::memory_order_relaxed);

  switch (c.op) {
    case Op::mix: {
      const Mix mix(c.write_fraction);
      for (auto _ : state) {
        const std::string& key = keys[seq[p & kSequenceMask]];
        if (mix.is_write(p)) {
          tally.failed += !t.set(key, values[p & 1]);
        } else {
          ++tally.gets;
          tally.hits += t.get(key);
        }
        ++p;
      }
      break;
    }
    case Op::get_into:
      if constexpr (requires(std::span<char> out) { t.get_into(keys[0], out); }) {
        std::vector<char> buffer(group.shape.value_bytes);
        for (auto _ : state) {
          ++tally.gets;
          tally.hits += t.get_into(keys[seq[p++ & kSequenceMask]], buffer);
        }
      }
      break;
    case Op::purge_set:
      if constexpr (requires { t.purge(keys[0]); }) {
        for (auto _ : state) {
          const std::string& key = keys[seq[p++ & kSequenceMask]];
          tally.failed += !t.purge(key);
          tally.failed += !t.set(key, values[0]);
        }
      }
      break;
    case Op::get_or_load:
      if constexpr (std::is_same_v<T, TiercacheL1>) {
        std::uint64_t loads = 0;
        const Loader loader = [&](const Context&, std::string_view) -> Result<std::string> {
          ++loads;
          return values[0];
        };
        for (auto _ : state) {
          ++tally.gets;
          tally.failed += !t.get_or_load(keys[seq[p++ & kSequenceMask]], loader);
        }
        tally.hits = tally.gets - loads;
      }
      break;
    case Op::cache_aside: {
      std::uint64_t loads = 0;
      const Loader loader = [&](const Context&, std::string_view) -> Result<std::string> {
        ++loads;
        return values[0];
      };
      for (auto _ : state) {
        ++tally.gets;
        tally.hits += cache_aside(t, keys[seq[p++ & kSequenceMask]], values[0], loader, loads);
      }
      break;
    }
  }

  resume.store(p, std::memory_order_relaxed);
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(group.shape.value_bytes));
  if (tally.gets != 0)
    state.counters["hit_ratio"] =
        benchmark::Counter(static_cast<double>(tally.hits) / static_cast<double>(tally.gets),
                           benchmark::Counter::kAvgThreads);
  if (tally.failed != 0) state.SkipWithError("a set, purge or get_or_load failed");
}

template <class T>
void register_target(const std::vector<L1Group>& groups, std::size_t group_index, unsigned mask) {
  const L1Group& group = groups[group_index];
  for (const L1Case& c : group.cases) {
    if ((c.targets & mask) == 0) continue;
    const std::string name = "L1/" + c.op_name + "/" + std::string(dist_name(c.dist)) + "/k" +
                             count_name(group.shape.keys) + "/v" +
                             bytes_name(group.shape.value_bytes) + "/" + std::string(T::kName);
    // The groups vector lives until exit (a static), so the lambda may keep references into it.
    auto resume_at = std::make_shared<ResumeAt>();
    auto* b = benchmark::RegisterBenchmark(name.c_str(),
                                           [&group, &c, resume_at](benchmark::State& state) {
                                             run_l1<T>(state, group, c, *resume_at);
                                           });
    b->UseRealTime();
    for (const int n : c.threads) b->Threads(n);
  }
}

std::vector<L1Group> make_grid(bool with_10m_keys) {
  const auto shape = [](std::uint32_t keys, std::size_t value_bytes, std::size_t capacity = 0) {
    return StoreShape{.keys = keys,
                      .key_bytes = kKeyBytes,
                      .value_bytes = value_bytes,
                      .capacity_entries = capacity};
  };
  const auto mix = [](const char* name, double writes, Dist dist, const std::vector<int>& threads,
                      unsigned targets = kAllTargets) {
    return L1Case{.op_name = name,
                  .op = Op::mix,
                  .write_fraction = writes,
                  .dist = dist,
                  .threads = threads,
                  .targets = targets};
  };
  const auto tiercache_op = [](const char* name, Op op, Dist dist) {
    return L1Case{
        .op_name = name, .op = op, .dist = dist, .threads = kScaling, .targets = kTiercache};
  };
  const auto aside = [](Dist dist, const std::vector<int>& threads) {
    return L1Case{.op_name = "cache_aside_c10pct",
                  .op = Op::cache_aside,
                  .dist = dist,
                  .threads = threads,
                  .targets = kBoundedTargets};
  };
  constexpr std::uint32_t k1M = 1'000'000;
  constexpr Dist z99 = Dist::zipf_0_99;

  std::vector<L1Group> grid;
  grid.push_back({.shape = shape(k1M, 100),
                  .cases = {
                      mix("get", 0, z99, kScaling),
                      mix("rw90", 0.1, z99, kScaling),
                      mix("rw50", 0.5, z99, kScaling),
                      mix("set", 1, z99, kScaling),
                      mix("get", 0, Dist::uniform, kTwo),
                      mix("get", 0, Dist::zipf_0_8, kTwo),
                      mix("get", 0, Dist::zipf_1_2, kTwo),
                      mix("get", 0, Dist::hot, kScaling),
                      mix("rw90", 0.1, Dist::hot, kTwo),
                      tiercache_op("get_into", Op::get_into, z99),
                      tiercache_op("get_or_load", Op::get_or_load, z99),
                      tiercache_op("purge_set", Op::purge_set, Dist::uniform),
                  }});
  for (const Dist d : {z99, Dist::zipf_0_8, Dist::zipf_1_2})
    grid.push_back({.shape = shape(k1M, 100, k1M / 10),
                    .warm = d,
                    .cases = {aside(d, d == z99 ? kScaling : kTwo)}});
  grid.push_back({.shape = shape(10'000, 100),
                  .cases = {mix("get", 0, z99, kTwo), mix("rw90", 0.1, z99, kTwo)}});
  grid.push_back({.shape = shape(k1M, 16), .cases = {mix("get", 0, z99, kTwo)}});
  grid.push_back({.shape = shape(100'000, 4096),
                  .cases = {mix("get", 0, z99, kTwo), mix("rw90", 0.1, z99, kTwo)}});
  grid.push_back({.shape = shape(10'000, 65536),
                  .cases = {mix("get", 0, z99, kTwo), mix("rw90", 0.1, z99, kTwo)}});
  if (with_10m_keys)
    grid.push_back({.shape = shape(10'000'000, 16), .cases = {mix("get", 0, z99, kTwo)}});
  return grid;
}

}  // namespace

void register_l1_benchmarks(bool with_10m_keys) {
  static const std::vector<L1Group> groups = make_grid(with_10m_keys);
  // Group outermost, target next: each target's data set is built once per group.
  for (std::size_t g = 0; g < groups.size(); ++g) {
    register_target<TiercacheL1>(groups, g, kTiercache);
    register_target<LibcdsL1>(groups, g, kLibcds);
    register_target<TbbL1>(groups, g, kTbb);
    register_target<MutexLruL1>(groups, g, kMutexLru);
  }
}

void release_l1_fixtures() {
  store_slot().release();
  release_workloads();
}

}  // namespace tiercache::gbench
