// engine/l1/shard_table.hpp — one shard of L1: a lock-free table, its CLOCK ring and byte budget.
//
//   index (EntryIndex: open addressing, keyed by the 64-bit key hash)
//     ├─▶ Entry{value}    in the ring, charged key + value + kEntryOverheadBytes
//     ├─▶ Entry{typed_value} a TypedCache's value: the same, and its decoded object
//     ├─▶ Entry{absent}   a negative entry: the same, with no value bytes and no version
//     └─▶ Entry{loading}  not in the ring, not charged; owns a ref to its PromiseSlot
//
// Readers: read() takes no lock. Inside a ReadSection it follows one slot to one entry,
// compares the full key (the index keys by hash, so two keys with one hash share a slot: the
// later write wins, as an eviction would), and copies out while the section keeps the entry
// alive. Writers: every change (store, purge, claim, fill, drop, evict) holds the shard's mutex,
// so the ring, the byte count and the index change together and the bound holds whenever the
// mutex is free. The index has one writer, which is what lets it be a plain array of slots. An
// entry leaves the index before it is retired, and is read before: retirement may free it as
// soon as no section can hold it.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "engine/base/cpu_relax.hpp"
#include "engine/base/memory_order.hpp"
#include "engine/base/racy_copy.hpp"
#include "engine/l1/clock_ring.hpp"
#include "engine/l1/coarse_clock.hpp"
#include "engine/l1/early_refresh.hpp"
#include "engine/l1/entry.hpp"
#include "engine/l1/entry_index.hpp"
#include "engine/l1/reclamation.hpp"
#include "engine/miss/promise_slot.hpp"

namespace tiercache::engine {

// Bytes an entry costs beyond its key and value, charged against the budget: the 32-byte
// header, the value's version (4, after padding to 4), malloc's 8-byte chunk header and ~8 of
// rounding, 8 for its ring slot, ~16 for its
// index cells (8 bytes each; the array is sized for the entries the shard expects, 3/4 full when
// it holds them, and half full after a rebuild, entry_index.hpp) and 5 for its share of the
// eviction policy's history (the frequency sketch's 4 bytes and the window's ghosts' half byte,
// clock_ring.hpp). The bench's RSS figure (docs/performance.md) is the check on this estimate.
inline constexpr std::size_t kEntryOverheadBytes = sizeof(Entry) + 4 + 16 + 8 + 16 + 5;

struct ShardLimits {
  std::size_t max_bytes;           // charged bytes the shard may hold
  std::size_t max_entries;         // 0: no bound on the count
  std::size_t expected_entries;    // sizes the index and the ring up front
  double early_refresh_beta;       // XFetch's beta (early_refresh.hpp); 0: no XFetch
  std::uint64_t refresh_ahead_ms;  // a fixed window before expiry instead of XFetch; 0: none
  std::uint64_t stale_grace_ms;    // stale-while-revalidate: how long past expiry; 0: none
  // A TypedCache's shard: values are typed_value entries, each charged its bytes twice (its
  // encoded and, as an estimate, its decoded form) and this much more for the object. 0: bytes.
  std::size_t typed_object_bytes;
};

// Values up to this size are rewritten in place by a set of the same size; larger ones get a new
// entry. A rewrite holds the value's version odd for its copy, and readers of a hot key under
// steady rewrites of a large value would keep retrying (a review measured a 1 MiB value read
// twice in 2 s); below this size a copy takes tens of nanoseconds.
inline constexpr std::size_t kMaxRewriteBytes = 512;
// Tries a read makes while writers rewrite its value before it takes the writer lock.
inline constexpr unsigned kOptimisticReads = 64;

// What a miss that finds neither a trusted value nor a load running should do, as the caller's
// on_miss_locked() decides it under the writer lock.
enum class MissDecision {
  lead,                // insert a loading entry and produce the value
  absent,              // answer not_found
  serve_stale,         // answer the value L1 holds for the key although its epoch is not trusted
  lead_keeping_stale,  // lead, and keep that value in the slot to fall back on (S8)
};

// The stamp of a value L1 holds for a key that a read did not trust. A type of its own, so
// that nothing (a bool, an epoch) turns into "a value is there" by accident.
struct UntrustedStamp {
  std::uint32_t epoch;
};

// A miss, decided under the writer lock.
struct Claim {
  enum class Kind {
    hit,           // a fresh value appeared meanwhile (or a stale one the caller chose): `value`
    wait,          // a load is running: wait on `slot`
    lead,          // a loading entry for `slot` was inserted: produce the value
    absent,        // the caller's on_miss said there is nothing to load: answer not_found
    known_absent,  // a fresh negative entry appeared meanwhile: answer not_found
  } kind;
  std::string value;  // hit: the value found
  PromiseSlot* slot;  // wait, lead: one reference owned by the caller
  bool stale_seen;    // a value of an untrusted epoch was there (hit: it is the one returned)
};

// What a lock-free look at L1 found for a key.
// The hits last, so that "a value was served" is one compare.
enum class Lookup : std::uint8_t {
  miss,         // nothing served: no entry, a loading one, expired, or of an untrusted epoch
  absent,       // a fresh negative entry: the origin said the key does not exist
  hit,          // a fresh value, handed to the caller's f
  hit_refresh,  // the same, and this read drew its early refresh (early_refresh.hpp)
  hit_stale,    // an expired value within its stale-while-revalidate grace: served, and due
};

inline bool is_hit(Lookup l) noexcept {
  return l >= Lookup::hit;
}

// What an invalidation found for its key.
enum class Invalidated { nothing, erased, load_marked };

// What a leader's fill came to.
enum class Filled {
  filled,       // its value is in L1
  superseded,   // a set or purge replaced its loading entry meanwhile: nothing cached (S4)
  invalidated,  // L2 said the key changed while the value was on its way: nothing cached (S7)
};

class ShardTable {
 public:
  explicit ShardTable(const ShardLimits& limits);
  ~ShardTable();
  ShardTable(const ShardTable&) = delete;
  ShardTable& operator=(const ShardTable&) = delete;

  // If a fresh value entry for `key` stamped `epoch` is there: records the hit, calls f(value)
  // and returns hit (hit_refresh if `may_refresh` and the read drew the value's early refresh);
  // a fresh negative entry so stamped: records the hit and returns absent
  // (negative entries are never rewritten: no version to check). Lock-free unless writers keep
  // rewriting the value: after kOptimisticReads tries it takes the value's writer side itself,
  // so a read ends once it wins that side, which is lock-free, not wait-free: writers of one
  // key at full speed could, in principle, keep winning it first. The value's bytes may be
  // rewritten while f runs: f must copy them with copy_from_racy() and may be called again (the
  // copy is then thrown away), so it must overwrite what an earlier call wrote, never append. Once
  // f was called the read returns hit: freshness is judged at one instant for every attempt, and a
  // rewrite in place keeps the stamp and never brings the expiry closer (rewrite_allowed), so a
  // value fresh in one attempt is fresh in the next.
  template <class F>
  Lookup read(std::uint64_t hash, std::string_view key, std::uint32_t epoch, bool may_refresh,
              F&& f) {
    ReadSection section;
    Entry* e = index_.find(hash);
    if (e == nullptr) return Lookup::miss;
    if (!e->holds_value()) [[unlikely]]
      return read_absent(*e, key, epoch);
    if (!e->has_key(key)) return Lookup::miss;
    const std::atomic<std::uint32_t>& version = e->version();
    Instant now;
    for (unsigned attempt = 0; attempt < kOptimisticReads; ++attempt) {
      const std::uint32_t before = version.load(kAcquire);
      if ((before & 1) != 0) {
        cpu_relax();
        continue;
      }
      const bool fresh = is_fresh(*e, epoch, now);
      // Judged at the same instant as freshness: a loaded value never changes in place.
      const bool stale = !fresh && may_refresh && stale_servable(*e, epoch, now);
      if (fresh || stale) f(e->value());
      acquire_fence();
      if (version.load(kRelaxed) != before) continue;
      if (!fresh && !stale) return Lookup::miss;
      e->record_hit();
      if (stale) return Lookup::hit_stale;
      return may_refresh && refresh_drawn(*e, now) ? Lookup::hit_refresh : Lookup::hit;
    }
    // Take the writer side (no rewrite runs meanwhile) and give it back unchanged. A dead entry
    // is never rewritten, so its value is stable.
    std::uint32_t held;
    const bool live = e->acquire_rewrite(held) == Entry::Rewrite::acquired;
    const bool fresh = is_fresh(*e, epoch, now);
    if (fresh) {
      f(e->value());
      e->record_hit();
    }
    if (live) e->release_rewrite(held, false);
    return fresh ? Lookup::hit : Lookup::miss;
  }

  // read() for a TypedCache: on a hit, f(object, bytes, lookup) gets the value's decoded object,
  // its bytes and what the read returns (hit, hit_refresh or hit_stale). The object
  // is what decode(bytes) made (a new DecodedObject, or null with *error set) at the entry's first
  // such read; racing first reads each decode, one object is kept. No retry loop: a typed value is
  // never rewritten in place, so its bytes and object never change. A value whose bytes do not
  // decode is a miss with `undecodable` set, and is remembered as such (kUndecodable): its bytes
  // are not decoded again. f runs inside the read section: the object lives until it returns, at
  // least. `record_hit` false: the read does not count for CLOCK (the caller that filled the
  // entry looking at what it filled).
  template <class Decode, class F>
  Lookup read_decoded(std::uint64_t hash, std::string_view key, std::uint32_t epoch,
                      bool may_refresh, Decode&& decode, F&& f, Error& undecodable,
                      bool record_hit = true) {
    ReadSection section;
    Entry* e = index_.find(hash);
    if (e == nullptr) return Lookup::miss;
    if (e->kind != EntryKind::typed_value) [[unlikely]]
      return read_absent(*e, key, epoch);
    if (!e->has_key(key)) return Lookup::miss;
    Instant now;
    const bool fresh = is_fresh(*e, epoch, now);
    const bool stale = !fresh && may_refresh && stale_servable(*e, epoch, now);
    if (!fresh && !stale) return Lookup::miss;
    std::atomic<detail::DecodedObject*>& slot = e->object();
    detail::DecodedObject* object = slot.load(kAcquire);
    if (object == nullptr) [[unlikely]] {
      object = decode(e->value(), &undecodable);
      detail::DecodedObject* seen = nullptr;
      // Release: a reader that loads the pointer sees the object built.
      if (!slot.compare_exchange_strong(seen, object != nullptr ? object : &kUndecodable, kAcqRel,
                                        kAcquire)) {
        if (object != nullptr) object->destroy(object);
        object = seen;
      }
    }
    if (object == nullptr || object == &kUndecodable) [[unlikely]] {
      if (!undecodable.code)
        undecodable = fail(errc::serialization,
                           "L1 holds bytes for this key that the cache's "
                           "codec could not decode")
                          .error();
      return Lookup::miss;
    }
    const Lookup found = stale                                   ? Lookup::hit_stale
                         : may_refresh && refresh_drawn(*e, now) ? Lookup::hit_refresh
                                                                 : Lookup::hit;
    f(static_cast<const detail::DecodedObject&>(*object), e->value(), found);
    if (record_hit) e->record_hit();
    return found;
  }
  // Whether values here are typed_value entries (a TypedCache's).
  bool typed() const noexcept { return limits_.typed_object_bytes != 0; }

  // Under the writer lock: if admit_locked() returns true, `key` takes `value`, expiring at
  // `expires_at_ms`, stamped `epoch`, and L1 evicts to fit; otherwise nothing changes. A value
  // of the size L1 holds for the key is rewritten in place (no allocation, nothing retired);
  // another goes in a new entry. Whatever admit_locked() does is ordered with the change, so a
  // write it queues for L2 reaches L2 in the order L1 took the writes to that key.
  template <class Admit>
  bool set_if(std::uint64_t hash, std::string_view key, std::string_view value,
              std::uint64_t expires_at_ms, std::uint32_t epoch, Admit&& admit_locked) {
    return set_locked_path(hash, key, value, expires_at_ms, epoch,
                           rewritable(hash, key, value.size(), expires_at_ms, epoch), admit_locked);
  }
  // set_if() with nothing to admit (no L2): a rewrite in place then takes no lock at all, only
  // the entry's writer side, so writers of different keys in one shard do not wait for each
  // other.
  void set(std::uint64_t hash, std::string_view key, std::string_view value,
           std::uint64_t expires_at_ms, std::uint32_t epoch) {
    const LockFreeRewrite tried = try_rewrite(hash, key, value, expires_at_ms, epoch);
    if (tried == LockFreeRewrite::done) return;
    set_locked_path(hash, key, value, expires_at_ms, epoch, tried == LockFreeRewrite::contended,
                    [] { return true; });
  }
  // Under the writer lock: if admit_locked() returns true, removes the entry for `key` (value or
  // loading; a load in progress then caches nothing, S4).
  template <class Admit>
  bool purge_if(std::uint64_t hash, std::string_view key, Admit&& admit_locked) {
    bool purged;
    {
      std::lock_guard lock(writer_mu_);
      purged = admit_locked();
      if (purged) purge_locked(hash, key);
    }
    reclaim_if_over_budget();
    return purged;
  }
  void purge(std::uint64_t hash, std::string_view key) {
    purge_if(hash, key, [] { return true; });
  }
  // Runs f() under the writer lock, for state that must change in step with this shard's cells.
  template <class F>
  void locked(F&& f) {
    {
      std::lock_guard lock(writer_mu_);
      f();
    }
    reclaim_if_over_budget();
  }
  // Removes the entry for `key`, value or loading. The writer lock must be held (locked()).
  void purge_locked(std::uint64_t hash, std::string_view key);

  // The slow path of a miss: a trusted value, a load of this epoch to wait on, or what
  // on_miss_locked(std::optional<UntrustedStamp> untrusted) (run under the lock; the stamp of
  // an untrusted value L1 holds for the key, if any) decides: lead a new load, absent, or serve
  // that untrusted value. `epoch`: the caller's reading of the coherence epoch, the stamp a
  // value must carry to be served and the epoch a load it joins must have started in.
  // `joins_refresh`: the caller has a loader, and may wait on an early refresh of the key.
  template <class OnMiss>
  Claim claim(std::uint64_t hash, std::string_view key, std::uint32_t epoch, bool joins_refresh,
              OnMiss&& on_miss_locked) {
    Claim c;
    {
      std::lock_guard lock(writer_mu_);
      c = claim_locked(hash, key, epoch, joins_refresh, on_miss_locked);
    }
    reclaim_if_over_budget();
    return c;
  }
  // Early refresh. The caller, whose read drew it, becomes the key's refresher if the value it
  // read is still the key's entry and nobody refreshes it yet: returns a slot (one reference the
  // caller's) that callers arriving after the value expired wait on (claim), or nullptr.
  // `running`: the caller runs it now; otherwise it is queued, and only start_refresh() lets
  // callers after expiry wait on it (they must not wait for a queue).
  PromiseSlot* claim_refresh(std::uint64_t hash, std::string_view key, std::uint32_t epoch,
                             bool running);
  // A queued refresh begins: false if its claim ended meanwhile (nothing left to refresh).
  bool start_refresh(std::uint64_t hash, const PromiseSlot* slot);
  // The refresher's value replaces the one it refreshed, if that is still the key's entry,
  // untouched since the claim (no set, purge, invalidation or eviction), and then_locked() runs;
  // otherwise `fresh` is freed and nothing runs. `fresh` null: the refreshed value just goes
  // (if untouched, and then_locked() runs).
  template <class F>
  Filled finish_refresh(std::uint64_t hash, const PromiseSlot* slot, Entry* fresh,
                        F&& then_locked) {
    Filled filled;
    {
      std::lock_guard lock(writer_mu_);
      filled = finish_refresh_locked(hash, slot, fresh);
      if (filled == Filled::filled) then_locked();
    }
    reclaim_if_over_budget();
    return filled;
  }
  // The refresher produced nothing to cache: its claim goes, and the value stays until it
  // expires. `failed`: its loader failed, and no refresh of this value is tried again.
  void abandon_refresh(std::uint64_t hash, const PromiseSlot* slot, bool failed);

  // L2 says `key` changed: its value goes, and a load in progress is marked so that its fill is
  // answered but not cached (S7).
  Invalidated invalidate(std::uint64_t hash, std::string_view key);
  // The leader's value: if the cell still holds `slot`'s loading entry and no invalidation
  // marked it, `fresh` replaces it and then_locked() runs; otherwise `fresh` is freed, nothing
  // runs, and a marked loading entry is dropped.
  template <class F>
  Filled fill(std::uint64_t hash, const PromiseSlot* slot, Entry* fresh, F&& then_locked) {
    Filled filled;
    {
      std::lock_guard lock(writer_mu_);
      filled = fill_locked(hash, slot, fresh);
      if (filled == Filled::filled) then_locked();
    }
    reclaim_if_over_budget();
    return filled;
  }
  // A typed value whose bytes did not decode (read_decoded marked it) leaves L1, if it is still
  // the key's entry: the next read asks L2 again, rather than L1 answering serialization until
  // the value expires. A newer entry for the key stays.
  bool drop_undecodable(std::uint64_t hash, std::string_view key);
  // The leader's load failed: removes `slot`'s loading entry if the cell still holds it.
  void drop(std::uint64_t hash, const PromiseSlot* slot);
  // The same for a load that failed without an answer from L2: the value it replaced comes back
  // (S8, as unlink_or_restore_locked), and then on_restored_locked(value) runs.
  template <class F>
  void drop_or_restore(std::uint64_t hash, const PromiseSlot* slot, F&& on_restored_locked) {
    {
      std::lock_guard lock(writer_mu_);
      if (Entry* e = find_loading_locked(hash, slot))
        if (unlink_or_restore_locked(e, slot)) on_restored_locked(*slot->replaced());
    }
    reclaim_if_over_budget();
  }
  // The leader leaves without a value (its ctx ended): a waiter takes over, or the entry goes
  // (and the value it replaced comes back, S8).
  void abandon(std::uint64_t hash, PromiseSlot* slot);
  // A waiter that saw the load handed off leaves instead of leading (its ctx ended). The last
  // one to leave a leaderless load removes its entry, so none is stranded (S5), and puts back
  // the value it replaced (S8).
  void leave(std::uint64_t hash, PromiseSlot* slot) noexcept;

  std::size_t size_bytes() const noexcept { return bytes_.load(kRelaxed); }
  std::size_t entry_count() const noexcept { return entries_.load(kRelaxed); }
  std::uint64_t evictions() const noexcept { return evictions_.load(kRelaxed); }
  std::uint64_t expirations() const noexcept { return expirations_.load(kRelaxed); }
  // Recounts bytes and entries from the ring, checks every ring entry is the one in its cell and
  // the bounds hold. For tests and fuzz targets; takes the writer lock.
  bool check_invariants() const;
  // The index's longest_probe(), under the writer lock. For tests.
  std::size_t longest_probe() const;

 private:
  // What freeing `e` gives back, for the retired-bytes budget: a typed value's object counted as
  // charge() counts it.
  std::size_t retired_bytes(const Entry& e) const noexcept {
    const std::size_t bytes = e.allocated_bytes();
    if (e.kind != EntryKind::typed_value) return bytes;
    return bytes + e.value_bytes + limits_.typed_object_bytes;
  }
  void retire_entry(Entry* e);
  std::size_t charge(const Entry& e) const noexcept {
    const std::size_t bytes = e.key_bytes + e.value_bytes + kEntryOverheadBytes;
    if (e.kind != EntryKind::typed_value) return bytes;
    return bytes + e.value_bytes + limits_.typed_object_bytes;
  }
  template <class OnMiss>
  Claim claim_locked(std::uint64_t hash, std::string_view key, std::uint32_t epoch,
                     bool joins_refresh, OnMiss& on_miss_locked) {
    Entry* e = find_locked(hash);
    std::optional<UntrustedStamp> untrusted;
    if (e != nullptr && e->has_key(key)) {
      if (e->kind == EntryKind::absent) {
        Instant now;
        if (is_fresh(*e, epoch, now)) {
          e->record_hit();
          return {Claim::Kind::known_absent, {}, nullptr, false};
        }
      }
      if (e->holds_value() && !e->is_expired(coarse_now_ms())) {
        if (e->epoch == epoch) {
          e->record_hit();
          return {Claim::Kind::hit, copy_value_locked(e), nullptr, false};
        }
        untrusted = UntrustedStamp{e->epoch};
      }
      // A load that asked L2 before a change was heard, or in another epoch, answers its own
      // callers only; this one replaces its entry below and loads anew (S7).
      if (e->kind == EntryKind::loading && e->slot()->joinable_locked(epoch)) {
        PromiseSlot* slot = e->slot();
        slot->add_ref();
        slot->join();
        return {Claim::Kind::wait, {}, slot, false};
      }
    }
    // The value expired (or was evicted) while its early refresh runs: that refresh is the key's
    // load. Callers with a loader only: a failed refresh answers nobody, and they load anew.
    if (joins_refresh && !refreshing_.empty()) {
      const auto it = refreshing_.find(hash);
      if (it != refreshing_.end() && it->second.running && !it->second.failed &&
          it->second.key == key && it->second.slot->joinable_locked(epoch)) {
        PromiseSlot* slot = it->second.slot;
        slot->add_ref();
        slot->join();
        return {Claim::Kind::wait, {}, slot, false};
      }
    }
    const bool stale_seen = untrusted.has_value();
    std::optional<ReplacedValue> replaced;
    switch (on_miss_locked(untrusted)) {
      case MissDecision::absent:
        return {Claim::Kind::absent, {}, nullptr, stale_seen};
      case MissDecision::serve_stale:
        if (stale_seen) return {Claim::Kind::hit, copy_value_locked(e), nullptr, true};
        break;
      case MissDecision::lead_keeping_stale:
        // Copied before the loading entry takes its place (and retires it).
        if (stale_seen)
          replaced =
              ReplacedValue{copy_value_locked(e), e->expires_at_ms.load(kRelaxed), untrusted->epoch,
                            static_cast<std::uint8_t>(e->load_time_code())};
        break;
      case MissDecision::lead:
        break;
    }
    PromiseSlot* slot = PromiseSlot::create(epoch, std::move(replaced));
    // Out of memory, the slot and the loading entry go again: nothing else knows of them yet.
    try {
      Entry* loading = make_loading_entry(hash, key, slot);
      try {
        replace_locked(e, loading);
      } catch (...) {
        destroy_entry(loading);
        throw;
      }
    } catch (...) {
      slot->release();
      throw;
    }
    return {Claim::Kind::lead, {}, slot, stale_seen};
  }
  // set_if()'s work once it knows whether a look without the lock found an entry to rewrite
  // (then no new entry is built up front).
  template <class Admit>
  bool set_locked_path(std::uint64_t hash, std::string_view key, std::string_view value,
                       std::uint64_t expires_at_ms, std::uint32_t epoch, bool rewrite_likely,
                       Admit&& admit_locked) {
    Entry* fresh = rewrite_likely
                       ? nullptr
                       : make_value_entry(hash, key, value, expires_at_ms, epoch, 0, typed());
    bool stored;
    {
      std::lock_guard lock(writer_mu_);
      Entry* e = find_locked(hash);
      const bool in_place =
          e != nullptr && rewrite_allowed(*e, key, value.size(), expires_at_ms, epoch);
      // Rarely: the entry went between the look and the lock. Built, and room made for it,
      // before admit: a failed allocation changes nothing (a queued write would reach L2).
      if (!in_place && fresh == nullptr)
        fresh = make_value_entry(hash, key, value, expires_at_ms, epoch, 0, typed());
      try {
        if (!in_place) prepare_store_locked(e);
        stored = admit_locked();
      } catch (...) {
        if (fresh != nullptr) destroy_entry(fresh);  // out of memory: nothing changed
        throw;
      }
      if (stored && in_place) {
        rewrite_locked(e, value, expires_at_ms, epoch);
      } else if (stored) {
        store_locked(fresh);
        fresh = nullptr;
      }
    }
    if (fresh != nullptr) destroy_entry(fresh);
    reclaim_if_over_budget();
    return stored;
  }
  void store_locked(Entry* fresh);
  // Room in the index and the ring for an entry that replaces `old` (the cell's entry, or null),
  // so that replace_locked() after it allocates nothing. May throw bad_alloc, changing nothing.
  void prepare_store_locked(const Entry* old);
  // The same for `fresh`, which nothing else holds yet: out of memory, it is freed too.
  void prepare_store_or_free_locked(const Entry* old, Entry* fresh);
  // A set may rewrite `e` in place: it is a value entry for `key` of `value_bytes` (at most
  // kMaxRewriteBytes), not loaded (a loaded value's load time would stay and draw early
  // refreshes of the set's value; a new entry has none), stamped `epoch`, expiring no later
  // than `expires_at_ms`, and the new value is not expired already (what read() relies on: a value
  // fresh in one attempt stays fresh, and none is served that was never fresh).
  static bool rewrite_allowed(const Entry& e, std::string_view key, std::size_t value_bytes,
                              std::uint64_t expires_at_ms, std::uint32_t epoch) noexcept {
    return rewrite_fits(e, key, value_bytes) && rewrite_current(e, expires_at_ms, epoch);
  }
  // The part of rewrite_allowed() that never changes once `e` is published: kind, key, size and
  // load time.
  static bool rewrite_fits(const Entry& e, std::string_view key, std::size_t value_bytes) noexcept {
    return value_bytes <= kMaxRewriteBytes && e.kind == EntryKind::value &&
           e.load_time_code() == 0 && e.value_bytes == value_bytes && e.has_key(key);
  }
  // The part a rewrite can change: stamp and expiry.
  static bool rewrite_current(const Entry& e, std::uint64_t expires_at_ms,
                              std::uint32_t epoch) noexcept {
    return e.epoch.load(kRelaxed) == epoch && e.expires_at_ms.load(kRelaxed) <= expires_at_ms &&
           (expires_at_ms == kNeverExpires || coarse_now_ms() < expires_at_ms);
  }
  // The coarse clock, read at most once per read(): every attempt judges freshness at the same
  // instant, and only an entry with a TTL pays for the clock.
  struct Instant {
    std::uint64_t ms = 0;
    bool read = false;
  };
  // Whether this read of a fresh value `e` refreshes it early: within the fixed window, or by
  // XFetch's draw. Judged at the read's instant; an entry without a TTL or a load time never
  // does.
  bool refresh_drawn(const Entry& e, const Instant& now) const noexcept {
    if (!now.read || (refresh_beta_ == 0 && refresh_ahead_ms_ == 0)) return false;
    const unsigned code = e.load_time_code();
    if (code == 0) return false;
    const std::uint64_t expires = e.expires_at_ms.load(kRelaxed);
    if (expires <= now.ms) return false;
    if (refresh_ahead_ms_ != 0) return expires - now.ms < refresh_ahead_ms_;
    return draws_refresh(expires - now.ms, code, refresh_beta_);
  }
  // Whether `e` expired no longer than the stale-while-revalidate grace ago, is a loaded value
  // (a loader can refresh it) and is stamped `epoch`: it may then be served while refreshed.
  bool stale_servable(const Entry& e, std::uint32_t epoch, const Instant& now) const noexcept {
    if (stale_grace_ms_ == 0 || !now.read || e.load_time_code() == 0 ||
        e.epoch.load(kRelaxed) != epoch)
      return false;
    const std::uint64_t expires = e.expires_at_ms.load(kRelaxed);
    return now.ms >= expires && now.ms - expires < stale_grace_ms_;
  }
  // Whether a value `left_ms` before expiry that took `code` to load may be refreshed now.
  bool within_lead(std::uint64_t left_ms, unsigned code) const noexcept {
    if (refresh_ahead_ms_ != 0) return code != 0 && left_ms < refresh_ahead_ms_;
    return within_refresh_lead(left_ms, code, refresh_beta_);
  }
  // read()'s way with a negative entry (or a loading one: a miss).
  static Lookup read_absent(Entry& e, std::string_view key, std::uint32_t epoch) noexcept {
    Instant now;
    if (e.kind != EntryKind::absent || !e.has_key(key) || !is_fresh(e, epoch, now))
      return Lookup::miss;
    e.record_hit();
    return Lookup::absent;
  }
  static bool is_fresh(const Entry& e, std::uint32_t epoch, Instant& now) noexcept {
    if (e.epoch.load(kRelaxed) != epoch) return false;
    const std::uint64_t expires = e.expires_at_ms.load(kRelaxed);
    if (expires == kNeverExpires) return true;
    if (!now.read) now = {coarse_now_ms(), true};
    return now.ms < expires;
  }
  // An entry rewrite_allowed() would take is in the index now (a look without the lock).
  bool rewritable(std::uint64_t hash, std::string_view key, std::size_t value_bytes,
                  std::uint64_t expires_at_ms, std::uint32_t epoch) const;
  // Writes a value of e's size, its expiry and stamp into `e`, under its seqlock.
  void rewrite_locked(Entry* e, std::string_view value, std::uint64_t expires_at_ms,
                      std::uint32_t epoch) noexcept;
  // The same without the writer lock, if rewrite_allowed() holds once e's writer side is held
  // and the entry is still in the index (not dead).
  enum class LockFreeRewrite {
    done,
    not_here,   // no entry rewrite_allowed() takes: a set builds a new one
    contended,  // one that fits is there (stamp and expiry not looked at), but other writers hold
                // it: a set goes to the lock
  };
  LockFreeRewrite try_rewrite(std::uint64_t hash, std::string_view key, std::string_view value,
                              std::uint64_t expires_at_ms, std::uint32_t epoch);
  // e's value, copied under the writer lock. Without an L2 a set may be rewriting it even so
  // (try_rewrite): the copy holds e's writer side.
  static std::string copy_value_locked(Entry* e);
  // The bytes a rewrite changes; the caller holds e's writer side.
  static void write_value(Entry* e, std::string_view value, std::uint64_t expires_at_ms,
                          std::uint32_t epoch) noexcept;
  Filled fill_locked(std::uint64_t hash, const PromiseSlot* slot, Entry* fresh);
  // A load that ends without an answer leaves its cell as it found it: `loading` (`slot`'s
  // entry) goes, and the value it replaced (S8) comes back if it has not expired and the load
  // was not invalidated (true then). Out of memory, the value simply stays out.
  bool unlink_or_restore_locked(Entry* loading, const PromiseSlot* slot) noexcept;
  Filled finish_refresh_locked(std::uint64_t hash, const PromiseSlot* slot, Entry* fresh);
  // Any change to the key's cell ends its early refresh's claim: the refresh then answers its
  // callers but caches nothing (as S4 for loads).
  void forget_refresh_locked(std::uint64_t hash) noexcept;
  Entry* find_locked(std::uint64_t hash);
  // The cell's entry if it is `slot`'s loading entry (the leader's identity check, S4).
  Entry* find_loading_locked(std::uint64_t hash, const PromiseSlot* slot);
  // Makes `fresh` the cell's entry, keeping the ring and the counts in step with `old`. A cached
  // `fresh` needs prepare_store_locked(old) first.
  void replace_locked(Entry* old, Entry* fresh);
  // An eviction keeps the key's early refresh claimed (its value goes back in when it comes);
  // any other change ends it.
  enum class Unlink : std::uint8_t { change, eviction };
  void unlink_locked(Entry* e, Unlink why = Unlink::change);
  void make_room_locked(const Entry* keep);

  const ShardLimits limits_;
  mutable std::mutex writer_mu_;
  EntryIndex index_;  // written under writer_mu_
  // Read by every hit on a value with a TTL: not on writer_mu_'s line.
  alignas(64) const double refresh_beta_;
  const std::uint64_t refresh_ahead_ms_;
  const std::uint64_t stale_grace_ms_;
  ClockRing ring_;  // guarded by writer_mu_
  // Early refreshes running, by key hash: the key, the entry refreshed (null once evicted) and
  // its version when claimed, and the slot (one reference held here) that callers wait on once
  // the value expired. Guarded by writer_mu_.
  struct Refresh {
    std::string key;
    const Entry* entry;
    std::uint32_t version;
    PromiseSlot* slot;
    bool running;         // its loader runs (not queued): callers after expiry may wait on it
    bool failed = false;  // its loader failed: answered, kept only to stop more refreshes
  };
  using RefreshMap = std::unordered_map<std::uint64_t, Refresh>;
  RefreshMap refreshing_;
  // One bit per 1/64 of the hashes with a record in refreshing_ that is not failed: a read that
  // draws a refresh learns without the lock that one is on. A failed record holds no bit: it
  // would stop the refreshes of every other key sharing it for as long as it is kept (its
  // own key is refused under the lock). Written under writer_mu_.
  std::atomic<std::uint64_t> refreshing_bits_{0};
  static std::uint64_t refresh_bit(std::uint64_t hash) noexcept {
    return std::uint64_t{1} << ((hash >> 20) & 63);
  }
  void erase_refresh_locked(RefreshMap::iterator it) noexcept;
  // Clears `bit` unless a record that is not failed still holds it.
  void release_refresh_bit_locked(std::uint64_t bit) noexcept;
  // Written under writer_mu_, read by stats() without it.
  std::atomic<std::size_t> bytes_{0};
  std::atomic<std::size_t> entries_{0};
  std::atomic<std::uint64_t> evictions_{0};
  std::atomic<std::uint64_t> expirations_{0};
};

}  // namespace tiercache::engine
