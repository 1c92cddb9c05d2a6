// engine/l1/entry.hpp — one L1 table item, laid out in a single allocation.
//
//   struct Entry {                // 32 bytes, then the bytes
//     u64  hash;                  // seeded XXH3 of the key: the index's key
//     atomic<u64> expires_at_ms;  // coarse clock; kNeverExpires        } rewritten in place
//     u32  value_bytes;                                                  } under the version
//     u32  ring_pos;              // its CLOCK (bit 31: window) and slot there
//     atomic<u32> epoch;          // the coherence epoch when L1 took the value     }
//     u16  key_bytes;
//     atomic<u8> hits;            // CLOCK count, 0..3 (bumped by reads); load time code
//     EntryKind kind;
//     char bytes[];               // key, then the value, padding to 4, atomic<u32> version
//   };                            // (value); key, then a PromiseSlot* (loading); key (absent);
//                                 // as value, padding to 8, atomic<DecodedObject*> (typed_value)
//
// A lookup touches the index cell, then this one block: the hash, key and value sit together, so
// a hit costs two dependent cache misses, not node → key → value. A set of a value of the size L1
// already holds for the key may rewrite the entry in place (ShardTable::rewrite_allowed says when:
// a value entry of at most 512 bytes, not loaded, same epoch, its expiry not brought closer nor
// past) under a seqlock, and under its shard's writer lock when the cache has an L2 (without one,
// a rewrite takes the version alone): the version is odd while the writer copies, and a reader
// that saw it odd or changed copies again. The count wraps after 2^30 rewrites, as any seqlock's
// does: a reader stalled mid-copy (a stopped thread) across exactly a multiple of that many
// rewrites of one key would take a torn value for whole. A set of another size builds a new
// entry and swaps it in. Key, hash, sizes and kind never change after publication. An entry is
// freed only after it left the index and no read section can hold it (reclamation.hpp).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

#include "engine/base/memory_order.hpp"
#include "engine/l1/coarse_clock.hpp"
#include "tiercache/detail/decoded_object.hpp"

namespace tiercache::engine {

class PromiseSlot;

// The two value kinds first: a read tells a value from the rest with one compare (holds_value).
enum class EntryKind : std::uint8_t {
  value,        // holds key and value bytes; in the CLOCK ring; charged to the byte budget
  typed_value,  // a value of a TypedCache: its bytes, and the value decoded (attached by the first
                // typed read, freed with the entry); never rewritten in place, so the object
                // always matches the bytes
  loading,  // a miss being served (a load or an L2 read): the key and the PromiseSlot to wait on
  absent,   // the origin said the key does not exist (negative caching): the key only; in the
            // ring and charged like a value of 0 bytes; never rewritten, so it has no version
};

// Hits an entry's CLOCK count remembers: the hand spares it that many passes. Two bits beat one
// on the shared traces (docs/performance.md: 38 vs 36 of 42 rows <= LRU, mean gap to the best
// policy 5.6 vs 6.2 points); a cap keeps hot entries from writing their line on every hit.
inline constexpr std::uint8_t kMaxHitCount = 3;

// Entry::hits: the CLOCK count in the low bits, the load time code (early_refresh.hpp) above.
inline constexpr std::uint8_t kHitCountMask = 3;
inline constexpr unsigned kLoadTimeShift = 2;
static_assert(kMaxHitCount <= kHitCountMask);

// What a typed_value entry's object slot holds once its bytes failed to decode: later reads
// answer serialization at once instead of decoding the bytes again. Never destroyed.
inline detail::DecodedObject kUndecodable{[](detail::DecodedObject*) noexcept {}};

// Entry::version() bits.
inline constexpr std::uint32_t kVersionBusy = 1;
inline constexpr std::uint32_t kVersionDead = std::uint32_t{1} << 31;

// Position of an entry that is not in a CLOCK ring.
inline constexpr std::uint32_t kNotInRing = UINT32_MAX;

// An epoch no entry carries: stale_if_l2_down's mark for "no epoch's values may be served".
inline constexpr std::uint32_t kUntrustedEpoch = UINT32_MAX;
// The stamp of a value no read trusts: a value taken while changes may go unheard, or one
// whose changes the backend will not report (docs/architecture.md, invariant 14). The epoch
// counts up from 0 by one per loss or regain of the change stream, so it would take 2^32 - 3
// of them to reach this.
inline constexpr std::uint32_t kUnvouchedEpoch = UINT32_MAX - 2;

struct Entry {
  std::uint64_t hash;
  std::atomic<std::uint64_t> expires_at_ms;
  std::uint32_t value_bytes;
  // Written and read only under the shard's writer lock (readers never look): bit 31 says
  // window or main CLOCK (clock_ring.hpp), the low 31 bits the slot.
  std::uint32_t ring_pos;
  // The coherence epoch the value was taken in: a read trusts it only in that same epoch
  // (docs/architecture.md, invariant 14).
  std::atomic<std::uint32_t> epoch;
  std::uint16_t key_bytes;
  // Bits 0-1: the CLOCK count, bumped by reads, taken back by the hand. Bits 2-7: how long the
  // value took to load (early_refresh.hpp), set before the entry is published and never changed
  // after, so a read's racy store of the count carries it over unchanged.
  std::atomic<std::uint8_t> hits;
  EntryKind kind;

  char* bytes() noexcept { return reinterpret_cast<char*>(this + 1); }
  const char* bytes() const noexcept { return reinterpret_cast<const char*>(this + 1); }
  std::string_view key() const noexcept { return {bytes(), key_bytes}; }
  std::string_view value() const noexcept { return {bytes() + key_bytes, value_bytes}; }
  bool has_key(std::string_view k) const noexcept {
    return k.size() == key_bytes && equal_bytes(bytes(), k.data(), k.size());
  }
  // memcmp(a, b, n) == 0, inline for keys of 4 to 32 bytes (most keys): overlapping word
  // loads on each side instead of a call into libc (~35 instructions per hit).
  static bool equal_bytes(const char* a, const char* b, std::size_t n) noexcept {
    if (n > 16 && n <= 32)
      return equal_words<std::uint64_t>(a, b, 16) &&
             equal_words<std::uint64_t>(a + n - 16, b + n - 16, 16);
    if (n >= 8 && n <= 16) return equal_words<std::uint64_t>(a, b, n);
    if (n >= 4 && n < 8) return equal_words<std::uint32_t>(a, b, n);
    return std::memcmp(a, b, n) == 0;
  }
  template <class Word>
  static bool equal_words(const char* a, const char* b, std::size_t n) noexcept {
    Word a0, a1, b0, b1;
    std::memcpy(&a0, a, sizeof(Word));
    std::memcpy(&b0, b, sizeof(Word));
    std::memcpy(&a1, a + n - sizeof(Word), sizeof(Word));
    std::memcpy(&b1, b + n - sizeof(Word), sizeof(Word));
    return ((a0 ^ b0) | (a1 ^ b1)) == 0;
  }
  bool is_expired(std::uint64_t now_ms) const noexcept {
    return now_ms >= expires_at_ms.load(kRelaxed);
  }
  // A value entry's seqlock: odd (kVersionBusy) while a writer rewrites the value, expiry and
  // epoch; kVersionDead once the entry left the index (no rewrite after that); the count in the
  // bits between moves by 2 per rewrite and wraps after 2^30 of them.
  std::atomic<std::uint32_t>& version() noexcept {
    return *reinterpret_cast<std::atomic<std::uint32_t>*>(bytes() +
                                                          version_offset(key_bytes, value_bytes));
  }
  static constexpr std::size_t version_offset(std::size_t key_bytes,
                                              std::size_t value_bytes) noexcept {
    return (key_bytes + value_bytes + 3) & ~std::size_t{3};
  }
  // A typed value's decoded object: null until a typed read attached one.
  std::atomic<detail::DecodedObject*>& object() noexcept {
    return *reinterpret_cast<std::atomic<detail::DecodedObject*>*>(
        bytes() + object_offset(key_bytes, value_bytes));
  }
  static constexpr std::size_t object_offset(std::size_t key_bytes,
                                             std::size_t value_bytes) noexcept {
    return (version_offset(key_bytes, value_bytes) + sizeof(std::uint32_t) + 7) & ~std::size_t{7};
  }
  // A value entry of either kind: key and value bytes, a version, in the ring.
  bool holds_value() const noexcept { return kind <= EntryKind::typed_value; }
  // What operator new gave this entry: the header, the key and the value and its version (or the
  // slot pointer).
  std::size_t allocated_bytes() const noexcept {
    switch (kind) {
      case EntryKind::value:
        return sizeof(Entry) + version_offset(key_bytes, value_bytes) + sizeof(std::uint32_t);
      case EntryKind::typed_value:
        return sizeof(Entry) + object_offset(key_bytes, value_bytes) + sizeof(void*);
      case EntryKind::loading:
        return sizeof(Entry) + key_bytes + sizeof(void*);
      case EntryKind::absent:
        break;
    }
    return sizeof(Entry) + key_bytes;
  }
  // A value or a negative entry: in the CLOCK ring and charged to the byte budget.
  bool is_cached() const noexcept { return kind != EntryKind::loading; }
  // Takes the value's writer side (the version odd), waiting out another writer for at most
  // `max_spins` looks. dead: the entry left the index, no writer holds it and none will, so its
  // value is stable and may be read as it is. `held` is the version taken over, for
  // release_rewrite().
  enum class Rewrite { acquired, dead, contended };
  Rewrite acquire_rewrite(std::uint32_t& held, unsigned max_spins = UINT32_MAX) noexcept;
  // Gives the writer side back: the version moves on if the value changed, else is restored.
  void release_rewrite(std::uint32_t held, bool changed) noexcept;
  // The entry leaves the index: from now on no rewrite starts; waits for the one running.
  void mark_dead() noexcept;

  // Only loading entries have a slot; the entry holds one reference to it.
  PromiseSlot* slot() const noexcept;

  // Relaxed: the count is a hint to CLOCK; losing an update costs hit ratio, never safety. Load
  // first and stop at kMaxHitCount, so a hot key's line stays shared instead of bouncing between
  // cores on every hit. Always inline: it is on every hit, and GCC's inliner left it out of
  // Cache::Impl::get_into once that file's other functions changed (+4 instructions a hit).
  [[gnu::always_inline]] void record_hit() noexcept {
    const std::uint8_t r = hits.load(kRelaxed);
    if ((r & kHitCountMask) < kMaxHitCount) hits.store(r + 1, kRelaxed);
  }
  unsigned load_time_code() const noexcept { return hits.load(kRelaxed) >> kLoadTimeShift; }
};

static_assert(sizeof(Entry) == 32, "the header is part of the per-entry overhead we report");
static_assert(alignof(Entry) == 8, "entries come from operator new; no over-alignment");

// A value entry, not yet published. Its bytes are copied in. `load_time_code`: how long the
// value took to load (early_refresh.hpp), 0 if it was not loaded. `typed`: a typed_value entry,
// with no object attached yet.
Entry* make_value_entry(std::uint64_t hash, std::string_view key, std::string_view value,
                        std::uint64_t expires_at_ms, std::uint32_t epoch = 0,
                        std::uint8_t load_time_code = 0, bool typed = false);
// A negative entry (the origin has no such key), not yet published.
Entry* make_absent_entry(std::uint64_t hash, std::string_view key, std::uint64_t expires_at_ms,
                         std::uint32_t epoch);
// A loading entry holding one new reference to `slot`.
Entry* make_loading_entry(std::uint64_t hash, std::string_view key, PromiseSlot* slot);
// Frees an entry no reader can reach any more (the GC's disposer, or one never published).
void destroy_entry(Entry* e) noexcept;

}  // namespace tiercache::engine
