// Admission in front of the main CLOCK (engine/l1/clock_ring.hpp): the frequency sketch, the
// contest between a window candidate and the main victim, and what an attacker can do to it.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "engine/l1/clock_ring.hpp"
#include "engine/l1/frequency_sketch.hpp"
#include "tests/support/test_support.hpp"

using tiercache::Cache;
using tiercache::engine::ClockRing;
using tiercache::engine::Entry;
using tiercache::engine::FrequencySketch;
using tiercache::engine::kSketchMaxCount;

namespace {

// Distinct, well-spread 64-bit hashes for key numbers.
std::uint64_t hash_of(std::uint64_t i) {
  i += 0x9e3779b97f4a7c15ull;
  i = (i ^ (i >> 30)) * 0xbf58476d1ce4e5b9ull;
  i = (i ^ (i >> 27)) * 0x94d049bb133111ebull;
  return i ^ (i >> 31);
}

// A ClockRing with a table beside it, as a shard drives it: get() bumps the hit count, a miss
// adds and evicts down to `capacity`.
class RingCache {
 public:
  RingCache(std::size_t capacity, std::uint64_t seed) : capacity_(capacity), ring_(seed) {
    ring_.reserve(capacity);
  }
  ~RingCache() {
    for (auto& [k, e] : entries_) tiercache::engine::destroy_entry(e);
  }
  RingCache(const RingCache&) = delete;
  RingCache& operator=(const RingCache&) = delete;

  // true on a hit. A new entry expires at `expires_at_ms`; a `load_time_code` other than 0 makes
  // it a loaded value (one the ring's stale grace applies to).
  bool access(std::uint64_t key, std::uint64_t expires_at_ms = tiercache::engine::kNeverExpires,
              std::uint8_t load_time_code = 0) {
    if (auto it = entries_.find(key); it != entries_.end()) {
      it->second->record_hit();
      return true;
    }
    add(key, expires_at_ms, load_time_code, nullptr);
    return false;
  }
  // A miss on `key` that evicts with `keep` as the entry that must stay (a resident that made
  // room necessary, as a set that grows a value does), not the new entry.
  void add_keeping(std::uint64_t key, std::uint64_t keep) {
    add(key, tiercache::engine::kNeverExpires, 0, entries_.at(keep));
  }
  // A set of a key the cache holds: a new entry in the old one's place.
  void rewrite(std::uint64_t key) {
    Entry* old = entries_.at(key);
    Entry* fresh = tiercache::engine::make_value_entry(old->hash, old->key(), "w",
                                                       tiercache::engine::kNeverExpires);
    ring_.replace(old, fresh);
    entries_[key] = fresh;
    tiercache::engine::destroy_entry(old);
  }
  void set_now(std::uint64_t ms) { now_ms_ = ms; }
  bool holds(std::uint64_t key) const { return entries_.contains(key); }
  bool in_main(std::uint64_t key) const {
    return (entries_.at(key)->ring_pos & tiercache::engine::kWindowBit) == 0;
  }
  const ClockRing& ring() const { return ring_; }
  ClockRing& ring() { return ring_; }

 private:
  void add(std::uint64_t key, std::uint64_t expires_at_ms, std::uint8_t load_time_code,
           const Entry* keep) {
    const std::string name = std::to_string(key);
    Entry* e = tiercache::engine::make_value_entry(hash_of(key), name, "v", expires_at_ms, 0,
                                                   load_time_code);
    ring_.add(e);
    entries_[key] = e;
    while (entries_.size() > capacity_) {
      const ClockRing::Victim v = ring_.next_victim(now_ms_, keep != nullptr ? keep : e);
      REQUIRE(v.entry != nullptr);
      REQUIRE(v.entry != keep);
      ring_.remove(v.entry);
      entries_.erase(std::stoull(std::string(v.entry->key())));
      tiercache::engine::destroy_entry(v.entry);
    }
  }

  std::size_t capacity_;
  std::uint64_t now_ms_ = 0;
  ClockRing ring_;
  std::unordered_map<std::uint64_t, Entry*> entries_;
};

// The set-up of the tests of a main victim that stays under the hand. Fills `cache` (of
// `capacity`) with twice as many keys, each made with `expires_at_ms` and `load_time_code`, then
// makes the even keys of the main CLOCK established (rewritten 8 times, without expiry) and
// returns the odd ones, seen once. The first established resident the hand meets then wins every
// contest against a newcomer seen no more than twice.
std::vector<std::uint64_t> established_and_seen_once(
    RingCache& cache, std::size_t capacity,
    std::uint64_t expires_at_ms = tiercache::engine::kNeverExpires,
    std::uint8_t load_time_code = 0) {
  for (std::uint64_t k = 0; k < 2 * capacity; ++k) cache.access(k, expires_at_ms, load_time_code);
  std::vector<std::uint64_t> seen_once;
  for (std::uint64_t k = 0; k < 2 * capacity; ++k) {
    if (!cache.holds(k) || !cache.in_main(k)) continue;
    if (k % 2 == 0) {
      for (int n = 0; n < 8; ++n) cache.rewrite(k);
    } else {
      seen_once.push_back(k);
    }
  }
  REQUIRE(seen_once.size() >= 40);
  return seen_once;
}

// Keys 1'000'000 on: `count` newcomers each seen twice (added, then rewritten), which beat a
// resident seen once but not an established one.
void add_newcomers_seen_twice(RingCache& cache, std::size_t count) {
  for (std::uint64_t k = 1'000'000; k < 1'000'000 + count; ++k) {
    cache.access(k);
    if (cache.holds(k)) cache.rewrite(k);
  }
}

std::size_t held_of(const RingCache& cache, const std::vector<std::uint64_t>& keys) {
  std::size_t held = 0;
  for (const std::uint64_t k : keys) held += cache.holds(k);
  return held;
}

}  // namespace

TEST_CASE("the sketch counts a key's sightings up to its cap; an unseen key counts 0",
          "[admission]") {
  FrequencySketch sketch(42);
  sketch.ensure_capacity(1024);
  for (std::uint64_t k = 0; k < 16; ++k)
    for (std::uint64_t n = 0; n < k; ++n) sketch.increment(hash_of(k));
  // 16 keys in 8192 counters: no key shares all four of its counters with another here (the seed
  // is fixed, so this is a fact about these keys, not a chance).
  for (std::uint64_t k = 0; k < 16; ++k) CHECK(sketch.estimate(hash_of(k)) == k);
  for (int n = 0; n < 40; ++n) sketch.increment(hash_of(3));
  CHECK(sketch.estimate(hash_of(3)) == kSketchMaxCount);
  CHECK(sketch.estimate(hash_of(1000)) == 0);
  CHECK(sketch.table_bytes() <= 4096);  // 4 bytes per entry it is sized for
}

TEST_CASE("the sketch halves every count after sample_size() increments", "[admission]") {
  FrequencySketch sketch(7);
  sketch.ensure_capacity(256);
  const std::uint64_t hot = hash_of(1);
  for (int n = 0; n < 12; ++n) sketch.increment(hot);
  REQUIRE(sketch.estimate(hot) >= 12);
  // Other keys' increments only raise the hot key's counters, until the halving.
  std::uint64_t other = 100;
  while (sketch.halvings() == 0) sketch.increment(hash_of(other++));
  CHECK(other - 100 < 2 * sketch.sample_size());
  const unsigned after = sketch.estimate(hot);
  CHECK(after >= 6);                    // halved, not cleared: every counter was >= 12
  CHECK(after <= kSketchMaxCount / 2);  // every counter was <= 15
}

TEST_CASE("a full ring keeps the history it was sized for: the add that evicts resizes nothing",
          "[admission]") {
  constexpr std::size_t kCapacity = 500;
  RingCache cache(kCapacity, 11);
  for (std::uint64_t k = 0; k < kCapacity; ++k) cache.access(k);
  const std::size_t sketch_bytes = cache.ring().sketch().table_bytes();
  const std::size_t ghost_bytes = cache.ring().sizer().ghost_bytes();
  // One more key: the ring holds kCapacity + 1 until the caller evicts, as a shard does.
  cache.access(kCapacity);
  CHECK(cache.ring().sketch().table_bytes() == sketch_bytes);
  CHECK(cache.ring().sizer().ghost_bytes() == ghost_bytes);
  // A resize would have started the sketch from zero: the residents still count their sighting.
  std::size_t unseen = 0;
  for (std::uint64_t k = 0; k < kCapacity; ++k)
    unseen += cache.ring().sketch().estimate(hash_of(k)) == 0;
  CHECK(unseen == 0);
}

TEST_CASE("a ring that holds more than it was sized for is resized once it holds twice as many",
          "[admission]") {
  ClockRing ring(5);
  ring.reserve(100);
  std::vector<Entry*> entries;
  auto add = [&] {
    const std::string key = std::to_string(entries.size());
    entries.push_back(tiercache::engine::make_value_entry(hash_of(entries.size()), key, "v",
                                                          tiercache::engine::kNeverExpires));
    ring.add(entries.back());
  };
  while (entries.size() < 201) add();
  CHECK(ring.sketch().capacity_entries() == 100);
  CHECK(ring.sizer().capacity_entries() == 100);
  add();  // the ring held 201 before this add
  CHECK(ring.sketch().capacity_entries() == 201);
  CHECK(ring.sizer().capacity_entries() == 201);
  for (Entry* e : entries) tiercache::engine::destroy_entry(e);
}

TEST_CASE("the ring stays consistent through adds, sets, purges and evictions",
          "[admission][eviction]") {
  std::mt19937_64 rng(test::seed());
  RingCache cache(300, rng());
  std::vector<std::uint64_t> held;
  for (int i = 0; i < 200000; ++i) {
    // Skewed keys, so the window, the main CLOCK and the contest all see traffic.
    const std::uint64_t key = rng() % 8 == 0 ? rng() % 5000 : rng() % 400;
    cache.access(key);
    if (rng() % 16 == 0 && cache.holds(key)) cache.rewrite(key);
    if (i % 1000 == 0) REQUIRE(cache.ring().positions_consistent());
  }
  CHECK(cache.ring().positions_consistent());
  CHECK(cache.ring().window_entries() + cache.ring().main_entries() == 300);
  CHECK(cache.ring().admitted() > 0);
  CHECK(cache.ring().rejected() > 0);
}

TEST_CASE("a main victim that wins its contest meets the next candidate too",
          "[admission][eviction]") {
  // W-TinyLFU's probation victim stays the victim until a candidate beats it. Half the main
  // CLOCK is made established (rewritten 8 times), half is seen once; then newcomers seen twice
  // arrive, which beat a resident seen once but not an established one. If the hand moved on
  // past a victim that won, every resident seen once would fall to them in turn; staying, the
  // hand stops at the first established resident it meets and the others keep their places.
  constexpr std::size_t kCapacity = 200;
  std::mt19937_64 rng(test::seed());
  RingCache cache(kCapacity, rng());
  const std::vector<std::uint64_t> seen_once = established_and_seen_once(cache, kCapacity);
  const std::uint64_t admitted_before = cache.ring().admitted();
  add_newcomers_seen_twice(cache, 2 * kCapacity);
  const std::size_t kept = held_of(cache, seen_once);
  INFO("residents seen once: " << seen_once.size() << ", kept " << kept << ", admitted "
                               << cache.ring().admitted() - admitted_before);
  // Measured: all but the few ahead of the first established one (0 when the hand moved on).
  CHECK(kept >= seen_once.size() - 10);
  CHECK(cache.ring().positions_consistent());
}

TEST_CASE("expired main entries are reclaimed while the hand stays on a victim that wins",
          "[admission][eviction][ttl]") {
  // As above, the hand stops at the first established resident; the residents seen once have
  // expired meanwhile. They hold space that newcomers could use, and a hand that never moves
  // would never reach them: the contest looks a few slots further each time for expired ones.
  constexpr std::size_t kCapacity = 200;
  constexpr std::uint64_t kExpiresAtMs = 1000;
  std::mt19937_64 rng(test::seed());
  RingCache cache(kCapacity, rng());
  const std::vector<std::uint64_t> seen_once =
      established_and_seen_once(cache, kCapacity, kExpiresAtMs);
  cache.set_now(kExpiresAtMs + 1);
  add_newcomers_seen_twice(cache, 2 * kCapacity);
  const std::size_t kept = held_of(cache, seen_once);
  INFO("expired residents: " << seen_once.size() << ", still held " << kept);
  CHECK(kept == 0);
  CHECK(cache.ring().positions_consistent());
}

TEST_CASE("a lost contest's look for expired entries spares a value within its stale grace",
          "[admission][eviction][ttl]") {
  // As in the test above, but the residents seen once are loaded values past their expiry and
  // within the stale grace: sweep() does not take them as expired, so neither may the look past
  // the hand, and they stay as they would with no expiry at all (a few may lose their place to
  // a newcomer the sketch overestimates).
  constexpr std::size_t kCapacity = 200;
  constexpr std::uint64_t kExpiresAtMs = 1000;
  constexpr std::uint64_t kStaleGraceMs = 10'000;
  constexpr std::uint8_t kLoaded = 1;  // any load time code other than 0
  std::mt19937_64 rng(test::seed());
  RingCache cache(kCapacity, rng());
  cache.ring().set_stale_grace(kStaleGraceMs);
  const std::vector<std::uint64_t> seen_once =
      established_and_seen_once(cache, kCapacity, kExpiresAtMs, kLoaded);
  cache.set_now(kExpiresAtMs + kStaleGraceMs / 2);
  // Newcomers seen once: no more frequent than any resident, they lose every contest.
  for (std::uint64_t k = 1'000'000; k < 1'000'000 + 2 * kCapacity; ++k) cache.access(k);
  const std::size_t kept = held_of(cache, seen_once);
  INFO("residents within their stale grace: " << seen_once.size() << ", kept " << kept);
  CHECK(kept >= seen_once.size() - 10);
  CHECK(cache.ring().positions_consistent());
}

TEST_CASE("a lost contest's look for expired entries never takes the entry that must stay",
          "[admission][eviction][ttl]") {
  // An expired resident of the main CLOCK is `keep` (a set that grew it made room necessary):
  // every other expired resident is reclaimed by the look past the hand, that one stays.
  constexpr std::size_t kCapacity = 200;
  constexpr std::uint64_t kExpiresAtMs = 1000;
  std::mt19937_64 rng(test::seed());
  RingCache cache(kCapacity, rng());
  const std::vector<std::uint64_t> expired =
      established_and_seen_once(cache, kCapacity, kExpiresAtMs);
  const std::uint64_t keep = expired.front();
  cache.set_now(kExpiresAtMs + 1);
  for (std::uint64_t k = 1'000'000; k < 1'000'000 + 2 * kCapacity; ++k) cache.add_keeping(k, keep);
  std::size_t others_held = 0;
  for (const std::uint64_t k : expired) others_held += k != keep && cache.holds(k);
  INFO("expired residents: " << expired.size() << ", others still held " << others_held);
  CHECK(cache.holds(keep));
  CHECK(others_held == 0);
  CHECK(cache.ring().positions_consistent());
}

TEST_CASE("a loop longer than the cache: admission keeps part of it where CLOCK keeps nothing",
          "[admission][eviction]") {
  // 300 keys read in order, over and over, in a cache of 200: LRU and CLOCK always evict the key
  // read next and never hit. Admission rejects newcomers no more frequent than the main victims,
  // so most of the main CLOCK stays and is hit on every turn.
  constexpr int kCapacity = 200;
  constexpr int kLoop = 300;
  Cache cache =
      test::open_cache({.l1 = {.max_bytes = 1 << 22, .max_entries = kCapacity, .shards = 1}});
  int hits = 0, reads = 0;
  for (int turn = 0; turn < 60; ++turn)
    for (int i = 0; i < kLoop; ++i) {
      const std::string k = "loop:" + std::to_string(i);
      const bool hit = cache.get(test::ctx(), k).has_value();
      if (!hit) REQUIRE(cache.set(test::ctx(), k, "v"));
      if (turn >= 30) {
        ++reads;
        hits += hit;
      }
    }
  const double ratio = double(hits) / reads;
  INFO("hit ratio on the loop " << ratio << " (optimal " << double(kCapacity - 1) / kLoop << ")");
  // Measured about 0.54 (0.37 when one count more won a contest); plain CLOCK: 0.
  CHECK(ratio > 0.3);
  CHECK(test::invariants_hold(cache));
}

TEST_CASE("a loop five times the cache keeps a fixed part of it across the sketch's halvings",
          "[admission][eviction]") {
  // Every key is read once a turn, so all are equally frequent, and the sketch halves about once
  // every three turns (22-23 times in 60 over 30 seeds). Optimal is to keep any 199 keys for good
  // (hit ratio 0.199). A newcomer seen once since the last halving beats a resident last seen
  // before it by one count; if one count were enough, most contests would evict a resident just
  // before its turn (measured 0.05-0.08 over 20 seeds). An established resident gives way only to
  // a candidate ahead by two: 0.163-0.169, 0.173-0.176 with a victim that wins staying under the
  // hand, and 0.191-0.196 with the sketch's sizes as they are now (30 seeds).
  constexpr std::size_t kCapacity = 200;
  constexpr std::uint64_t kLoop = 1000;
  std::mt19937_64 rng(test::seed());
  RingCache cache(kCapacity, rng());
  int hits = 0, reads = 0;
  for (int turn = 0; turn < 60; ++turn)
    for (std::uint64_t k = 0; k < kLoop; ++k) {
      const bool hit = cache.access(k);
      if (turn >= 30) {
        ++reads;
        hits += hit;
      }
    }
  const double ratio = double(hits) / reads;
  INFO("hit ratio on the loop " << ratio << " (optimal " << double(kCapacity - 1) / kLoop
                                << "), halvings " << cache.ring().sketch().halvings());
  CHECK(cache.ring().sketch().halvings() >= 15);
  CHECK(ratio > 0.12);
  CHECK(cache.ring().positions_consistent());
}

TEST_CASE("a Zipf workload keeps the hit ratio it had before the main hand stayed on a victim",
          "[admission][eviction]") {
  // Reads drawn independently from Zipf(0.9) over 20000 keys, a cache of 1000 (5 %): the best a
  // policy can do is hold the 1000 most frequent keys, hit ratio 0.602; LRU 0.476. With the
  // window's share held fixed, a main victim that stays under the hand while it wins is better
  // (1 %: 0.570 -> 0.593); but it rejects more candidates that come back, the ghosts read that
  // as a window too small, and the window grows to about half the ring (from under a fifth):
  // 0.548 -> 0.532; with ghosts for 0.25 x entries evictions, to most of the ring: 0.505. A main
  // ghost worth up to 5 window ghosts instead of 3 holds it back: 0.541-0.548.
  constexpr std::size_t kCapacity = 1000;
  constexpr int kKeys = 20'000;
  constexpr int kRequests = 600'000;
  std::mt19937_64 rng(test::seed());
  RingCache cache(kCapacity, rng());
  std::vector<double> cdf(kKeys);
  double total = 0;
  for (int i = 0; i < kKeys; ++i) cdf[i] = total += 1.0 / std::pow(i + 1, 0.9);
  std::uniform_real_distribution<double> uniform(0, total);
  int hits = 0, reads = 0;
  for (int i = 0; i < kRequests; ++i) {
    const auto rank =
        static_cast<std::uint64_t>(std::ranges::lower_bound(cdf, uniform(rng)) - cdf.begin());
    const bool hit = cache.access(rank);
    if (i >= kRequests / 10) {
      ++reads;
      hits += hit;
    }
  }
  const double ratio = double(hits) / reads;
  INFO("hit ratio " << ratio << ", window " << cache.ring().window_entries() << " of "
                    << kCapacity);
  // Two points below what it had: a policy change may trade a little here for the traces.
  CHECK(ratio > 0.53);
  CHECK(cache.ring().positions_consistent());
}

TEST_CASE("hash flooding cannot keep new hot keys out of the cache", "[admission]") {
  // The attacker makes every main entry look as frequent as the sketch can count, which is what
  // keys forged to collide with them in the sketch would do (here it writes its own resident
  // keys over and over, which has the same effect without knowing the seed). A candidate then
  // never counts more than the victim, and a deterministic TinyLFU would reject every newcomer:
  // new hot keys would live only in the window and miss on almost every read once it is small.
  // Two defences let them in: the random admission of warm candidates (coin alone, with the
  // window at 1 %: 0.88, 39 of 40) and the ghosts, which see rejected hot keys come back and grow
  // the window until it holds them.
  constexpr std::size_t kCapacity = 200;
  constexpr std::uint64_t kHot = 40;
  constexpr std::uint64_t kAttackerBase = 1'000'000;
  std::mt19937_64 rng(test::seed());
  RingCache cache(kCapacity, rng());
  // Twice the capacity, so the window has handed its overflow to the main CLOCK (which takes
  // candidates without a contest only while it is below its share) and contests have begun.
  for (std::uint64_t k = 0; k < 2 * kCapacity; ++k) cache.access(kAttackerBase + k);
  for (std::uint64_t k = 0; k < 2 * kCapacity; ++k) cache.access(kAttackerBase + k);
  const auto pump = [&] {
    for (std::uint64_t k = 0; k < 2 * kCapacity; ++k)
      if (cache.holds(kAttackerBase + k))
        for (int n = 0; n < 2; ++n) cache.rewrite(kAttackerBase + k);
  };
  for (int n = 0; n < 6; ++n) pump();

  int hits = 0, reads = 0;
  for (int round = 0; round < 300; ++round) {
    for (std::uint64_t k = 0; k < kHot; ++k) {
      // Before every read: a halving of the sketch never leaves the victims below a hot key.
      pump();
      const bool hit = cache.access(k);
      if (round >= 150) {
        ++reads;
        hits += hit;
      }
    }
  }
  std::uint64_t hot_held = 0;
  for (std::uint64_t k = 0; k < kHot; ++k) hot_held += cache.holds(k);
  const double ratio = double(hits) / reads;
  INFO("hot keys' hit ratio " << ratio << ", held " << hot_held << " of " << kHot << ", admitted "
                              << cache.ring().admitted() << ", window "
                              << cache.ring().window_entries());
  CHECK(ratio > 0.8);
  CHECK(hot_held >= kHot * 9 / 10);
  CHECK(cache.ring().positions_consistent());
}
