// engine/api/cache_impl.hpp — Cache::Impl: what a Cache is made of, for cache.cpp and open.cpp.
//
// The L1 shards always; with an L2, the Backend, the Writer that feeds it and, per shard, the
// keys whose writes L2 has not acknowledged yet. Impl is also the ValueSource of the miss path:
// it reads L2, runs the loader and writes a loaded value back.
//
// Read your writes: until L2 acknowledges a write, the key's L1 state answers for it (the value,
// or "absent" for a purge) and no L2 fill replaces it; a write L2 refuses for good, or that is
// dropped, takes the key out of L1 if it was the key's latest, so L1 never stays ahead of L2.
//
// Coherence (a backend that hears changes, BackendEvents): a changed key is dropped from L1 (a
// load in flight for it is answered but not cached), and every value is stamped with the
// coherence epoch it was taken in. The epoch is even while every change is heard, odd while
// changes may go unheard; a read trusts only values stamped with the current epoch, so losing
// the change stream, or a FLUSHALL, makes every older value a miss at once with no scan. In an
// odd epoch only what the loader produced because L2 could not be read is stamped with it: the
// origin's answer, kept until the stream is back rather than asked again on every read.
#pragma once

#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/base/latencies.hpp"
#include "engine/base/spin_budget.hpp"
#include "engine/base/striped_counter.hpp"
#include "engine/l1/shard_table.hpp"
#include "engine/l2/backend_claim.hpp"
#include "engine/l2/pending_writes.hpp"
#include "engine/l2/writer.hpp"
#include "engine/miss/miss_path.hpp"
#include "tiercache/backend.hpp"
#include "tiercache/cache.hpp"
#include "tiercache/detail/typed_access.hpp"
#include "tiercache/metrics.hpp"

namespace tiercache {

class Cache::Impl final : engine::ValueSource, BackendEvents {
 public:
  // `completed` comes from complete_options(); `l2` is null for an L1-only cache;
  // `typed_object_bytes` is a TypedCache's TypedValues::object_bytes (0: a cache of bytes).
  // `claim`: this cache's hold on `l2` (BackendClaim::take), kept until l2 is let go.
  Impl(const Options& completed, std::shared_ptr<Backend> l2, engine::BackendClaim claim,
       std::size_t typed_object_bytes = 0);
  ~Impl();

  // errc::closed once close() was called.
  Result<void> check_open(const char* op) const;
  // Whether a call may go on with `key`: the cache open and the key within bounds. Inline and
  // without a Result, so a hit pays three compares for it; key_refused() says why not.
  bool key_accepted(std::string_view key) const noexcept {
    // Relaxed: a call racing close() may go either way; close()'s flush covers what got in.
    return !closed_.load(std::memory_order_relaxed) && !key.empty() &&
           key.size() <= options_.l1.max_key_bytes;
  }
  std::unexpected<Error> key_refused(const char* op, std::string_view key) const;

  // `load` null: a get, which reads L2 only.
  Result<std::string> get(const Context& ctx, std::string_view key,
                          const engine::LoadRequest* load);
  Result<void> get(const Context& ctx, std::string_view key, std::string& out);
  Result<std::size_t> get_into(const Context& ctx, std::string_view key, std::span<char> out);
  Result<void> set(const Context& ctx, std::string_view key, std::string_view value,
                   std::optional<std::chrono::milliseconds> ttl);
  // `batch` null: get_many, which reads L2 only. Keys are checked here, one by one.
  Result<std::vector<Result<std::string>>> get_many(const Context& ctx,
                                                    std::span<const std::string_view> keys,
                                                    const BatchLoader* batch);
  Result<std::vector<Result<void>>> set_many(
      const Context& ctx, std::span<const std::pair<std::string_view, std::string_view>> entries);
  Result<void> purge(const Context& ctx, std::string_view key);
  Result<void> flush(const Context& ctx);
  Result<void> close(const Context& ctx);

  // A TypedCache's get / get_or_load and get_many (detail/typed_access.hpp); engine/api/
  // typed_access.cpp. The key is checked by the caller.
  struct TypedLoad {
    detail::TypedAccess::MakeLoader make;  // null: a get
    const void* state;
    std::optional<std::chrono::milliseconds> ttl;
  };
  Result<void> get_decoded(const Context& ctx, std::string_view key,
                           const detail::TypedValues& values, const TypedLoad& load,
                           detail::TypedAccess::Visit visit, void* state);
  Result<std::vector<Result<void>>> get_many_decoded(const Context& ctx,
                                                     std::span<const std::string_view> keys,
                                                     const detail::TypedValues& values,
                                                     detail::TypedAccess::VisitAt visit,
                                                     void* state);

  CacheStats stats() const;
  Metrics metrics() const;
  // Publishes metrics() through Options.metrics.endpoint, if there is one; called once the Impl
  // is built, since a scrape may come at once.
  Result<void> attach_endpoint();
  bool check_invariants() const;
  std::size_t longest_probe() const;
  // Callers asleep in the write queue's wait for room (WriteQueue::room_waiters()). For tests.
  std::size_t room_waiters() const noexcept { return writer_ ? writer_->room_waiters() : 0; }
  // Flushes waiting for the writes queued before them (Writer::barriers_waiting()). For tests.
  std::size_t flushes_waiting() const { return writer_ ? writer_->barriers_waiting() : 0; }
  // The key's hash (XXH3 with key_seed_; inlined in cache.cpp, where the hot paths are): the
  // index's key and the shard's choice.
  std::uint64_t hash_key(std::string_view key) const noexcept;
  const Options& options() const noexcept { return options_; }

 private:
  // The value counterparts of key_accepted() and key_refused().
  bool value_accepted(std::size_t value_bytes) const noexcept {
    return value_bytes <= options_.l1.max_value_bytes;
  }
  std::unexpected<Error> value_refused(const char* op, std::size_t value_bytes) const;
  std::size_t shard_index(std::uint64_t hash) const noexcept;
  engine::ShardTable& shard_for(std::uint64_t hash) noexcept { return *shards_[shard_index(hash)]; }
  engine::PendingWrites& pending_for(std::uint64_t hash) noexcept {
    return pending_[shard_index(hash)];
  }
  // L1 only, lock-free: calls f(value) on a hit; counts the hit (negative hits too) or miss.
  template <class F>
  // `may_refresh`: the caller has a loader, and a read may draw the value's early refresh.
  engine::Lookup read_l1(std::uint64_t hash, std::string_view key, bool may_refresh, F&& f);
  // An L1 read's outcome, counted as a hit or miss (and a negative hit).
  engine::Lookup counted(engine::Lookup found) noexcept {
    counters_.add(found == engine::Lookup::miss ? kMisses : kHits);
    if (found == engine::Lookup::absent) [[unlikely]]
      counters_.add(kNegativeHits);
    return found;
  }
  // `ttl` shortened by a random part of at most Options.ttl_jitter; inline, so a cache without
  // jitter pays one compare per set for it.
  std::chrono::milliseconds jittered(std::chrono::milliseconds ttl) const {
    if (options_.ttl_jitter == 0 || ttl.count() <= 1) return ttl;
    return shortened_by_jitter(ttl);
  }
  std::chrono::milliseconds shortened_by_jitter(std::chrono::milliseconds ttl) const;
  // read_l1() for a TypedCache: f(object, bytes, lookup) on a hit; a value whose bytes do not
  // decode is a miss with `undecodable` set.
  template <class F>
  engine::Lookup read_decoded_l1(std::uint64_t hash, std::string_view key, bool may_refresh,
                                 const detail::TypedValues& values, F&& f, Error& undecodable);
  // A value of `key` did not decode: counted, dropped from L1 (ShardTable::drop_undecodable),
  // and its error returned.
  std::unexpected<Error> undecodable(std::uint64_t hash, std::string_view key, Error why);
  // Visits the decoded form of `value`, which the miss path produced for `key`: L1's object if
  // L1 holds exactly that value (decoded there once, for every later hit too), else decoded here.
  Result<void> visit_produced(std::uint64_t hash, std::string_view key, std::string_view value,
                              const detail::TypedValues& values, detail::TypedAccess::Visit visit,
                              void* state);

  // What a queued write's caller may wait on (Writer::await); null when there is nothing to
  // wait for (async mode, or no L2).
  using WriteWait = std::shared_ptr<engine::OneShot<Result<void>>>;
  // Queues `op` (kind, key, value, expiry, hash set; `key` and `value` are the caller's views
  // of its key and value, which outlive the call, unlike the op's once the queue takes it)
  // under its key's shard lock, changing L1 in the same step only if the queue took it; applies
  // the QueueFullPolicy. The caller waits on what it returns (sync mode).
  // `timer`: the call's, which leaves L1 if it waits for room.
  Result<WriteWait> enqueue_write(const Context& ctx, std::string_view key, std::string_view value,
                                  engine::WriteOp& op, engine::CallTimer& timer);
  // set() without the wait.
  Result<WriteWait> start_set(const Context& ctx, std::string_view key, std::string_view value,
                              std::optional<std::chrono::milliseconds> ttl,
                              engine::CallTimer& timer);
  // Writer::Settled: the pending records, and L1 where L2 did not take a key's latest write.
  void settle(std::span<const engine::Writer::SettledWrite> settled);
  Result<engine::Produced> read_l2(const Context& ctx, std::string_view key);
  // One L2 read for all of `keys`; one result per key, in order.
  std::vector<Result<engine::Produced>> read_l2_many(const Context& ctx,
                                                     std::span<const std::string_view> keys);
  // A value (or marker) L2 answered, with its L1 expiry; `sent_ms`: when the read left.
  Result<engine::Produced> produced_from_l2(Result<BackendValue>& r, std::uint64_t sent_ms);
  // The loader's answer as a value or a negative entry, with its L1 expiry (not stamped).
  Result<engine::Produced> run_loader(const Context& ctx, std::string_view key,
                                      const engine::LoadRequest& load);
  // One loader answer, which took `took`, as run_loader() makes it; counts what it must.
  Result<engine::Produced> produced_from_loaded(const Context& ctx, Result<Loaded> loaded,
                                                std::chrono::nanoseconds took,
                                                std::optional<std::chrono::milliseconds> call_ttl);
  // One call of `batch` for `keys`, as run_loader() for each.
  std::vector<Result<engine::Produced>> run_batch_loader(const Context& ctx,
                                                         std::span<const std::string_view> keys,
                                                         const BatchLoader& batch);

  // engine::ValueSource
  std::uint32_t claim_epoch() const noexcept override { return current_epoch(); }
  bool l2_unreadable_for_stale() const override;
  bool stale_servable(engine::UntrustedStamp untrusted) const noexcept override;
  bool serve_stale_locked(engine::UntrustedStamp untrusted, bool l2_unreadable) noexcept override;
  engine::LeadPlan plan_locked(std::uint64_t hash, std::string_view key,
                               std::optional<engine::UntrustedStamp> untrusted,
                               bool l2_unreadable) override;
  Result<engine::Produced> produce(const Context& ctx, std::string_view key, engine::LeadPlan plan,
                                   const engine::LoadRequest* load,
                                   engine::PromiseSlot* slot) override;
  std::vector<Result<engine::Produced>> produce_many(const Context& ctx,
                                                     std::span<const std::string_view> keys,
                                                     std::span<engine::PromiseSlot* const> slots,
                                                     const BatchLoader* batch) override;
  bool loader_could_answer(const Error& error) const override;
  void filled_locked(std::uint64_t hash, std::string_view key, const engine::Produced& p) override;
  // Under `key`'s shard lock: gives `op` its seq and the write queue, and records it in the
  // pending writes as `recorded` (a loaded value's write as a fill), with `expires_at_ms`. The
  // seq, the queue and the record change as one step, so L2 takes a key's writes in L1's order.
  // False, changing nothing, if the queue is full or the cache closed (close() takes every shard
  // lock once after closing, so a write queued under one is ahead of close()'s flush); `op` is
  // gone once it returns true.
  bool queue_locked(std::string_view key, engine::WriteOp& op, engine::WriteOp::Kind recorded,
                    std::uint64_t expires_at_ms);
  // Where a value came from, which decides its stamp.
  enum class Provenance : std::uint8_t {
    written,                  // this cache's set, or the loader without asking L2
    read_from_l2,             // L2 answered for the key (a value, or not_found and the loader)
    loaded_as_l2_unreadable,  // the loader, because L2 could not be read (when_l2_down = load)
  };
  Result<engine::Produced> produce_unstamped(const Context& ctx, std::string_view key,
                                             engine::LeadPlan plan, const engine::LoadRequest* load,
                                             engine::PromiseSlot* slot, Provenance& provenance);

  // BackendEvents, on the backend's thread.
  void keys_changed(std::span<const std::string_view> keys) override;
  void all_changed() override;
  void coherence_lost() override;
  void coherence_restored() override;
  // The coherence epoch now (odd while changes may go unheard): the stamp a value must carry to
  // be served.
  std::uint32_t current_epoch() const noexcept { return epoch_.load(std::memory_order_acquire); }
  // The stamp of a value taken in `epoch`: the epoch if the backend will report the key's next
  // change (in tracked mode only for a value read from L2), or if the epoch is odd and the
  // origin answered for an unreadable L2; else kUnvouchedEpoch.
  std::uint32_t stamp(std::uint32_t epoch, Provenance provenance) const noexcept;

  enum Counter : std::size_t {
    kHits,
    kMisses,
    kLoads,
    kLoadFailures,
    kL2Hits,
    kL2Misses,
    kSets,
    kPurges,
    kInvalidations,
    kKeysErased,
    kFlushesHeard,
    kEpochBumps,
    kStaleServed,
    kNegativeHits,
    kNegativeLoads,
    kDecodeFailures,
    // L2 read errors, one counter per ErrorCounts slot.
    kL2ErrorsFirst,
    kCounterCount = kL2ErrorsFirst + std::tuple_size_v<decltype(ErrorCounts::by_code)>
  };
  void count_l2_error(const Error& error) noexcept {
    counters_.add(kL2ErrorsFirst + ErrorCounts::slot(error.code));
  }

  Options options_;
  // Secret and per cache: with a hash anyone can compute (unseeded XXH3), keys chosen for it share
  // one run of one shard's index (the shard is the hash's top bits, the cell its low ones), and
  // every find, insert and erase of them walks that run, O(keys) per call. The sketch's own
  // per-shard seed (frequency_sketch.hpp) guards only admission.
  const std::uint64_t key_seed_;
  std::vector<std::unique_ptr<engine::ShardTable>> shards_;
  std::vector<engine::PendingWrites> pending_;  // per shard, under its writer lock
  unsigned shard_shift_ = 0;
  engine::StripedCounters<kCounterCount> counters_;
  engine::Latencies latencies_{options_.metrics.latencies, options_.metrics.sample_every};
  // Refresh threads only where something refreshes.
  engine::MissPath miss_{*this, options_.early_refresh_beta != 0 ||
                                        options_.refresh_ahead.count() != 0 ||
                                        options_.stale_while_revalidate.count() != 0
                                    ? options_.refresh_threads
                                    : 0};
  // Every call loads it: kept off next_seq_'s line, which every write with an L2 takes.
  std::atomic<bool> closed_{false};
  // Relaxed: drawn under the key's shard lock, which orders one key's draws; across keys any
  // order will do.
  alignas(64) std::atomic<std::uint64_t> next_seq_{1};
  // How long a caller spins for an L2 read before it sleeps, from the reads it has seen.
  engine::SpinBudget l2_read_spin_;
  // The coherence epoch (see the top comment). Its own line: every read loads it, and it
  // changes only when coherence is lost or restored or L2 is flushed. Acquire / release: a
  // thread that saw stats().l2_coherent go false, or any effect that followed the change, also
  // sees the new epoch (on x86 both are plain moves).
  alignas(64) std::atomic<std::uint32_t> epoch_{0};
  // The epoch that was trusted when the change stream was last lost: its values may be served
  // stale (Options.stale_if_l2_down) while L2 cannot be read. kUntrustedEpoch after a flush.
  std::atomic<std::uint32_t> stale_servable_epoch_{engine::kUntrustedEpoch};
  ChangesHeard changes_heard_ = ChangesHeard::none;
  std::shared_ptr<Backend> l2_;
  // After l2_: if the constructor throws, the claim ends before the backend can be freed.
  engine::BackendClaim l2_claim_;
  std::unique_ptr<engine::Writer> writer_;
  // Options.metrics.endpoint once attach_endpoint() succeeded: detached first in ~Impl.
  bool endpoint_attached_ = false;
};

}  // namespace tiercache
