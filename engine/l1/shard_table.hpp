// engine/shard_table.hpp — one shard of L1: a lock-free table, its CLOCK ring and byte budget.
//
//   cells (libcds FeldmanHashSet over gc::DHP, keyed by the 64-bit key hash)
//     ├─▶ Entry{value}    in the ring, charged key + value + kEntryOverheadBytes
//     └─▶ Entry{loading}  not in the ring, not charged; owns a ref to its PromiseSlot
//
// Readers: read() takes no lock. It follows one cell to one entry under a DHP guard, compares
// the full key (the table stores only the hash, so two keys with one hash share a cell: the later
// write wins, as an eviction would), and copies out while the guard keeps the entry alive.
// Writers: every change (store, erase, claim, fill, drop, evict) holds the shard's mutex, so the
// ring, the byte count and the cells change together and the bound holds whenever the mutex is
// free. An entry leaves the ring before its cell, and is read before it is retired: retirement
// may free it at once.
//
// Why FeldmanHashSet: its cells array is the hash array (no bucket list to walk), update()
// swaps an entry in one CAS, and unlink() removes only the entry we name. Why DHP and not HP:
// a server's thread count is unbounded; HP's is fixed at construction.
#pragma once

#include <cds/intrusive/feldman_hashset_dhp.h>

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>

#include "engine/base/memory_order.hpp"
#include "engine/l1/clock_ring.hpp"
#include "engine/l1/coarse_clock.hpp"
#include "engine/l1/entry.hpp"
#include "engine/miss/promise_slot.hpp"

namespace tiercache::engine {

// Bytes an entry costs beyond its key and value, charged against the budget: the 32-byte
// header, malloc's 8-byte chunk header and ~8 of rounding, 8 for its ring slot, ~16 for its
// share of the head cells (1-2 per expected entry) and ~8 for collision arrays. The bench's RSS
// figure (docs/performance.md) is the check on this estimate.
inline constexpr std::size_t kEntryOverheadBytes = sizeof(Entry) + 16 + 8 + 16 + 8;

// libcds 2.3.3 allocates a FeldmanHashSet array node as a block of pointers but frees it as one
// node, a size mismatch for sized delete (ASan: new-delete-type-mismatch). Freeing unsized is
// correct for both.
template <class T>
struct ArrayNodeAllocator {
  using value_type = T;
  ArrayNodeAllocator() = default;
  template <class U>
  ArrayNodeAllocator(const ArrayNodeAllocator<U>&) noexcept {}
  T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T))); }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p); }
  friend bool operator==(const ArrayNodeAllocator&, const ArrayNodeAllocator&) { return true; }
};

struct ShardLimits {
  std::size_t max_bytes;         // charged bytes the shard may hold
  std::size_t max_entries;       // 0: no bound on the count
  unsigned head_bits;            // log2 of the cells in the table's first level
  std::size_t expected_entries;  // sizes the ring up front, so it never holds 2x slack
};

// A get_or_load miss, decided under the writer lock.
struct Claim {
  enum class Kind { hit, wait, lead } kind;
  std::string value;  // hit: the value found
  PromiseSlot* slot;  // wait, lead: one reference owned by the caller
};

class ShardTable {
 public:
  explicit ShardTable(const ShardLimits& limits);
  ~ShardTable();
  ShardTable(const ShardTable&) = delete;
  ShardTable& operator=(const ShardTable&) = delete;

  // Lock-free. If a fresh value entry for `key` is there: records the hit, calls
  // f(value) while the entry is guarded (the view dies with f) and returns true.
  template <class F>
  bool read(std::uint64_t hash, std::string_view key, F&& f) {
    bool hit = false;
    table_.find(hash, [&](Entry& e) {
      if (e.kind != EntryKind::value || !e.has_key(key)) return;
      // Entries without a TTL spare the clock read.
      if (e.expires_at_ms != kNeverExpires && e.is_expired(coarse_now_ms())) return;
      e.record_hit();
      f(e.value());
      hit = true;
    });
    return hit;
  }

  // Publishes `fresh` (a value entry), replacing what the cell held, then evicts to fit.
  // `then_locked()` runs before the writer lock is released: whatever it queues is ordered
  // like the cell changes (L2 gets a key's writes in the order L1 took them).
  template <class F>
  void store(Entry* fresh, F&& then_locked) {
    std::lock_guard lock(writer_mu_);
    store_locked(fresh);
    then_locked();
  }
  // Removes the entry for `key`, value or loading; then_locked() runs either way.
  template <class F>
  void erase(std::uint64_t hash, std::string_view key, F&& then_locked) {
    std::lock_guard lock(writer_mu_);
    erase_locked(hash, key);
    then_locked();
  }

  // The slow path of get_or_load: a fresh value, a load to wait on, or a new load to lead.
  Claim claim(std::uint64_t hash, std::string_view key);
  // The leader's value: if the cell still holds `slot`'s loading entry, `fresh` replaces it,
  // then_locked() runs and true is returned; otherwise (purged or overwritten meanwhile, S4)
  // `fresh` is freed and nothing runs.
  template <class F>
  bool fill(std::uint64_t hash, const PromiseSlot* slot, Entry* fresh, F&& then_locked) {
    std::lock_guard lock(writer_mu_);
    if (!fill_locked(hash, slot, fresh)) return false;
    then_locked();
    return true;
  }
  // The leader's load failed: removes `slot`'s loading entry if the cell still holds it.
  void drop(std::uint64_t hash, const PromiseSlot* slot);
  // The leader leaves without a value (its ctx ended): a waiter takes over, or the entry goes.
  void abandon(std::uint64_t hash, PromiseSlot* slot);

  std::size_t size_bytes() const noexcept { return bytes_.load(kRelaxed); }
  std::size_t entry_count() const noexcept { return entries_.load(kRelaxed); }
  std::uint64_t evictions() const noexcept { return evictions_.load(kRelaxed); }
  std::uint64_t expirations() const noexcept { return expirations_.load(kRelaxed); }
  // Recounts bytes and entries from the ring, checks every ring entry is the one in its cell and
  // the bounds hold. For tests and fuzz targets; takes the writer lock.
  bool check_invariants() const;

 private:
  struct Traits : cds::intrusive::feldman_hashset::traits {
    struct hash_accessor {
      const std::uint64_t& operator()(const Entry& e) const noexcept { return e.hash; }
    };
    struct compare {
      int operator()(std::uint64_t a, std::uint64_t b) const noexcept {
        return a < b ? -1 : (a > b ? 1 : 0);
      }
    };
    struct disposer {
      void operator()(Entry* e) const noexcept { destroy_entry(e); }
    };
    // The shard counts its own entries under the lock; libcds's counter would be one more
    // shared line written per insert.
    using item_counter = cds::atomicity::empty_item_counter;
    using node_allocator = ArrayNodeAllocator<int>;
  };
  using Table = cds::intrusive::FeldmanHashSet<cds::gc::DHP, Entry, Traits>;

  static std::size_t charge(const Entry& e) noexcept {
    return e.key_bytes + e.value_bytes + kEntryOverheadBytes;
  }
  void store_locked(Entry* fresh);
  void erase_locked(std::uint64_t hash, std::string_view key);
  bool fill_locked(std::uint64_t hash, const PromiseSlot* slot, Entry* fresh);
  Entry* find_locked(std::uint64_t hash);
  // The cell's entry if it is `slot`'s loading entry (the leader's identity check, S4).
  Entry* find_loading_locked(std::uint64_t hash, const PromiseSlot* slot);
  // Makes `fresh` the cell's entry, keeping the ring and the counts in step with `old`.
  void replace_locked(Entry* old, Entry* fresh);
  void unlink_locked(Entry* e);
  void make_room_locked(const Entry* keep);

  const ShardLimits limits_;
  mutable std::mutex writer_mu_;
  Table table_;
  ClockRing ring_;  // guarded by writer_mu_
  // Written under writer_mu_, read by stats() without it.
  std::atomic<std::size_t> bytes_{0};
  std::atomic<std::size_t> entries_{0};
  std::atomic<std::uint64_t> evictions_{0};
  std::atomic<std::uint64_t> expirations_{0};
};

}  // namespace tiercache::engine
