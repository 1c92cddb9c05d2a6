// The L1 index and the epochs that free what it drops (engine/l1/entry_index.hpp,
// engine/l1/reclamation.hpp): a reader never misses an entry that stays in the index while a
// writer churns the slots around it (tombstones, their cleanup, rebuilds into new arrays), and
// nothing retired is freed while a read section that could hold it is open.
#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "engine/l1/entry.hpp"
#include "engine/l1/entry_index.hpp"
#include "engine/l1/reclamation.hpp"
#include "tests/support/test_support.hpp"

using tiercache::engine::destroy_entry;
using tiercache::engine::Entry;
using tiercache::engine::EntryIndex;
using tiercache::engine::make_value_entry;
using tiercache::engine::ReadSection;

namespace {

// Hashes that all start probing at one slot (the low bits) with distinct tags, so every probe
// walks one long cluster: the worst case for tombstones and their cleanup.
std::uint64_t clustered_hash(std::uint64_t i) {
  return (i << 32) | 5;
}

Entry* entry(std::uint64_t hash) {
  return make_value_entry(hash, "k" + std::to_string(hash), "v", tiercache::engine::kNeverExpires);
}

void retire_entry(Entry* e) {
  tiercache::engine::retire(e, e->allocated_bytes(),
                            [](void* p) noexcept { destroy_entry(static_cast<Entry*>(p)); });
}

}  // namespace

TEST_CASE("the index finds, replaces and erases entries, also in one long probe cluster",
          "[index]") {
  EntryIndex index(4);
  std::vector<Entry*> live;
  for (std::uint64_t i = 1; i <= 40; ++i) {
    live.push_back(entry(clustered_hash(i)));
    index.insert(live.back());
  }
  REQUIRE(index.size() == 40);
  REQUIRE(index.capacity() >= 64);  // grew past its first size
  for (Entry* e : live) CHECK(index.find(e->hash) == e);
  CHECK(index.find(clustered_hash(99)) == nullptr);

  // Erase every other one: the rest stay reachable across the tombstones.
  for (std::size_t i = 0; i < live.size(); i += 2) {
    index.erase(live[i]);
    retire_entry(live[i]);
    live[i] = nullptr;
  }
  for (std::uint64_t i = 1; i <= 40; ++i) {
    Entry* want = live[i - 1];
    CHECK(index.find(clustered_hash(i)) == want);
  }
  // A replace keeps the slot; the old entry is no longer found.
  Entry* fresh = entry(live[1]->hash);
  index.replace(live[1], fresh);
  retire_entry(live[1]);
  live[1] = fresh;
  CHECK(index.find(fresh->hash) == fresh);

  std::size_t count = 0;
  index.for_each([&](Entry*) { ++count; });
  CHECK(count == index.size());
  CHECK(count == 20);
  for (Entry* e : live)
    if (e != nullptr) {
      index.erase(e);
      retire_entry(e);
    }
  CHECK(index.size() == 0);
  tiercache::engine::reclaim_retired_now();
}

TEST_CASE("a reader never misses an entry that stays while a writer churns the slots around it",
          "[index][concurrency]") {
  EntryIndex index(8);
  // Stable entries, interleaved in the same cluster as the churned ones.
  constexpr std::uint64_t kStable = 16;
  std::vector<Entry*> stable;
  for (std::uint64_t i = 0; i < kStable; ++i) {
    stable.push_back(entry(clustered_hash(2 * i + 1)));
    index.insert(stable.back());
  }
  std::atomic<bool> stop{false};
  std::atomic<std::uint64_t> misses{0};
  std::atomic<std::uint64_t> reads{0};
  std::vector<std::thread> readers;
  for (int t = 0; t < 2; ++t)
    readers.emplace_back([&] {
      std::uint64_t n = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        const std::uint64_t h = clustered_hash(2 * (n % kStable) + 1);
        const ReadSection section;
        const Entry* e = index.find(h);
        // The entry is whole while the section is open: its hash and key are readable.
        if (e == nullptr || e->hash != h || e->key() != "k" + std::to_string(h))
          misses.fetch_add(1, std::memory_order_relaxed);
        ++n;
      }
      reads.fetch_add(n);
    });
  // The writer: churned keys come and go around the stable ones (tombstones, cleanups), and
  // bursts of inserts force rebuilds into new arrays while the readers probe the old ones.
  std::vector<Entry*> churned;
  for (int round = 0; round < 2000; ++round) {
    const std::size_t burst = round % 50 == 0 ? 64 : 4;
    for (std::size_t j = 0; j < burst; ++j) {
      churned.push_back(entry(clustered_hash(2 * (kStable + churned.size()) + 2)));
      index.insert(churned.back());
    }
    while (!churned.empty()) {
      index.erase(churned.back());
      retire_entry(churned.back());
      churned.pop_back();
    }
    tiercache::engine::reclaim_if_over_budget();
  }
  stop = true;
  for (auto& r : readers) r.join();
  INFO(reads.load() << " reads");
  CHECK(reads.load() > 0);
  CHECK(misses.load() == 0);
  for (Entry* e : stable) {
    index.erase(e);
    destroy_entry(e);
  }
  tiercache::engine::reclaim_retired_now();
}

TEST_CASE("nothing retired is freed while a read section that could hold it is open",
          "[reclamation][concurrency]") {
  static std::atomic<int> freed{0};
  freed = 0;
  int object = 0;
  std::atomic<int> stage{0};
  std::thread reader([&] {
    {
      const ReadSection outer;
      {
        const ReadSection nested;  // closing an inner section keeps the outer one open
      }
      stage = 1;
      while (stage.load() != 2) std::this_thread::yield();
    }
    stage = 3;
  });
  while (stage.load() != 1) std::this_thread::yield();
  tiercache::engine::retire(&object, 64, [](void*) noexcept { freed.fetch_add(1); });
  const std::size_t retired = tiercache::engine::retired_bytes();
  CHECK(retired >= 64);
  for (int i = 0; i < 10; ++i) tiercache::engine::reclaim_retired_now();
  CHECK(freed.load() == 0);  // the reader's section began before the retire: it may hold it
  stage = 2;
  while (stage.load() != 3) std::this_thread::yield();
  reader.join();
  tiercache::engine::reclaim_retired_now();
  CHECK(freed.load() == 1);
}
