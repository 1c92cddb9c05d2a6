#include "engine/l1/shard_table.hpp"

#include <cassert>

namespace tiercache::engine {
namespace {

// Single writer under the mutex: a relaxed load and store instead of a locked add.
template <class T>
void bump(std::atomic<T>& counter, T delta) noexcept {
  counter.store(counter.load(kRelaxed) + delta, kRelaxed);
}

void dispose_entry(void* e) noexcept {
  destroy_entry(static_cast<Entry*>(e));
}

}  // namespace

// An entry the index no longer holds: freed once no read section can hold it.
void ShardTable::retire_entry(Entry* e) {
  retire(e, retired_bytes(*e), dispose_entry);
}

ShardTable::ShardTable(const ShardLimits& limits)
    : limits_(limits),
      index_(limits.expected_entries),
      refresh_beta_(limits.early_refresh_beta),
      refresh_ahead_ms_(limits.refresh_ahead_ms),
      stale_grace_ms_(limits.stale_grace_ms) {
  ring_.reserve(limits.expected_entries);
  ring_.set_stale_grace(limits.stale_grace_ms);
}

ShardTable::~ShardTable() {
  // No reader can reach the shard any more: what it holds goes at once.
  index_.for_each([](Entry* e) { destroy_entry(e); });
  for (auto& [hash, r] : refreshing_) r.slot->release();
}

Entry* ShardTable::find_locked(std::uint64_t hash) {
  // Under writer_mu_ nobody else can unlink the entry: no read section needed.
  return index_.find(hash);
}

void ShardTable::prepare_store_locked(const Entry* old) {
  if (old == nullptr) index_.reserve_one_more();
  if (old == nullptr || !old->is_cached()) ring_.prepare_add();
}

void ShardTable::prepare_store_or_free_locked(const Entry* old, Entry* fresh) {
  try {
    prepare_store_locked(old);
  } catch (...) {
    destroy_entry(fresh);
    throw;
  }
}

void ShardTable::replace_locked(Entry* old, Entry* fresh) {
  // A loading entry is not in the ring; a cached one's room was made by the caller.
  if (old == nullptr) index_.reserve_one_more();
  forget_refresh_locked(fresh->hash);
  const bool fresh_is_cached = fresh->is_cached();
  if (old != nullptr && old->is_cached()) {
    if (old->holds_value()) old->mark_dead();
    bump(bytes_, 0 - charge(*old));
    if (fresh_is_cached) {
      ring_.replace(old, fresh);
    } else {
      ring_.remove(old);
      bump(entries_, std::size_t{0} - 1);
    }
  } else if (fresh_is_cached) {
    ring_.add(fresh);
    bump(entries_, std::size_t{1});
  }
  if (fresh_is_cached) bump(bytes_, charge(*fresh));
  // Last: once the index no longer holds `old` it may be freed as soon as no section holds it.
  if (old != nullptr) {
    index_.replace(old, fresh);
    retire_entry(old);
  } else {
    index_.insert(fresh);
  }
}

void ShardTable::unlink_locked(Entry* e, Unlink why) {
  if (why == Unlink::eviction && !refreshing_.empty()) {
    const auto it = refreshing_.find(e->hash);
    // A failed refresh's record has nothing more to do: it goes with its value.
    if (it != refreshing_.end() && it->second.entry == e) {
      if (it->second.failed) {
        erase_refresh_locked(it);
      } else {
        it->second.entry = nullptr;
      }
    }
  } else {
    forget_refresh_locked(e->hash);
  }
  if (e->is_cached()) {
    if (e->holds_value()) e->mark_dead();
    ring_.remove(e);
    bump(bytes_, 0 - charge(*e));
    bump(entries_, std::size_t{0} - 1);
  }
  index_.erase(e);
  retire_entry(e);
}

void ShardTable::make_room_locked(const Entry* keep) {
  const auto over = [&] {
    return bytes_.load(kRelaxed) > limits_.max_bytes ||
           (limits_.max_entries != 0 && entries_.load(kRelaxed) > limits_.max_entries);
  };
  if (!over()) return;
  const std::uint64_t now = coarse_now_ms();
  while (over()) {
    const ClockRing::Victim victim = ring_.next_victim(now, keep);
    if (victim.entry == nullptr) return;
    bump(victim.expired ? expirations_ : evictions_, std::uint64_t{1});
    unlink_locked(victim.entry, Unlink::eviction);
  }
}

bool ShardTable::rewritable(std::uint64_t hash, std::string_view key, std::size_t value_bytes,
                            std::uint64_t expires_at_ms, std::uint32_t epoch) const {
  const ReadSection section;
  const Entry* e = index_.find(hash);
  return e != nullptr && rewrite_allowed(*e, key, value_bytes, expires_at_ms, epoch);
}

void ShardTable::rewrite_locked(Entry* e, std::string_view value, std::uint64_t expires_at_ms,
                                std::uint32_t epoch) noexcept {
  // The entry is in the index (found under the lock), so it is not dead; a lock-free rewrite
  // (try_rewrite) may hold its writer side for a moment.
  std::uint32_t held;
  const Entry::Rewrite taken = e->acquire_rewrite(held);
  assert(taken == Entry::Rewrite::acquired && "an entry in the index is not dead");
  (void)taken;
  // A lock-free rewrite (no L2, so no queue order) between the caller's check and here may have
  // moved the expiry past this one's; a rewrite must never bring an expiry closer (read()
  // relies on it). The two sets overlapped, so this one may count as the earlier: it is
  // overwritten, and no reader can tell.
  if (e->expires_at_ms.load(kRelaxed) > expires_at_ms) {
    e->release_rewrite(held, false);
    return;
  }
  write_value(e, value, expires_at_ms, epoch);
  e->release_rewrite(held, true);
  ring_.rewritten(e);
  forget_refresh_locked(e->hash);
}

void ShardTable::write_value(Entry* e, std::string_view value, std::uint64_t expires_at_ms,
                             std::uint32_t epoch) noexcept {
  e->expires_at_ms.store(expires_at_ms, kRelaxed);
  e->epoch.store(epoch, kRelaxed);
  copy_to_racy(e->bytes() + e->key_bytes, value.data(), value.size());
}

// Looks at a value another writer is rewriting before a lock-free set goes to the shard lock.
constexpr unsigned kRewriteSpins = 16;

std::string ShardTable::copy_value_locked(Entry* e) {
  std::uint32_t held;
  const bool live = e->acquire_rewrite(held) == Entry::Rewrite::acquired;
  std::string value(e->value());
  if (live) e->release_rewrite(held, false);
  return value;
}

ShardTable::LockFreeRewrite ShardTable::try_rewrite(std::uint64_t hash, std::string_view key,
                                                    std::string_view value,
                                                    std::uint64_t expires_at_ms,
                                                    std::uint32_t epoch) {
  const ReadSection section;  // keeps `e` alive while this writes into it
  Entry* e = index_.find(hash);
  // What never changes is looked at before the writer side is taken, stamp and expiry (what a
  // rewrite changes) once it is held: each is read once.
  if (e == nullptr || !rewrite_fits(*e, key, value.size())) return LockFreeRewrite::not_here;
  // Dead: purged, evicted or replaced meanwhile. Contended: other writers of this key queue on
  // the shard lock instead of spinning here.
  std::uint32_t held;
  switch (e->acquire_rewrite(held, kRewriteSpins)) {
    case Entry::Rewrite::acquired:
      break;
    case Entry::Rewrite::dead:
      return LockFreeRewrite::not_here;
    case Entry::Rewrite::contended:
      return LockFreeRewrite::contended;
  }
  if (!rewrite_current(*e, expires_at_ms, epoch)) {
    e->release_rewrite(held, false);
    return LockFreeRewrite::not_here;
  }
  write_value(e, value, expires_at_ms, epoch);
  e->release_rewrite(held, true);
  // The sketch is the shard lock's: the hand learns of this set from the count instead.
  e->record_hit();
  return LockFreeRewrite::done;
}

void ShardTable::store_locked(Entry* fresh) {
  replace_locked(find_locked(fresh->hash), fresh);
  make_room_locked(fresh);
}

void ShardTable::purge_locked(std::uint64_t hash, std::string_view key) {
  // Also with nothing in the cell: an evicted value's refresh must not bring it back.
  forget_refresh_locked(hash);
  Entry* e = find_locked(hash);
  if (e != nullptr && e->has_key(key)) unlink_locked(e);
}

Entry* ShardTable::find_loading_locked(std::uint64_t hash, const PromiseSlot* slot) {
  Entry* e = find_locked(hash);
  return e != nullptr && e->kind == EntryKind::loading && e->slot() == slot ? e : nullptr;
}

Filled ShardTable::fill_locked(std::uint64_t hash, const PromiseSlot* slot, Entry* fresh) {
  Entry* e = find_loading_locked(hash, slot);
  if (e == nullptr) {
    destroy_entry(fresh);
    return Filled::superseded;
  }
  if (slot->is_invalidated_locked()) {
    destroy_entry(fresh);
    unlink_locked(e);
    return Filled::invalidated;
  }
  // Out of memory, the leader gives its slot up (MissPath::lead).
  prepare_store_or_free_locked(e, fresh);
  replace_locked(e, fresh);
  make_room_locked(fresh);
  return Filled::filled;
}

void ShardTable::forget_refresh_locked(std::uint64_t hash) noexcept {
  if (refreshing_.empty()) return;
  const auto it = refreshing_.find(hash);
  if (it != refreshing_.end()) erase_refresh_locked(it);
}

void ShardTable::erase_refresh_locked(RefreshMap::iterator it) noexcept {
  const std::uint64_t bit = refresh_bit(it->first);
  it->second.slot->release();
  refreshing_.erase(it);
  release_refresh_bit_locked(bit);
}

void ShardTable::release_refresh_bit_locked(std::uint64_t bit) noexcept {
  for (const auto& [hash, r] : refreshing_)
    if (refresh_bit(hash) == bit && !r.failed) return;
  refreshing_bits_.fetch_and(~bit, kRelaxed);
}

PromiseSlot* ShardTable::claim_refresh(std::uint64_t hash, std::string_view key,
                                       std::uint32_t epoch, bool running) {
  // A refresh of this key (or of one sharing its bit) is on already: no lock for that answer,
  // as every read in the window of a hot key asks.
  if ((refreshing_bits_.load(kRelaxed) & refresh_bit(hash)) != 0) return nullptr;
  std::lock_guard lock(writer_mu_);
  Entry* e = find_locked(hash);
  if (e == nullptr || !e->holds_value() || refreshing_.contains(hash)) return nullptr;
  // The version first: a lock-free rewrite that lands after the checks below then shows as a
  // moved version when the refresh finishes. None may be running now.
  const std::uint32_t version = e->version().load(kAcquire);
  Instant now;
  // Also not once the value was refreshed since the caller's read drew it: the new one is far
  // from expiry. An expired value within its stale grace is refreshed too.
  if ((version & kVersionBusy) != 0 || !e->has_key(key)) return nullptr;
  const bool due =
      is_fresh(*e, epoch, now)
          ? now.read && within_lead(e->expires_at_ms.load(kRelaxed) - now.ms, e->load_time_code())
          : stale_servable(*e, epoch, now);
  if (!due) return nullptr;
  // The record first, so that a failed allocation leaves nothing behind.
  const auto [it, added] =
      refreshing_.emplace(hash, Refresh{std::string(key), e, version, nullptr, running});
  try {
    it->second.slot = PromiseSlot::create(epoch);
  } catch (...) {
    refreshing_.erase(it);
    throw;
  }
  it->second.slot->add_ref();  // the table's
  refreshing_bits_.fetch_or(refresh_bit(hash), kRelaxed);
  return it->second.slot;
}

bool ShardTable::start_refresh(std::uint64_t hash, const PromiseSlot* slot) {
  bool ours = false;
  locked([&] {
    const auto it = refreshing_.find(hash);
    ours = it != refreshing_.end() && it->second.slot == slot;
    if (ours) it->second.running = true;
  });
  return ours;
}

Filled ShardTable::finish_refresh_locked(std::uint64_t hash, const PromiseSlot* slot,
                                         Entry* fresh) {
  const auto it = refreshing_.find(hash);
  if (it == refreshing_.end() || it->second.slot != slot) {
    if (fresh != nullptr) destroy_entry(fresh);
    return Filled::superseded;
  }
  const Entry* claimed = it->second.entry;
  const std::uint32_t version = it->second.version;
  erase_refresh_locked(it);
  // Claimed and not forgotten: no change under this lock reached the cell since, so it still
  // holds the entry, or nothing if it was evicted; only a lock-free rewrite could have changed
  // the entry, and that moves the version.
  Entry* e = find_locked(hash);
  const bool untouched =
      claimed == nullptr ? e == nullptr : e == claimed && e->version().load(kAcquire) == version;
  if (!untouched) {
    if (fresh != nullptr) destroy_entry(fresh);
    return Filled::superseded;
  }
  // Nothing to cache (the origin said the key is gone, and absent answers are not kept): the
  // refreshed value goes, so that it is neither served nor refreshed again.
  if (fresh == nullptr) {
    if (e != nullptr) unlink_locked(e);
    return Filled::filled;
  }
  // Out of memory, the refreshed value answers, uncached.
  prepare_store_or_free_locked(e, fresh);
  replace_locked(e, fresh);
  make_room_locked(fresh);
  return Filled::filled;
}

void ShardTable::abandon_refresh(std::uint64_t hash, const PromiseSlot* slot, bool failed) {
  locked([&] {
    const auto it = refreshing_.find(hash);
    if (it == refreshing_.end() || it->second.slot != slot) return;
    if (failed) {
      // Kept, so that no other read of this value starts a refresh (a down origin is not asked
      // on every read until the value expires); the next change of the cell ends it.
      it->second.failed = true;
      release_refresh_bit_locked(refresh_bit(hash));
      return;
    }
    erase_refresh_locked(it);
  });
}

Invalidated ShardTable::invalidate(std::uint64_t hash, std::string_view key) {
  Invalidated what = Invalidated::nothing;
  locked([&] {
    forget_refresh_locked(hash);
    Entry* e = find_locked(hash);
    if (e == nullptr || !e->has_key(key)) return;
    if (e->kind == EntryKind::loading) {
      e->slot()->invalidate_locked();
      what = Invalidated::load_marked;
    } else {
      unlink_locked(e);
      what = Invalidated::erased;
    }
  });
  return what;
}

bool ShardTable::drop_undecodable(std::uint64_t hash, std::string_view key) {
  bool dropped = false;
  locked([&] {
    Entry* e = find_locked(hash);
    if (e != nullptr && e->kind == EntryKind::typed_value && e->has_key(key) &&
        e->object().load(kRelaxed) == &kUndecodable) {
      unlink_locked(e);
      dropped = true;
    }
  });
  return dropped;
}

void ShardTable::drop(std::uint64_t hash, const PromiseSlot* slot) {
  locked([&] {
    if (Entry* e = find_loading_locked(hash, slot)) unlink_locked(e);
  });
}

void ShardTable::abandon(std::uint64_t hash, PromiseSlot* slot) {
  locked([&] {
    // Under the lock no new waiter can join between the count and the unlink (S1).
    if (slot->hand_off()) return;
    if (Entry* e = find_loading_locked(hash, slot)) unlink_or_restore_locked(e, slot);
  });
}

void ShardTable::leave(std::uint64_t hash, PromiseSlot* slot) noexcept {
  locked([&] {
    // Under the lock, as in abandon(): nobody joins between the last leave and the unlink.
    if (!slot->leave_handed_off()) return;
    if (Entry* e = find_loading_locked(hash, slot)) unlink_or_restore_locked(e, slot);
  });
}

bool ShardTable::unlink_or_restore_locked(Entry* loading, const PromiseSlot* slot) noexcept {
  const ReplacedValue* replaced = slot->replaced();
  if (replaced == nullptr || slot->is_invalidated_locked() ||
      replaced->expires_at_ms <= coarse_now_ms()) {
    unlink_locked(loading);
    return false;
  }
  Entry* fresh;
  try {
    fresh =
        make_value_entry(loading->hash, loading->key(), replaced->value, replaced->expires_at_ms,
                         replaced->epoch, replaced->load_time_code, typed());
    prepare_store_or_free_locked(loading, fresh);
  } catch (...) {
    // Nothing changed yet: the loading entry is still the cell's.
    unlink_locked(loading);
    return false;
  }
  replace_locked(loading, fresh);
  make_room_locked(fresh);
  return true;
}

std::size_t ShardTable::longest_probe() const {
  std::lock_guard lock(writer_mu_);
  return index_.longest_probe();
}

bool ShardTable::check_invariants() const {
  std::lock_guard lock(writer_mu_);
  auto* self = const_cast<ShardTable*>(this);
  if (!ring_.positions_consistent()) return false;
  std::size_t bytes = 0;
  std::size_t entries = 0;
  bool cells_match = true;
  ring_.for_each([&](const Entry* e) {
    bytes += charge(*e);
    ++entries;
    if (self->find_locked(e->hash) != e) cells_match = false;
  });
  return cells_match && bytes == bytes_.load(kRelaxed) && entries == entries_.load(kRelaxed) &&
         bytes <= limits_.max_bytes && (limits_.max_entries == 0 || entries <= limits_.max_entries);
}

}  // namespace tiercache::engine
