// engine/l1/entry_index.hpp — one shard's map from key hash to entry: open addressing, one
// writer at a time, readers without locks.
//
//   Array { capacity; atomic<uintptr_t> cells[capacity] }
//   cell: 0 empty | 1 erased | tag (hash bits 32..47) in bits 48..63, Entry* in bits 0..47
//
// A reader, inside a ReadSection, probes linearly from the key's home cell (hash bits 0..31
// scaled to the capacity: any capacity, not only powers of two, so an array is sized to its
// entries) and stops at an empty cell.
// The tag lets it pass other keys' cells without touching their entries, so a hit costs one
// miss for the cells and one for the entry, and a probe rarely leaves the first line of cells.
// (User-space pointers on x86-64 and AArch64 Linux are below 2^48: the kernel maps higher only
// when a program asks for it. Heap tagging, AArch64 MTE with glibc.mem.tagging or HWASan, puts
// tags in the top byte: the index cannot hold such pointers, docs/architecture.md.)
//
// The writer, the holder of the shard's mutex, changes a cell with one release store, so a
// reader sees the old entry or the new one, never a mix. An erased cell stays a tombstone that
// probes pass, unless the next cell is empty (then it and the tombstones before it become
// empty: no probe can need to pass them). Used cells (live + tombstones) stay at most 3/4 of
// the array, so every probe ends. Past that the writer builds a new array (twice the live
// entries, at least the first size: a full shard under churn keeps 2 cells an entry, where
// rounding up to a power of two kept up to 4), publishes it in one store and retires the old one.
//
// The key of the index is the 64-bit hash: two keys with one hash share a cell, and the later
// write wins, as an eviction would. Callers compare the full key.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "engine/l1/entry.hpp"

namespace tiercache::engine {

class EntryIndex {
 public:
  // Sized so that `expected_entries` fit without growing.
  explicit EntryIndex(std::size_t expected_entries);
  ~EntryIndex();  // frees the array; the entries are the caller's
  EntryIndex(const EntryIndex&) = delete;
  EntryIndex& operator=(const EntryIndex&) = delete;

  // The entry whose hash is `hash`, or nullptr. Lock-free: call inside a ReadSection (the entry
  // stays valid until it closes) or as the writer.
  Entry* find(std::uint64_t hash) const noexcept {
    const Array* a = array_.load(kAcquire);
    const std::uintptr_t tag = tag_of(hash);
    // At most one lap: a key there for the whole probe sits in one cell, which a lap passes.
    // (The writer always leaves an empty cell, so a lap is only ever cut short by one.)
    std::size_t i = home(hash, a->capacity);
    for (std::size_t probed = 0; probed < a->capacity; ++probed, i = next(i, a->capacity)) {
      const std::uintptr_t s = a->cells()[i].load(kAcquire);
      if (s == kEmpty) return nullptr;
      if ((s & kTagMask) == tag && s != kErased) {
        Entry* e = entry_of(s);
        if (e->hash == hash) return e;
      }
    }
    return nullptr;
  }

  // Writer only (the caller serializes them).
  // Makes room for one insert (may rebuild, and throw bad_alloc); call before changing anything
  // else, so that a failure leaves the shard as it was.
  void reserve_one_more();
  // Adds `e`; no entry with its hash is in the index; reserve_one_more() was called.
  void insert(Entry* e) noexcept;
  // Puts `fresh` in `old`'s cell; they have one hash.
  void replace(const Entry* old, Entry* fresh) noexcept;
  // Takes `e` out.
  void erase(const Entry* e) noexcept;

  template <class F>
  void for_each(F&& f) const {
    const Array* a = array_.load(kAcquire);
    for (std::size_t i = 0; i < a->capacity; ++i) {
      const std::uintptr_t s = a->cells()[i].load(kAcquire);
      if (s != kEmpty && s != kErased) f(entry_of(s));
    }
  }
  std::size_t size() const noexcept { return live_; }
  std::size_t capacity() const noexcept { return array_.load(kRelaxed)->capacity; }
  // Arrays built since construction (growth, or a clean-up of tombstones); writer only.
  std::size_t rebuilds() const noexcept { return rebuilds_; }
  // The most cells a find() of an entry in the index probes past its first: how long the longest
  // run of keys sharing cells has grown. Writer only; for tests.
  std::size_t longest_probe() const noexcept;

 private:
  struct Array {
    std::size_t capacity;
    std::atomic<std::uintptr_t>* cells() noexcept {
      return reinterpret_cast<std::atomic<std::uintptr_t>*>(this + 1);
    }
    const std::atomic<std::uintptr_t>* cells() const noexcept {
      return reinterpret_cast<const std::atomic<std::uintptr_t>*>(this + 1);
    }
  };

  static constexpr std::uintptr_t kEmpty = 0;
  static constexpr std::uintptr_t kErased = 1;
  static constexpr std::uintptr_t kTagMask = ~std::uintptr_t{0} << 48;
  static_assert(sizeof(std::uintptr_t) == 8, "cells hold a 48-bit pointer and a 16-bit tag");

  static std::uintptr_t tag_of(std::uint64_t hash) noexcept { return (hash << 16) & kTagMask; }
  // Bits 0..31 of the hash scaled to [0, capacity) (Lemire's multiply-shift): bits the shard
  // (the top ones) and the tag do not use. In 128 bits, so that no capacity overflows it (an
  // array past 2^32 cells, 32 GiB, has its homes 1 in capacity / 2^32 cells apart).
  static std::size_t home(std::uint64_t hash, std::size_t capacity) noexcept {
    return static_cast<std::size_t>(
        (static_cast<unsigned __int128>(hash & 0xffff'ffffu) * capacity) >> 32);
  }
  static std::size_t next(std::size_t i, std::size_t capacity) noexcept {
    return i + 1 == capacity ? 0 : i + 1;
  }
  static std::size_t previous(std::size_t i, std::size_t capacity) noexcept {
    return (i == 0 ? capacity : i) - 1;
  }
  static Entry* entry_of(std::uintptr_t cell) noexcept {
    return reinterpret_cast<Entry*>(cell & ~kTagMask);
  }
  static std::uintptr_t cell_for(const Entry* e) noexcept;
  static Array* make_array(std::size_t capacity);
  static void free_array(void* array) noexcept;
  static std::size_t array_bytes(std::size_t capacity) noexcept;

  // The writer's view: the cell holding `e`.
  std::size_t position_of(const Entry* e) const noexcept;
  // Rebuilds into a fresh array sized for live_ + 1 entries and retires the old one.
  void rebuild();

  // Every reader of the shard loads this line, so the writer's fields live on the next one: a
  // write to the shard must not take the line away from its readers.
  alignas(64) std::atomic<Array*> array_;
  alignas(64) std::size_t min_capacity_;
  std::size_t live_ = 0;  // entries; writer only
  std::size_t used_ = 0;  // entries and tombstones; writer only
  std::size_t rebuilds_ = 0;
};

}  // namespace tiercache::engine
