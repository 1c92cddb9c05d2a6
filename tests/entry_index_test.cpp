// The L1 index and the epochs that free what it drops (engine/l1/entry_index.hpp,
// engine/l1/reclamation.hpp): a reader never misses an entry that stays in the index while a
// writer churns the cells around it (tombstones, their cleanup, rebuilds into new arrays), and
// nothing retired is freed while a read section that could hold it is open.
#include <atomic>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#define XXH_INLINE_ALL
#include <xxhash.h>

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

// Hashes that all start probing at one cell (the low 32 bits are the same) with distinct tags, so
// every probe walks one long cluster: the worst case for tombstones and their cleanup.
std::uint64_t clustered_hash(std::uint64_t i) {
  return (i << 32) | 5;
}

Entry* entry(std::uint64_t hash) {
  return make_value_entry(hash, "k" + std::to_string(hash), "v", tiercache::engine::kNeverExpires);
}

// Entries with hashes hash(1) .. hash(n), added to `index` in that order.
template <class Hash>
std::vector<Entry*> add_entries(EntryIndex& index, std::uint64_t n, Hash hash) {
  std::vector<Entry*> added;
  for (std::uint64_t i = 1; i <= n; ++i) {
    added.push_back(entry(hash(i)));
    index.reserve_one_more();
    index.insert(added.back());
  }
  return added;
}

void retire_entry(Entry* e) {
  tiercache::engine::retire(e, e->allocated_bytes(),
                            [](void* p) noexcept { destroy_entry(static_cast<Entry*>(p)); });
}

}  // namespace

TEST_CASE("the index finds, replaces and erases entries, also in one long probe cluster",
          "[index]") {
  EntryIndex index(4);
  std::vector<Entry*> live = add_entries(index, 40, clustered_hash);
  REQUIRE(index.size() == 40);
  REQUIRE(index.rebuilds() > 0);            // grew past its first size
  REQUIRE(index.capacity() * 3 >= 40 * 4);  // to hold them at most 3/4 full
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
  // A replace keeps the cell; the old entry is no longer found.
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

TEST_CASE("a probe run that wraps past the array's last cell is found, erased and cleared",
          "[index]") {
  // Low 32 bits all ones: every key's home is the last cell, whatever the capacity, so the run
  // goes on from cell 0, and erasing walks back across the wrap.
  const auto at_last_cell = [](std::uint64_t i) { return (i << 32) | 0xffff'ffffu; };
  EntryIndex index(40);
  std::vector<Entry*> live = add_entries(index, 40, at_last_cell);
  REQUIRE(index.rebuilds() == 0);
  CHECK(index.longest_probe() == 39);
  for (Entry* e : live) CHECK(index.find(e->hash) == e);
  for (std::size_t i = 0; i < live.size(); i += 2) index.erase(live[i]);
  for (std::size_t i = 1; i < live.size(); i += 2) CHECK(index.find(live[i]->hash) == live[i]);
  for (std::size_t i = 0; i < live.size(); i += 2) CHECK(index.find(live[i]->hash) == nullptr);
  // Erasing the last one empties every cell of the run again, the tombstones across the wrap
  // included: a fresh key then finds its home cell empty and takes it.
  for (std::size_t i = 1; i < live.size(); i += 2) index.erase(live[i]);
  CHECK(index.size() == 0);
  Entry* fresh = entry(at_last_cell(99));
  index.reserve_one_more();
  index.insert(fresh);
  CHECK(index.longest_probe() == 0);
  CHECK(index.find(fresh->hash) == fresh);
  index.erase(fresh);
  for (Entry* e : live) destroy_entry(e);  // never published to a reader
  destroy_entry(fresh);
}

TEST_CASE("a reader never misses an entry that stays while a writer churns the cells around it",
          "[index][concurrency]") {
  EntryIndex index(8);
  const auto add = [&](Entry* e) {
    index.reserve_one_more();
    index.insert(e);
  };
  // Churned keys are even, stable ones odd. Front keys share the stable keys' probe cluster
  // and sit ahead of them: each is erased (a tombstone the stable keys' probes must pass, as
  // its next cell is taken) and replaced by a new one that refills it, so they stay ahead,
  // also across rebuilds (which re-insert in cell order). The other churned keys start
  // probing all over the array; the newest kKept of them stay, as in a full shard, and the
  // tombstones of the rest pile up until the writer rebuilds the array.
  constexpr std::uint64_t kStable = 16;
  constexpr std::size_t kFront = 4;
  constexpr std::size_t kKept = 40;
  std::vector<Entry*> churned;
  std::uint64_t next_churned = 0;
  const auto next_hash = [&](bool clustered) {
    const std::uint64_t i = 2 * next_churned++;
    return clustered ? clustered_hash(i)
                     : (i << 32) | static_cast<std::uint32_t>(XXH3_64bits(&i, sizeof i));
  };
  const auto churn_in = [&](std::size_t n) {
    for (std::size_t j = 0; j < n; ++j) {
      churned.push_back(entry(next_hash(false)));
      add(churned.back());
    }
  };
  std::vector<Entry*> front;
  for (std::size_t j = 0; j < kFront; ++j) {
    front.push_back(entry(next_hash(true)));
    add(front.back());
  }
  const auto rotate_front = [&] {
    for (Entry*& e : front) {
      index.erase(e);
      retire_entry(e);
      e = entry(next_hash(true));
      add(e);
    }
  };
  const auto churn_out = [&](std::size_t keep) {
    const std::size_t out = churned.size() > keep ? churned.size() - keep : 0;
    for (std::size_t j = 0; j < out; ++j) {
      index.erase(churned[j]);
      retire_entry(churned[j]);
    }
    churned.erase(churned.begin(), churned.begin() + static_cast<std::ptrdiff_t>(out));
  };
  std::vector<std::atomic<Entry*>> stable(kStable);
  for (std::uint64_t i = 0; i < kStable; ++i) {
    stable[i] = entry(clustered_hash(2 * i + 1));
    add(stable[i]);
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
        // The entry is whole while the section is open, even one the writer has replaced and
        // retired meanwhile (ASan sees a use after free; otherwise the bytes are checked).
        if (e == nullptr || e->hash != h || e->key() != "k" + std::to_string(h) ||
            e->value() != "v")
          misses.fetch_add(1, std::memory_order_relaxed);
        if (++n % 1024 == 0) reads.fetch_add(1024, std::memory_order_relaxed);
      }
    });
  // The writer: batches come and go ahead of the stable keys and across the array (tombstones,
  // their cleanup, rebuilds), every 50th batch is big enough to grow the array, and the stable
  // entries the readers hold are replaced and retired all along.
  const std::size_t rebuilds_before = index.rebuilds();
  // Until the readers have had a fair share of the run, however the threads are scheduled.
  for (int round = 0; round < 3000 || reads.load(std::memory_order_relaxed) < 200'000; ++round) {
    churn_in(round % 50 == 0 ? 64 : 3);
    rotate_front();
    for (std::uint64_t i = round % 4; i < kStable; i += 4) {
      Entry* fresh = entry(stable[i].load()->hash);
      index.replace(stable[i], fresh);
      retire_entry(stable[i].exchange(fresh));
    }
    churn_out(kKept);
    tiercache::engine::reclaim_if_over_budget();
  }
  stop = true;
  for (auto& r : readers) r.join();
  const std::size_t rebuilds = index.rebuilds() - rebuilds_before;
  INFO(reads.load() << " reads, " << rebuilds << " rebuilds");
  CHECK(rebuilds >= 5);
  CHECK(misses.load() == 0);
  churn_out(0);
  for (auto& e : stable) {
    index.erase(e);
    destroy_entry(e);
  }
  for (Entry* e : front) {
    index.erase(e);
    destroy_entry(e);
  }
  tiercache::engine::reclaim_retired_now();
}

TEST_CASE("a full index under churn keeps two cells an entry, not the next power of two's",
          "[index]") {
  // A full shard evicts one entry per insert; the erased cells turn into tombstones until a
  // rebuild clears them. The rebuild sizes the array for what it holds (twice the live entries),
  // as the memory charged per entry assumes: rounded up to a power of two it took up to four
  // cells an entry (700 entries: 2048 cells where the first array had 1024).
  constexpr std::size_t kEntries = 700;
  EntryIndex index(kEntries);
  const std::size_t first_capacity = index.capacity();
  CHECK(first_capacity * 3 >= (kEntries + 1) * 4);  // room for them, and the add that evicts
  std::vector<Entry*> held;
  std::uint64_t next = 0;
  const auto add = [&] {
    const std::uint64_t n = next++;
    held.push_back(entry(XXH3_64bits(&n, sizeof n)));
    index.reserve_one_more();
    index.insert(held.back());
  };
  for (std::size_t i = 0; i < kEntries; ++i) add();
  CHECK(index.rebuilds() == 0);  // sized for them up front
  for (std::size_t i = 0; i < 20 * kEntries; ++i) {
    add();
    index.erase(held.front());
    destroy_entry(held.front());  // never published to a reader
    held.erase(held.begin());
  }
  INFO(index.rebuilds() << " rebuilds, " << index.capacity() << " cells, first " << first_capacity);
  CHECK(index.rebuilds() > 0);
  CHECK(index.capacity() <= 2 * (kEntries + 1));
  for (Entry* e : held) CHECK(index.find(e->hash) == e);
  for (Entry* e : held) {
    index.erase(e);
    destroy_entry(e);
  }
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

TEST_CASE("an entry's key compare finds a difference at any position of any length", "[index]") {
  for (std::size_t n = 0; n <= 40; ++n) {
    std::string a(n + 8, 'x');  // bytes past n differ, and must not count
    std::string b(n + 8, 'y');
    for (std::size_t i = 0; i < n; ++i) a[i] = b[i] = static_cast<char>('a' + i % 26);
    CHECK(Entry::equal_bytes(a.data(), b.data(), n));
    for (std::size_t i = 0; i < n; ++i) {
      std::string c = a;
      c[i] ^= 1;
      INFO("length " << n << ", difference at " << i);
      CHECK_FALSE(Entry::equal_bytes(c.data(), b.data(), n));
    }
  }
}

TEST_CASE("keys chosen for their public XXH3 do not pile up in one run of a cache's index",
          "[index]") {
  // A hash flooder knows XXH3 and the index's layout (home cell = the low 32 bits scaled to the
  // array) and picks keys whose XXH3 has its low 32 bits below 2^18: with an unseeded hash, every
  // one of them starts probing at cell 0 of any index up to 16384 cells, so they form one run
  // and each find, insert and erase of them walks it: O(keys) per call instead of O(1).
  constexpr std::size_t kKeys = 1500;
  std::vector<std::string> flood;
  for (std::uint64_t i = 0; flood.size() < kKeys; ++i) {
    std::string key = "flood:" + std::to_string(i);
    if ((XXH3_64bits(key.data(), key.size()) & 0xffff'ffff) < (1u << 18))
      flood.push_back(std::move(key));
  }
  const tiercache::Options options{
      .l1 = {.max_bytes = 1 << 20, .max_value_bytes = 1024, .shards = 1}};
  tiercache::Cache attacked = test::open_cache(options);
  tiercache::Cache honest = test::open_cache(options);
  for (std::size_t i = 0; i < kKeys; ++i) {
    REQUIRE(attacked.set(test::ctx(), flood[i], "v"));
    REQUIRE(honest.set(test::ctx(), "honest:" + std::to_string(i), "v"));
  }
  REQUIRE(attacked.stats().entries == kKeys);  // nothing evicted: the index holds them all
  REQUIRE(honest.stats().entries == kKeys);
  const std::size_t attacked_probe = tiercache::CacheTestAccess::longest_probe(attacked);
  const std::size_t honest_probe = tiercache::CacheTestAccess::longest_probe(honest);
  INFO("longest probe: chosen keys " << attacked_probe << ", ordinary keys " << honest_probe);
  // An index under 1/4 full: ordinary keys' longest probe is a handful of cells.
  CHECK(honest_probe < 64);
  CHECK(attacked_probe < 64);
  for (const std::string& key : flood) CHECK(attacked.get(test::ctx(), key).value() == "v");
  CHECK(test::invariants_hold(attacked));
  // The seed is each cache's own: one learnt (a timing leak, a core dump) opens no other cache.
  int same = 0;
  for (const std::string& key : flood)
    same += tiercache::CacheTestAccess::hash_of(attacked, key) ==
            tiercache::CacheTestAccess::hash_of(honest, key);
  CHECK(same == 0);
}
