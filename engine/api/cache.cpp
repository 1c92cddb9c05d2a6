// engine/api/cache.cpp — the public Cache: checks input at the door, routes keys to shards,
// answers hits from L1, hands misses to the MissPath, and queues writes for L2 in the order L1
// takes them.
#include "tiercache/cache.hpp"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <sys/random.h>

#include <algorithm>
#include <cstring>
#include <exception>
#include <random>
#include <unordered_map>

#include "engine/api/cache_impl.hpp"
#include "engine/api/cache_test_access.hpp"
#include "engine/api/options_check.hpp"
#include "engine/l1/coarse_clock.hpp"
#include "engine/l1/reclamation.hpp"
#include "tiercache/metrics_endpoint.hpp"

namespace tiercache {

using engine::Entry;
using engine::LeadPlan;
using engine::Produced;
using engine::ShardTable;
using engine::WriteOp;

namespace {

// A cache's secret hash seed. getrandom, not std::random_device: nothing here may throw.
std::uint64_t draw_key_seed() noexcept {
  std::uint64_t seed = 0;
  // GRND_NONBLOCK: early at boot, before the kernel's pool is ready, open() must not hang.
  if (getrandom(&seed, sizeof seed, GRND_NONBLOCK) != static_cast<ssize_t>(sizeof seed))
    seed = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count()) ^
           reinterpret_cast<std::uintptr_t>(&seed);
  return seed;
}

}  // namespace

std::uint64_t Cache::Impl::hash_key(std::string_view key) const noexcept {
  return XXH3_64bits_withSeed(key.data(), key.size(), key_seed_);
}

namespace {

// `out` takes a value L1 may be rewriting meanwhile (ShardTable::read): its capacity is kept,
// and no byte is zeroed first. (libstdc++ 12 passes the operation the new capacity, not the
// size asked for: the size comes from `v`.)
void assign_racy(std::string& out, std::string_view v) {
  out.resize_and_overwrite(v.size(), [&](char* p, std::size_t) {
    engine::copy_from_racy(p, v.data(), v.size());
    return v.size();
  });
}

// A not_found carries no detail: it is an answer, and a miss must not allocate.
std::unexpected<Error> not_found() {
  return std::unexpected(Error{make_error_code(errc::not_found), {}});
}

// Whether L2 answered for a key (a value, not_found, an error reply) rather than gave no answer
// (down, refused for now, nothing in time, the caller gone): an answer outdates the value a load
// replaced (PromiseSlot S8).
bool l2_answered(const Result<Produced>& r) {
  return r || (r.error() != errc::backend_unavailable && r.error() != errc::timeout &&
               r.error() != errc::cancelled);
}

// Keys one L2 read carries; a get_many of more is split into several, sent together.
constexpr std::size_t kMaxKeysPerL2Read = 1024;

const char* write_name(WriteOp::Kind kind) {
  return kind == WriteOp::Kind::purge ? "purge" : "set";
}

}  // namespace

Cache::Impl::Impl(const Options& completed, std::shared_ptr<Backend> l2, engine::BackendClaim claim,
                  std::size_t typed_object_bytes)
    : options_(completed),
      key_seed_(draw_key_seed()),
      pending_(completed.l1.shards),
      l2_(std::move(l2)),
      l2_claim_(std::move(claim)) {
  const engine::ShardLimits limits = engine::shard_limits(options_, typed_object_bytes);
  shards_.reserve(options_.l1.shards);
  for (std::size_t i = 0; i < options_.l1.shards; ++i)
    shards_.push_back(std::make_unique<ShardTable>(limits));
  shard_shift_ = 64 - static_cast<unsigned>(std::countr_zero(options_.l1.shards));
  if (l2_) {
    writer_ = std::make_unique<engine::Writer>(
        *l2_, options_.writer,
        [this](std::span<const engine::Writer::SettledWrite> settled) { settle(settled); },
        options_.metrics.latencies ? &latencies_ : nullptr, &epoch_);
    changes_heard_ = l2_->changes_heard();
    if (changes_heard_ != ChangesHeard::none) {
      // Untrusted until the backend says changes are heard (at once, if they are already).
      epoch_.store(1, std::memory_order_release);
      l2_->set_events(this);
    }
  }
}

Cache::Impl::~Impl() {
  // No scrape after this returns: it reads everything below.
  if (endpoint_attached_) options_.metrics.endpoint->detach();
  // Background refreshes touch the shards, L2 and the writer: they end first.
  miss_.stop_refreshes();
  // No event after this returns: they touch the shards.
  if (l2_ && changes_heard_ != ChangesHeard::none) l2_->set_events(nullptr);
  // The writer settles what it still holds into the shards, so it goes first.
  writer_.reset();
  // A backend the program shares (Options.backend) may live on; this cache's hold ends here,
  // now that nothing here uses it: another Cache may take it.
  l2_claim_.release();
  l2_.reset();
  options_.backend.reset();
  shards_.clear();
  // Entries retired by this thread go back to the allocator now, not at its next retire.
  engine::reclaim_retired_now();
}

Result<void> Cache::Impl::check_open(const char* op) const {
  // Relaxed, as in key_accepted().
  if (closed_.load(std::memory_order_relaxed)) [[unlikely]]
    return fail(errc::closed, op, ": the cache was closed");
  return {};
}

std::unexpected<Error> Cache::Impl::key_refused(const char* op, std::string_view key) const {
  if (auto closed = check_open(op); !closed) return std::unexpected(std::move(closed.error()));
  if (key.empty()) return fail(errc::invalid_argument, op, ": key is empty");
  return fail(errc::invalid_argument, op, ": key is ", key.size(),
              " bytes; Options.l1.max_key_bytes is ", options_.l1.max_key_bytes);
}

std::unexpected<Error> Cache::Impl::value_refused(const char* op, std::size_t value_bytes) const {
  return fail(errc::invalid_argument, op, ": value is ", value_bytes,
              " bytes; Options.l1.max_value_bytes is ", options_.l1.max_value_bytes);
}

std::size_t Cache::Impl::shard_index(std::uint64_t hash) const noexcept {
  // The top bits pick the shard; the table inside uses the low bits, so the two stay
  // independent. A shift of 64 (one shard) would be undefined, hence the test.
  return shards_.size() == 1 ? 0 : hash >> shard_shift_;
}

template <class F>
engine::Lookup Cache::Impl::read_l1(std::uint64_t hash, std::string_view key, bool may_refresh,
                                    F&& f) {
  return counted(shard_for(hash).read(hash, key, current_epoch(), may_refresh, f));
}

std::chrono::milliseconds Cache::Impl::shortened_by_jitter(std::chrono::milliseconds ttl) const {
  thread_local std::minstd_rand rng(std::random_device{}());
  const double cut = std::uniform_real_distribution<double>(0, options_.ttl_jitter)(rng);
  // ttl <= kMaxTtl (checked at the door), so the product stays far inside a double's exact range.
  const auto shortened = static_cast<std::int64_t>(static_cast<double>(ttl.count()) * (1 - cut));
  return std::chrono::milliseconds(std::clamp<std::int64_t>(shortened, 1, ttl.count()));
}

Result<std::string> Cache::Impl::get(const Context& ctx, std::string_view key,
                                     const engine::LoadRequest* load) {
  engine::CallTimer timer(latencies_, load != nullptr ? Op::get_or_load : Op::get);
  const std::uint64_t h = hash_key(key);
  // Every path returns `out`, so a hit's string is built where the caller gets it (NRVO): no move
  // of the string into a Result and no destruction of an empty one.
  Result<std::string> out{std::in_place};
  switch (read_l1(h, key, load != nullptr, [&](std::string_view v) { assign_racy(*out, v); })) {
    case engine::Lookup::hit:
      return out;
    case engine::Lookup::hit_refresh:
    case engine::Lookup::hit_stale:
      // Only a loader can refresh: L2's copy expires with this one. (A read without one is
      // never served a stale value.)
      if (load == nullptr) return out;
      if (auto refreshed = miss_.refresh(ctx, shard_for(h), h, key, *load, &timer))
        out = std::move(*refreshed);
      return out;
    case engine::Lookup::absent:
      out = not_found();
      return out;
    case engine::Lookup::miss:
      break;
  }
  if (!l2_ && load == nullptr) {
    out = not_found();
    return out;
  }
  timer.left_l1();
  out = miss_.serve(ctx, shard_for(h), h, key, load);
  return out;
}

Result<void> Cache::Impl::get(const Context& ctx, std::string_view key, std::string& out) {
  engine::CallTimer timer(latencies_, Op::get);
  const std::uint64_t h = hash_key(key);
  const engine::Lookup found =
      read_l1(h, key, false, [&](std::string_view v) { assign_racy(out, v); });
  if (engine::is_hit(found)) return {};
  if (!l2_ || found == engine::Lookup::absent) return not_found();
  timer.left_l1();
  Result<std::string> fetched = miss_.serve(ctx, shard_for(h), h, key, nullptr);
  if (!fetched) return std::unexpected(std::move(fetched.error()));
  out = std::move(*fetched);
  return {};
}

Result<std::size_t> Cache::Impl::get_into(const Context& ctx, std::string_view key,
                                          std::span<char> out) {
  engine::CallTimer timer(latencies_, Op::get);
  const std::uint64_t h = hash_key(key);
  std::size_t size = 0;
  const engine::Lookup found = read_l1(h, key, false, [&](std::string_view v) {
    size = v.size();
    if (v.size() <= out.size()) engine::copy_from_racy(out.data(), v.data(), v.size());
  });
  if (!engine::is_hit(found)) {
    if (!l2_ || found == engine::Lookup::absent) return not_found();
    timer.left_l1();
    Result<std::string> fetched = miss_.serve(ctx, shard_for(h), h, key, nullptr);
    if (!fetched) return std::unexpected(std::move(fetched.error()));
    size = fetched->size();
    if (size <= out.size() && size != 0) std::memcpy(out.data(), fetched->data(), size);
  }
  if (size > out.size()) {
    Result<std::size_t> too_small =
        fail(errc::buffer_too_small, "get_into: value is ", size, " bytes; buffer is ", out.size());
    too_small.error().needed_bytes = size;
    return too_small;
  }
  return size;
}

Result<void> Cache::Impl::set(const Context& ctx, std::string_view key, std::string_view value,
                              std::optional<std::chrono::milliseconds> ttl) {
  engine::CallTimer timer(latencies_, Op::set);
  Result<WriteWait> queued = start_set(ctx, key, value, ttl, timer);
  if (!queued) return std::unexpected(std::move(queued.error()));
  if (*queued == nullptr) return {};
  timer.left_l1();
  return writer_->await(ctx, *queued, "sync set");
}

Result<Cache::Impl::WriteWait> Cache::Impl::start_set(const Context& ctx, std::string_view key,
                                                      std::string_view value,
                                                      std::optional<std::chrono::milliseconds> ttl,
                                                      engine::CallTimer& timer) {
  if (!value_accepted(value.size())) [[unlikely]]
    return value_refused("set", value.size());
  if (ttl && (ttl->count() <= 0 || *ttl > kMaxTtl))
    return fail(errc::invalid_argument, "set: ttl is ", ttl->count(), "ms; must be in [1, ",
                kMaxTtl.count(), "] (for no expiry, give no ttl)");
  const std::uint64_t h = hash_key(key);
  const std::uint64_t expires = engine::expiry_after(jittered(ttl.value_or(options_.default_ttl)));
  if (!writer_) {
    shard_for(h).set(h, key, value, expires, 0);
    counters_.add(kSets);
    return nullptr;
  }
  WriteOp op;
  op.kind = WriteOp::Kind::set;
  op.assign(key, value);
  op.hash = h;
  op.expires_at_ms = expires;
  return enqueue_write(ctx, key, value, op, timer);
}

Result<std::vector<Result<void>>> Cache::Impl::set_many(
    const Context& ctx, std::span<const std::pair<std::string_view, std::string_view>> entries) {
  if (entries.empty()) return fail(errc::invalid_argument, "set_many: no entries");
  engine::CallTimer timer(latencies_, Op::set_many);
  std::vector<Result<void>> results(entries.size());
  // Everything queued first, then waited for: in sync mode the writes share round trips.
  std::vector<WriteWait> waits(entries.size());
  for (std::size_t i = 0; i < entries.size(); ++i) {
    const auto& [key, value] = entries[i];
    if (!key_accepted(key)) {
      results[i] = key_refused("set_many", key);
      continue;
    }
    Result<WriteWait> queued = start_set(ctx, key, value, std::nullopt, timer);
    if (queued) {
      waits[i] = std::move(*queued);
    } else {
      results[i] = std::unexpected(std::move(queued.error()));
    }
  }
  for (std::size_t i = 0; i < entries.size(); ++i) {
    if (!results[i] || waits[i] == nullptr) continue;
    timer.left_l1();
    results[i] = writer_->await(ctx, waits[i], "sync set");
  }
  return results;
}

Result<std::vector<Result<std::string>>> Cache::Impl::get_many(
    const Context& ctx, std::span<const std::string_view> keys, const BatchLoader* batch) {
  const char* op = batch != nullptr ? "get_or_load_many" : "get_many";
  if (auto closed = check_open(op); !closed) return std::unexpected(std::move(closed.error()));
  if (keys.empty()) return fail(errc::invalid_argument, op, ": no keys");
  engine::CallTimer timer(latencies_, batch != nullptr ? Op::get_or_load_many : Op::get_many);
  std::vector<Result<std::string>> results(keys.size());
  // Per position, the first position of its key: a key given twice is looked up once.
  std::vector<std::size_t> first(keys.size());
  std::unordered_map<std::string_view, std::size_t> seen;
  seen.reserve(keys.size());
  std::vector<engine::MissPath::MissedKey> missed;
  std::vector<std::size_t> missed_at;
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const std::string_view key = keys[i];
    first[i] = i;
    if (!key_accepted(key)) {
      results[i] = key_refused(op, key);
      continue;
    }
    const auto [it, is_new] = seen.emplace(key, i);
    if (!is_new) {
      first[i] = it->second;
      continue;
    }
    const std::uint64_t h = hash_key(key);
    std::string value;
    // An early refresh is a single key's business: a batch serves the value it reads.
    switch (read_l1(h, key, false, [&](std::string_view v) { assign_racy(value, v); })) {
      case engine::Lookup::hit:
      case engine::Lookup::hit_refresh:
      case engine::Lookup::hit_stale:
        results[i] = std::move(value);
        break;
      case engine::Lookup::absent:
        results[i] = not_found();
        break;
      case engine::Lookup::miss:
        if (!l2_ && batch == nullptr) {
          results[i] = not_found();
        } else {
          missed.push_back({&shard_for(h), h, key});
          missed_at.push_back(i);
        }
        break;
    }
  }
  if (!missed.empty()) {
    timer.left_l1();
    // For a key served on its own (its writes are on their way): the batch loader, for one key.
    const Loader one = [batch](const Context& c, std::string_view key) -> Result<Loaded> {
      Result<std::vector<Result<Loaded>>> r =
          (*batch)(c, std::span<const std::string_view>(&key, 1));
      if (!r) return std::unexpected(std::move(r.error()));
      if (r->size() != 1)
        return fail(errc::invalid_argument, "get_or_load_many: the batch loader answered ",
                    r->size(), " results for 1 key; nothing cached");
      return std::move(r->front());
    };
    const engine::LoadRequest single{one, std::nullopt};
    std::vector<Result<std::string>> served =
        miss_.serve_many(ctx, missed, batch, batch != nullptr ? &single : nullptr);
    for (std::size_t j = 0; j < missed.size(); ++j) results[missed_at[j]] = std::move(served[j]);
  }
  for (std::size_t i = 0; i < keys.size(); ++i)
    if (first[i] != i) results[i] = results[first[i]];
  return results;
}

Result<void> Cache::Impl::purge(const Context& ctx, std::string_view key) {
  engine::CallTimer timer(latencies_, Op::purge);
  const std::uint64_t h = hash_key(key);
  if (!writer_) {
    shard_for(h).purge(h, key);
    counters_.add(kPurges);
    return {};
  }
  WriteOp op;
  op.kind = WriteOp::Kind::purge;
  op.assign(key);
  op.hash = h;
  Result<WriteWait> queued = enqueue_write(ctx, key, {}, op, timer);
  if (!queued) return std::unexpected(std::move(queued.error()));
  if (*queued == nullptr) return {};
  timer.left_l1();
  return writer_->await(ctx, *queued, "sync purge");
}

Result<Cache::Impl::WriteWait> Cache::Impl::enqueue_write(const Context& ctx, std::string_view key,
                                                          std::string_view value, WriteOp& op,
                                                          engine::CallTimer& timer) {
  // The op's own fields and views are gone once the queue takes it: keep what is needed after.
  const std::uint64_t h = op.hash;
  const WriteOp::Kind kind = op.kind;
  const std::uint64_t expires = op.expires_at_ms;
  const std::size_t bytes = op.bytes();
  ShardTable& shard = shard_for(h);
  auto done = writer_->prepare(op);
  for (;;) {
    // Under the key's shard lock: the seq, the queue and the cell change as one step, so L2
    // takes a key's writes in L1's order under every policy, and a write the queue refused
    // changes nothing in L1.
    auto admit = [&] { return queue_locked(key, op, kind, expires); };
    const bool admitted = kind == WriteOp::Kind::set
                              ? shard.set_if(h, key, value, expires,
                                             stamp(current_epoch(), Provenance::written), admit)
                              : shard.purge_if(h, key, admit);
    if (admitted) {
      counters_.add(kind == WriteOp::Kind::set ? kSets : kPurges);
      break;
    }
    // Refused for the close (queue_locked), or woken by it from a wait for room below: queued
    // now, the write would reach L2 after close() returned.
    if (closed_.load(std::memory_order_relaxed))
      return fail(errc::closed, write_name(kind),
                  ": the cache was closed before this write was queued; nothing changed");
    switch (options_.writer.when_full) {
      case QueueFullPolicy::refuse:
        writer_->note_refused();
        return fail(errc::overloaded, write_name(kind), ": write queue is full (",
                    options_.writer.queue_max_ops, " writes or ", options_.writer.queue_max_bytes,
                    " bytes; Options.writer) under QueueFullPolicy::refuse; nothing changed");
      case QueueFullPolicy::wait:
        timer.left_l1();
        if (auto room = writer_->wait_for_room(ctx, bytes, write_name(kind), closed_); !room)
          return std::unexpected(std::move(room.error()));
        continue;
      case QueueFullPolicy::drop_oldest:
        // Each round drops another caller's write: not past this caller's own deadline.
        if (auto why = ctx.done())
          return fail(*why, write_name(kind),
                      ": the write queue stayed full until the context "
                      "ended; nothing changed");
        if (!writer_->drop_oldest(bytes)) {
          writer_->note_refused();
          return fail(errc::overloaded, write_name(kind),
                      ": write queue is full and the writes in flight leave no room for this one "
                      "even if every write never sent were dropped; nothing changed");
        }
        continue;
    }
    // A policy no case names (open refuses one; no default, so that -Wswitch still names a new
    // enumerator left out): going round again would spin for ever, past the deadline.
    return fail(errc::invalid_argument, write_name(kind), ": Options.writer.when_full is ",
                static_cast<int>(options_.writer.when_full),
                ", no QueueFullPolicy; nothing changed");
  }
  return done;
}

void Cache::Impl::settle(std::span<const engine::Writer::SettledWrite> settled) {
  // One lock per shard the writes fall in, not one per write.
  std::vector<std::pair<std::size_t, const engine::Writer::SettledWrite*>> by_shard;
  by_shard.reserve(settled.size());
  for (const auto& s : settled) by_shard.emplace_back(shard_index(s.op->hash), &s);
  std::sort(by_shard.begin(), by_shard.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  for (std::size_t i = 0; i < by_shard.size();) {
    const std::size_t shard_at = by_shard[i].first;
    ShardTable& shard = *shards_[shard_at];
    engine::PendingWrites& pending = pending_[shard_at];
    shard.locked([&] {
      for (; i < by_shard.size() && by_shard[i].first == shard_at; ++i) {
        const WriteOp& op = *by_shard[i].second->op;
        const bool l1_must_drop = pending.settle_locked(op.hash, op.seq);
        // L2 did not take the write: L1 must not keep a value L2 does not have: this write's
        // own, or a loader's answer (a later fill's, or one its queue refused, or a "no such
        // key") that counted on it. After a purge L1 holds nothing else of the key.
        if (!by_shard[i].second->applied && l1_must_drop) shard.purge_locked(op.hash, op.key());
      }
    });
  }
}

Result<void> Cache::Impl::flush(const Context& ctx) {
  if (!writer_) return {};
  engine::CallTimer timer(latencies_, Op::flush);
  timer.left_l1();
  return writer_->flush(ctx);
}

Result<void> Cache::Impl::close(const Context& ctx) {
  closed_.store(true, std::memory_order_relaxed);
  if (writer_) {
    // A write that passed the door before the store above is queued under its shard lock, which
    // reads closed_ (queue_locked): taking each lock once orders every such write either ahead
    // of the flush below (the queue is FIFO) or after the store, refused with errc::closed.
    for (auto& shard : shards_) shard->locked([] {});
    // Writes waiting for room give up (errc::closed) instead of landing after the flush.
    writer_->wake_room_waiters();
  }
  // No get_or_load starts one now; the queued ones would load for a closed cache.
  miss_.drop_queued_refreshes();
  // Not through flush(): a close is not timed as one.
  return writer_ ? writer_->flush(ctx) : Result<void>{};
}

std::uint32_t Cache::Impl::stamp(std::uint32_t epoch, Provenance provenance) const noexcept {
  if ((epoch & 1) != 0) {
    // Changes may go unheard. The origin's answer while L2 cannot be read is kept until the
    // stream is back (the epoch moves on), so an outage does not send every read to the
    // origin; anything else is untrusted.
    return provenance == Provenance::loaded_as_l2_unreadable ? epoch : engine::kUnvouchedEpoch;
  }
  // In tracked mode Redis reports changes only to keys this cache read, and only the next one.
  const bool heard =
      changes_heard_ != ChangesHeard::keys_read || provenance == Provenance::read_from_l2;
  return heard ? epoch : engine::kUnvouchedEpoch;
}

bool Cache::Impl::l2_unreadable_for_stale() const {
  // The backend is asked only while some epoch's values may be served stale (the stream is
  // lost), not on every miss.
  return options_.stale_if_l2_down && l2_ &&
         stale_servable_epoch_.load(std::memory_order_relaxed) != engine::kUntrustedEpoch &&
         !l2_->accepts_reads();
}

LeadPlan Cache::Impl::plan_locked(std::uint64_t hash, std::string_view key,
                                  std::optional<engine::UntrustedStamp> untrusted,
                                  bool l2_unreadable) {
  if (!writer_) return LeadPlan::read_l2;
  engine::PendingWrites& pending = pending_for(hash);
  const std::uint64_t now = engine::coarse_now_ms();
  // A value L1 holds from another epoch is still this cache's own unacknowledged write, if
  // there is one: read your writes holds whatever the epoch.
  if (untrusted && pending.owns_value_locked(hash, key, now)) return LeadPlan::serve_l1_value;
  // Or, by choice, an answer while L2 cannot give a better one: only a value trusted until the
  // change stream was lost, and not since flushed.
  if (untrusted && serve_stale_locked(*untrusted, l2_unreadable)) return LeadPlan::serve_l1_value;
  return pending.plan_locked(hash, key, now);
}

bool Cache::Impl::serve_stale_locked(engine::UntrustedStamp untrusted,
                                     bool l2_unreadable) noexcept {
  if (!l2_unreadable || !stale_servable(untrusted)) return false;
  counters_.add(kStaleServed);
  return true;
}

bool Cache::Impl::stale_servable(engine::UntrustedStamp untrusted) const noexcept {
  // kUntrustedEpoch is no value's stamp, so nothing matches it.
  return options_.stale_if_l2_down && l2_ &&
         untrusted.epoch == stale_servable_epoch_.load(std::memory_order_acquire);
}

void Cache::Impl::keys_changed(std::span<const std::string_view> keys) {
  counters_.add(kInvalidations);
  for (std::string_view key : keys) {
    const std::uint64_t h = hash_key(key);
    // A load it marks shows later, as a fill discarded.
    if (shard_for(h).invalidate(h, key) == engine::Invalidated::erased) counters_.add(kKeysErased);
  }
}

void Cache::Impl::all_changed() {
  counters_.add(kInvalidations);
  counters_.add(kFlushesHeard);
  counters_.add(kEpochBumps);
  // Nothing from before it may be served, not even stale.
  stale_servable_epoch_.store(engine::kUntrustedEpoch, std::memory_order_release);
  // Two: the parity (heard or not) stays, and every value of the old epoch is a miss. A load in
  // flight was stamped with the old epoch before it asked L2, so its fill is a miss too.
  epoch_.fetch_add(2, std::memory_order_release);
}

// The events come one at a time from the backend's thread: the only writer of epoch_ once the
// cache is open, so a plain load and store suffice.
void Cache::Impl::coherence_lost() {
  const std::uint32_t e = current_epoch();
  if ((e & 1) != 0) return;
  stale_servable_epoch_.store(e, std::memory_order_release);
  epoch_.store(e + 1, std::memory_order_release);
  counters_.add(kEpochBumps);
}

void Cache::Impl::coherence_restored() {
  const std::uint32_t e = current_epoch();
  if ((e & 1) == 0) return;
  // The values of the epoch before the loss crossed a gap in the stream: never servable again,
  // not even stale at the next loss.
  stale_servable_epoch_.store(engine::kUntrustedEpoch, std::memory_order_release);
  epoch_.store(e + 1, std::memory_order_release);
  counters_.add(kEpochBumps);
}

bool Cache::Impl::loader_could_answer(const Error& error) const {
  return error == errc::not_found || options_.when_l2_down == L2DownPolicy::load;
}

Result<Produced> Cache::Impl::read_l2(const Context& ctx, std::string_view key) {
  return std::move(read_l2_many(ctx, std::span<const std::string_view>(&key, 1)).front());
}

std::vector<Result<Produced>> Cache::Impl::read_l2_many(const Context& ctx,
                                                        std::span<const std::string_view> keys) {
  // No is_available() shortcut: a down connection answers at once, and with its reason.
  // The L1 copy must not outlive the L2 one: count its TTL from before the request left, less
  // one tick of the coarse clock, which may lag the real one by that much.
  const std::uint64_t sent_ms = engine::coarse_now_ms();
  const auto sent = std::chrono::steady_clock::now();
  // Asked before sending: a read sent while L2 was up is a round trip even if the connection
  // then drops and every key answers backend_unavailable.
  const bool l2_was_up = l2_->accepts_reads();
  using Answers = std::vector<Result<BackendValue>>;
  // In reads of at most kMaxKeysPerL2Read keys, all sent before the first is waited for: one
  // huge script would hold up Redis, and its reply could pass the reply bounds.
  std::vector<std::shared_ptr<engine::OneShot<Answers>>> replies;
  for (std::size_t from = 0; from < keys.size(); from += kMaxKeysPerL2Read) {
    const auto chunk = keys.subspan(from, std::min(kMaxKeysPerL2Read, keys.size() - from));
    auto reply = std::make_shared<engine::OneShot<Answers>>();
    l2_->read(std::vector<std::string>(chunk.begin(), chunk.end()),
              [reply](Answers results) { reply->set(std::move(results)); });
    replies.push_back(std::move(reply));
  }
  std::vector<Result<Produced>> out;
  out.reserve(keys.size());
  for (std::size_t c = 0; c < replies.size(); ++c) {
    const std::size_t chunk_keys = std::min(kMaxKeysPerL2Read, keys.size() - c * kMaxKeysPerL2Read);
    Result<Answers> waited = [&] {
      const engine::SpinBudget::Ticket ticket(l2_read_spin_);
      return replies[c]->wait(ctx, "get: L2 read", ticket.spin_for());
    }();
    if (waited) {
      const std::chrono::nanoseconds took = std::chrono::steady_clock::now() - sent;
      if (c == 0) l2_read_spin_.record(took);
      // A read L2 refused at once for being down made no round trip.
      const bool went = l2_was_up || std::any_of(waited->begin(), waited->end(), [](const auto& r) {
                          return r || r.error() != errc::backend_unavailable;
                        });
      if (went) latencies_.record(engine::Timed::l2_read, static_cast<std::uint64_t>(took.count()));
    }
    if (waited && waited->size() != chunk_keys)
      waited = fail(errc::backend_error, "get: L2 answered ", waited->size(), " results for ",
                    chunk_keys, " keys");
    for (std::size_t i = 0; i < chunk_keys; ++i)
      out.push_back(waited ? produced_from_l2((*waited)[i], sent_ms)
                           : Result<Produced>(std::unexpected(waited.error())));
  }
  return out;
}

Result<Produced> Cache::Impl::produced_from_l2(Result<BackendValue>& r, std::uint64_t sent_ms) {
  if (!r) return std::unexpected(std::move(r.error()));
  if (!value_accepted(r->value.size()))
    return fail(errc::serialization,
                value_refused("get: L2 value", r->value.size()).error().detail);
  // A marker ("no such key", Options.negative_in_l2) is kept no longer than negative_ttl, if
  // this cache sets one, and never past its end in L2.
  const std::chrono::milliseconds keep = r->absent ? options_.negative_ttl : options_.default_ttl;
  std::uint64_t expires = engine::expiry_after(keep);
  // A marker without a TTL (PERSIST, another tool) is answered, but L1 keeps it no longer than
  // its own negative_ttl; with none, not at all.
  if (r->absent && r->ttl_left.kind != TtlLeft::Kind::after && keep.count() == 0)
    expires = engine::coarse_now_ms();
  if (r->ttl_left.kind == TtlLeft::Kind::after) {
    // With stale-while-revalidate a loaded value lives its grace longer in L2 than it is fresh,
    // and L2 does not say which values those are: such a value read from L2 is taken as fresh
    // until its L2 end (docs/configuration.md).
    const std::uint64_t l2_end = sent_ms + static_cast<std::uint64_t>(r->ttl_left.left.count());
    expires = std::min(expires, l2_end - std::min(l2_end, engine::coarse_resolution_ms()));
  }
  return Produced{std::move(r->value), expires, false, 0, r->absent};
}

Result<Produced> Cache::Impl::produce(const Context& ctx, std::string_view key, LeadPlan plan,
                                      const engine::LoadRequest* load, engine::PromiseSlot* slot) {
  // Before L2 is asked: a change heard or missed from here on makes this value's stamp stale.
  const std::uint32_t epoch = current_epoch();
  Provenance provenance = Provenance::written;
  Result<Produced> p = produce_unstamped(ctx, key, plan, load, slot, provenance);
  if (p) {
    p->epoch = stamp(epoch, provenance);
    p->asked_in_epoch = epoch;
  }
  return p;
}

Result<Produced> Cache::Impl::produce_unstamped(const Context& ctx, std::string_view key,
                                                LeadPlan plan, const engine::LoadRequest* load,
                                                engine::PromiseSlot* slot, Provenance& provenance) {
  if (l2_ && plan != LeadPlan::known_absent && plan != LeadPlan::refresh) {
    // Our own write to the key is still on its way; L2's answer is stale until it lands, so L2
    // is read only after it did. While L2 takes no writes (the write cannot land: the writer
    // holds it) or no reads (the read after it would fail), waiting would only hold the caller
    // until its deadline: that is looked at before and all through the wait. Then a set's
    // caller fails at once, and a loaded value's goes on to the loader as on any L2 failure;
    // either way L2 is not read: it may take reads again by now, but still not have the write.
    std::optional<Result<Produced>> l2_down;
    if (plan == LeadPlan::flush_then_read || plan == LeadPlan::fill_then_read) {
      const char* why = nullptr;
      const engine::Writer::GiveUpWhen give_up = [this, &why]() -> const char* {
        if (!l2_->accepts_writes())
          why = "L2 takes no writes";
        else if (!l2_->accepts_reads())
          why = "L2 takes no reads";
        return why;
      };
      if (auto landed = writer_->flush(ctx, give_up); !landed) {
        if (why == nullptr) return std::unexpected(landed.error());  // ctx ended, or closed
        const char* what = plan == LeadPlan::flush_then_read
                               ? "a set of this cache to the key"
                               : "a value this cache loaded for the key";
        l2_down.emplace(
            fail(errc::backend_unavailable, "get: ", why, ", and ", what, " has not reached it"));
        if (plan == LeadPlan::flush_then_read) return std::move(*l2_down);
      }
    }
    Result<Produced> from_l2 = l2_down ? std::move(*l2_down) : read_l2(ctx, key);
    if (slot != nullptr && l2_answered(from_l2)) slot->l2_answered();
    if (from_l2) {
      counters_.add(kL2Hits);
      if (from_l2->absent) counters_.add(kNegativeHits);
      provenance = Provenance::read_from_l2;
      return from_l2;
    }
    if (from_l2.error() == errc::not_found) {
      counters_.add(kL2Misses);
      provenance = Provenance::read_from_l2;
    } else {
      // The caller's own deadline or cancellation is not L2's failure.
      if (!ctx.done()) count_l2_error(from_l2.error());
      // After waiting for this cache's set, the loader's answer could replace the set that
      // just landed in L2; only L2 can answer.
      if (load == nullptr || options_.when_l2_down == L2DownPolicy::fail || ctx.done() ||
          plan == LeadPlan::flush_then_read)
        return from_l2;
      provenance = Provenance::loaded_as_l2_unreadable;
    }
  }
  if (load == nullptr) return not_found();
  return run_loader(ctx, key, *load);
}

void Cache::Impl::filled_locked(std::uint64_t hash, std::string_view key, const Produced& p) {
  if (!p.loaded || !writer_) return;
  if (p.absent && !options_.negative_in_l2) {
    // An early refresh that found the key gone ends L2's copy too (the value a fill or refresh of
    // this cache wrote, with its stale grace): else the next miss reads it back and serves it as
    // fresh, without asking the origin. Any other load found L2 without the key.
    if (p.refreshed) {
      WriteOp purge;
      purge.kind = WriteOp::Kind::purge;
      purge.assign(key);
      purge.hash = hash;
      // A full queue leaves L2's copy until it expires, as one leaves L2 without a fill.
      queue_locked(key, purge, WriteOp::Kind::purge, 0);
    }
    return;
  }
  // Queued under the fill's lock: a purge or set of this cache that raced the load replaced the
  // loading entry, so this never runs after it. Written as a fill (only where L2 holds nothing),
  // so a value another writer stored in L2 meanwhile is not replaced by an older loaded one. A
  // full queue only costs L2 this copy (L1 keeps the loaded value; L2 simply lacks it).
  WriteOp op;
  op.kind = WriteOp::Kind::fill;
  // An early refresh's value replaces L2's (older) copy, if every change to the key since the
  // refresh began would have been heard (and would have ended its claim): the change stream was
  // up then and has had no gap or flush until the write is sent (WriteOp::replaces).
  op.replaces = p.refreshed && (p.asked_in_epoch & 1) == 0;
  op.replace_epoch = p.asked_in_epoch;
  op.absent = p.absent;
  op.assign(key, p.value);
  op.hash = hash;
  // L2 keeps a loaded value through its stale grace too: Redis's own expiry at the TTL would
  // otherwise be heard as a change and drop the L1 copy that may still be served.
  const std::uint64_t grace = static_cast<std::uint64_t>(options_.stale_while_revalidate.count());
  op.expires_at_ms = p.absent || p.expires_at_ms == engine::kNeverExpires || grace == 0
                         ? p.expires_at_ms
                         : p.expires_at_ms + grace;
  // Recorded as a fill either way: a loaded value is not this cache's own write (which reads
  // would trust in any epoch, and wait for rather than load).
  queue_locked(key, op, WriteOp::Kind::fill, p.expires_at_ms);
}

bool Cache::Impl::queue_locked(std::string_view key, WriteOp& op, WriteOp::Kind recorded,
                               std::uint64_t expires_at_ms) {
  if (closed_.load(std::memory_order_relaxed)) return false;
  const std::uint64_t hash = op.hash;
  engine::PendingWrites& pending = pending_for(hash);
  // Whatever may throw goes before the queue takes the op.
  pending.reserve_one_locked();
  op.seq = next_seq_.fetch_add(1, std::memory_order_relaxed);
  const std::uint64_t seq = op.seq;
  if (!writer_->try_enqueue(op)) return false;
  pending.record_locked(hash, key, recorded, seq, expires_at_ms);
  return true;
}

namespace {

Result<Loaded> call_loader(const Context& ctx, std::string_view key, const Loader& loader) {
  try {
    return loader(ctx, key);
  } catch (const std::exception& e) {
    return fail(errc::backend_error, "get_or_load: loader threw: ", e.what());
  } catch (...) {
    return fail(errc::backend_error, "get_or_load: loader threw a non-std exception");
  }
}

}  // namespace

Result<Produced> Cache::Impl::run_loader(const Context& ctx, std::string_view key,
                                         const engine::LoadRequest& load) {
  counters_.add(kLoads);
  engine::CallTimer::loader_runs(latencies_);
  const auto started = std::chrono::steady_clock::now();
  Result<Loaded> loaded = call_loader(ctx, key, load.loader);
  const std::chrono::nanoseconds took = std::chrono::steady_clock::now() - started;
  latencies_.record(engine::Timed::load, static_cast<std::uint64_t>(took.count()));
  return produced_from_loaded(ctx, std::move(loaded), took, load.ttl);
}

Result<Produced> Cache::Impl::produced_from_loaded(
    const Context& ctx, Result<Loaded> loaded, std::chrono::nanoseconds took,
    std::optional<std::chrono::milliseconds> call_ttl) {
  // The one error that is an answer: the origin has no such key. Not when the caller's context
  // ended: a loader may report a cancelled query as "no rows".
  if (!loaded && loaded.error() == errc::not_found && !ctx.done()) loaded = Loaded::absent();
  Result<Produced> p = [&]() -> Result<Produced> {
    if (!loaded) return std::unexpected(std::move(loaded.error()));
    const std::optional<std::chrono::milliseconds> ttl = loaded->ttl();
    if (ttl && (ttl->count() <= 0 || *ttl > kMaxTtl))
      return fail(errc::invalid_argument, "get_or_load: the loader's ttl is ", ttl->count(),
                  "ms; must be in [1, ", kMaxTtl.count(), "]; nothing cached");
    if (!loaded->found()) {
      counters_.add(kNegativeLoads);
      // 0 (negative caching off): expires now, so the answer is not cached.
      const std::chrono::milliseconds keep = ttl.value_or(options_.negative_ttl);
      const std::uint64_t expires =
          keep.count() == 0 ? engine::coarse_now_ms() : engine::expiry_after(jittered(keep));
      return Produced{{}, expires, true, 0, true};
    }
    if (!value_accepted(loaded->value().size()))
      return value_refused("get_or_load: loader's value", loaded->value().size());
    const std::chrono::milliseconds keep = ttl.value_or(call_ttl.value_or(options_.default_ttl));
    const std::chrono::milliseconds lives = jittered(keep);
    return Produced{std::move(*loaded).value(),
                    engine::expiry_after(lives),
                    true,
                    0,
                    false,
                    engine::load_time_code_within(engine::load_time_code(took),
                                                  static_cast<double>(lives.count()),
                                                  options_.early_refresh_beta)};
  }();
  // A loader that failed because its caller's context ended is a hand-off, not a failure.
  if (!p && !ctx.done()) counters_.add(kLoadFailures);
  return p;
}

std::vector<Result<Produced>> Cache::Impl::run_batch_loader(const Context& ctx,
                                                            std::span<const std::string_view> keys,
                                                            const BatchLoader& batch) {
  counters_.add(kLoads, keys.size());
  engine::CallTimer::loader_runs(latencies_);
  const auto started = std::chrono::steady_clock::now();
  Result<std::vector<Result<Loaded>>> loaded = [&]() -> Result<std::vector<Result<Loaded>>> {
    try {
      return batch(ctx, keys);
    } catch (const std::exception& e) {
      return fail(errc::backend_error, "get_or_load_many: loader threw: ", e.what());
    } catch (...) {
      return fail(errc::backend_error, "get_or_load_many: loader threw a non-std exception");
    }
  }();
  if (loaded && loaded->size() != keys.size())
    loaded = fail(errc::invalid_argument, "get_or_load_many: the batch loader answered ",
                  loaded->size(), " results for ", keys.size(), " keys; nothing cached");
  const std::chrono::nanoseconds took = std::chrono::steady_clock::now() - started;
  latencies_.record(engine::Timed::load, static_cast<std::uint64_t>(took.count()));
  std::vector<Result<Produced>> out;
  out.reserve(keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    Result<Loaded> one = loaded ? std::move((*loaded)[i]) : std::unexpected(loaded.error());
    out.push_back(produced_from_loaded(ctx, std::move(one), took, std::nullopt));
  }
  return out;
}

std::vector<Result<Produced>> Cache::Impl::produce_many(const Context& ctx,
                                                        std::span<const std::string_view> keys,
                                                        std::span<engine::PromiseSlot* const> slots,
                                                        const BatchLoader* batch) {
  // Before L2 is asked, as in produce().
  const std::uint32_t epoch = current_epoch();
  std::vector<Result<Produced>> out(keys.size());
  std::vector<Provenance> provenance(keys.size(), Provenance::written);
  std::vector<std::size_t> to_load;
  if (l2_) {
    out = read_l2_many(ctx, keys);
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (l2_answered(out[i])) slots[i]->l2_answered();
      if (out[i]) {
        counters_.add(kL2Hits);
        if (out[i]->absent) counters_.add(kNegativeHits);
        provenance[i] = Provenance::read_from_l2;
        continue;
      }
      if (out[i].error() == errc::not_found) {
        counters_.add(kL2Misses);
        provenance[i] = Provenance::read_from_l2;
        if (batch != nullptr) to_load.push_back(i);
        continue;
      }
      if (!ctx.done()) count_l2_error(out[i].error());
      if (batch != nullptr && options_.when_l2_down == L2DownPolicy::load && !ctx.done()) {
        provenance[i] = Provenance::loaded_as_l2_unreadable;
        to_load.push_back(i);
      }
    }
  } else {
    for (std::size_t i = 0; i < keys.size(); ++i) {
      out[i] = not_found();
      if (batch != nullptr) to_load.push_back(i);
    }
  }
  if (!to_load.empty()) {
    std::vector<std::string_view> load_keys;
    load_keys.reserve(to_load.size());
    for (const std::size_t i : to_load) load_keys.push_back(keys[i]);
    std::vector<Result<Produced>> loaded = run_batch_loader(ctx, load_keys, *batch);
    for (std::size_t j = 0; j < to_load.size(); ++j) out[to_load[j]] = std::move(loaded[j]);
  }
  for (std::size_t i = 0; i < keys.size(); ++i) {
    if (!out[i]) continue;
    out[i]->epoch = stamp(epoch, provenance[i]);
    out[i]->asked_in_epoch = epoch;
  }
  return out;
}

CacheStats Cache::Impl::stats() const {
  CacheStats s;
  s.l1_hits = counters_.sum(kHits);
  s.l1_misses = counters_.sum(kMisses);
  s.loads = counters_.sum(kLoads);
  s.load_failures = counters_.sum(kLoadFailures);
  s.coalesced = miss_.coalesced();
  s.invalidations = counters_.sum(kInvalidations);
  s.invalidated_keys = counters_.sum(kKeysErased);
  s.fills_discarded = miss_.fills_discarded();
  s.flushes_heard = counters_.sum(kFlushesHeard);
  s.epoch_bumps = counters_.sum(kEpochBumps);
  s.stale_refused = miss_.stale_refused();
  s.stale_served = counters_.sum(kStaleServed);
  s.negative_hits = counters_.sum(kNegativeHits) + miss_.negative_hits();
  s.decode_failures = counters_.sum(kDecodeFailures);
  s.negative_loads = counters_.sum(kNegativeLoads);
  s.refreshes = miss_.refreshes();
  s.refresh_failures = miss_.refresh_failures();
  s.l2_coherent = (current_epoch() & 1) == 0;
  s.l2_hits = counters_.sum(kL2Hits);
  s.l2_misses = counters_.sum(kL2Misses);
  for (std::size_t i = 0; i < s.l2_errors.by_code.size(); ++i)
    s.l2_errors.by_code[i] = counters_.sum(kL2ErrorsFirst + i);
  s.sets = counters_.sum(kSets);
  s.purges = counters_.sum(kPurges);
  for (const auto& shard : shards_) {
    s.evictions += shard->evictions();
    s.expirations += shard->expirations();
    s.entries += shard->entry_count();
    s.bytes += shard->size_bytes();
  }
  s.max_bytes = options_.l1.max_bytes;
  s.overhead_bytes_per_entry = engine::kEntryOverheadBytes;
  s.retired_bytes = engine::retired_bytes();
  if (writer_) {
    const engine::WriterStats w = writer_->stats();
    s.write_batches = w.batches;
    s.writes_sent = w.sent;
    s.writes_coalesced = w.coalesced;
    s.write_errors = w.failed;
    s.writes_retried = w.retried;
    s.writes_refused = w.refused;
    s.writes_dropped = w.dropped;
    s.write_queue_depth = w.queue_depth;
    s.write_queue_bytes = w.queue_bytes;
  }
  if (l2_) {
    BackendHealth health = l2_->health();
    s.l2_available = health.available;
    s.l2_last_error = std::move(health.last_error);
    s.l2_reconnects = health.reconnects;
    s.invalidation_reconnects = health.invalidation_reconnects;
    s.l2_unreadable_values = health.unreadable_values;
    s.l2_moved_redirects = health.moved_redirects;
    s.l2_ask_redirects = health.ask_redirects;
    s.l2_cluster_retries = health.cluster_retries;
    s.l2_topology_refreshes = health.topology_refreshes;
  }
  return s;
}

Metrics Cache::Impl::metrics() const {
  Metrics m;
  m.stats = stats();
  for (std::size_t op = 0; op < kOpCount; ++op)
    for (std::size_t tier = 0; tier < kTierCount; ++tier)
      m.calls[op][tier] = latencies_.call_snapshot(static_cast<Op>(op), static_cast<Tier>(tier));
  m.l2_reads = latencies_.snapshot(engine::Timed::l2_read);
  m.loads = latencies_.snapshot(engine::Timed::load);
  m.write_batches = latencies_.snapshot(engine::Timed::write_batch);
  m.write_batch_sizes = latencies_.snapshot(engine::Timed::write_batch_size);
  return m;
}

Result<void> Cache::Impl::attach_endpoint() {
  MetricsEndpoint* endpoint = options_.metrics.endpoint.get();
  if (endpoint == nullptr) return {};
  if (auto attached = endpoint->attach([this] { return metrics(); }); !attached) return attached;
  endpoint_attached_ = true;
  return {};
}

bool Cache::Impl::check_invariants() const {
  for (const auto& shard : shards_)
    if (!shard->check_invariants()) return false;
  return true;
}

bool CacheTestAccess::check_invariants(const Cache& cache) {
  return cache.impl_->check_invariants();
}

std::size_t Cache::Impl::longest_probe() const {
  std::size_t longest = 0;
  for (const auto& shard : shards_) longest = std::max(longest, shard->longest_probe());
  return longest;
}

std::size_t CacheTestAccess::longest_probe(const Cache& cache) {
  return cache.impl_->longest_probe();
}

std::uint64_t CacheTestAccess::hash_of(const Cache& cache, std::string_view key) {
  return cache.impl_->hash_key(key);
}

std::size_t CacheTestAccess::room_waiters(const Cache& cache) {
  return cache.impl_->room_waiters();
}

std::size_t CacheTestAccess::flushes_waiting(const Cache& cache) {
  return cache.impl_->flushes_waiting();
}

Cache::Cache(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Cache::Cache(Cache&&) noexcept = default;
Cache& Cache::operator=(Cache&&) noexcept = default;
Cache::~Cache() = default;

Result<std::string> Cache::get(const Context& ctx, std::string_view key) {
  if (!impl_->key_accepted(key)) [[unlikely]]
    return impl_->key_refused("get", key);
  return impl_->get(ctx, key, nullptr);
}

Result<void> Cache::get(const Context& ctx, std::string_view key, std::string& out) {
  if (!impl_->key_accepted(key)) [[unlikely]]
    return impl_->key_refused("get", key);
  return impl_->get(ctx, key, out);
}

Result<std::size_t> Cache::get_into(const Context& ctx, std::string_view key, std::span<char> out) {
  if (!impl_->key_accepted(key)) [[unlikely]]
    return impl_->key_refused("get_into", key);
  return impl_->get_into(ctx, key, out);
}

Result<void> Cache::set(const Context& ctx, std::string_view key, std::string_view value) {
  if (!impl_->key_accepted(key)) [[unlikely]]
    return impl_->key_refused("set", key);
  return impl_->set(ctx, key, value, std::nullopt);
}

Result<void> Cache::set(const Context& ctx, std::string_view key, std::string_view value,
                        std::chrono::milliseconds ttl) {
  if (!impl_->key_accepted(key)) [[unlikely]]
    return impl_->key_refused("set", key);
  return impl_->set(ctx, key, value, ttl);
}

Result<void> Cache::purge(const Context& ctx, std::string_view key) {
  if (!impl_->key_accepted(key)) [[unlikely]]
    return impl_->key_refused("purge", key);
  return impl_->purge(ctx, key);
}

Result<std::string> Cache::get_or_load(const Context& ctx, std::string_view key,
                                       const Loader& loader) {
  if (!impl_->key_accepted(key)) [[unlikely]]
    return impl_->key_refused("get_or_load", key);
  if (!loader) return fail(errc::invalid_argument, "get_or_load: loader is empty");
  const engine::LoadRequest load{loader, std::nullopt};
  return impl_->get(ctx, key, &load);
}

Result<std::string> Cache::get_or_load(const Context& ctx, std::string_view key,
                                       const Loader& loader, std::chrono::milliseconds ttl) {
  if (!impl_->key_accepted(key)) [[unlikely]]
    return impl_->key_refused("get_or_load", key);
  if (!loader) return fail(errc::invalid_argument, "get_or_load: loader is empty");
  if (ttl.count() <= 0 || ttl > kMaxTtl)
    return fail(errc::invalid_argument, "get_or_load: ttl is ", ttl.count(), "ms; must be in [1, ",
                kMaxTtl.count(), "] (for the default, give no ttl)");
  const engine::LoadRequest load{loader, ttl};
  return impl_->get(ctx, key, &load);
}

Result<std::vector<Result<std::string>>> Cache::get_many(const Context& ctx,
                                                         std::span<const std::string_view> keys) {
  return impl_->get_many(ctx, keys, nullptr);
}

Result<std::vector<Result<std::string>>> Cache::get_or_load_many(
    const Context& ctx, std::span<const std::string_view> keys, const BatchLoader& loader) {
  if (!loader) return fail(errc::invalid_argument, "get_or_load_many: loader is empty");
  return impl_->get_many(ctx, keys, &loader);
}

Result<std::vector<Result<void>>> Cache::set_many(
    const Context& ctx, std::span<const std::pair<std::string_view, std::string_view>> entries) {
  if (auto closed = impl_->check_open("set_many"); !closed)
    return std::unexpected(std::move(closed.error()));
  return impl_->set_many(ctx, entries);
}

Result<void> Cache::flush(const Context& ctx) {
  if (auto closed = impl_->check_open("flush"); !closed) return closed;
  return impl_->flush(ctx);
}

Result<void> Cache::close(const Context& ctx) {
  return impl_->close(ctx);
}

CacheStats Cache::stats() const {
  return impl_->stats();
}

Metrics Cache::metrics() const {
  return impl_->metrics();
}

const Options& Cache::options() const {
  return impl_->options();
}

}  // namespace tiercache
