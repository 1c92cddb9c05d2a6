// engine/miss/miss_path.hpp — what an L1 miss does: one caller per key leads and produces the
// value, every other caller waits on the leader's PromiseSlot, and the leader fills L1 only if
// its slot is still the key's entry (promise_slot.hpp, S1-S7).
//
//   claim (shard lock) ─┬─ hit: a value appeared meanwhile
//                       ├─ wait: a load is running ─▶ its answer; handed off ─▶ lead or leave
//                       ├─ absent: the source says nothing may be loaded (a purge is pending)
//                       └─ lead: loading entry inserted ─▶ ValueSource::produce ─▶ fill ─▶ publish
//
// What "produce" means (read L2, run the loader, write the loaded value back) is the
// ValueSource's business; this file only decides who produces and who waits.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "engine/base/latencies.hpp"
#include "engine/base/striped_counter.hpp"
#include "engine/base/task_pool.hpp"
#include "engine/l1/shard_table.hpp"
#include "tiercache/cache.hpp"

namespace tiercache::engine {

// How a miss is served, decided under the shard lock when it claims the key.
enum class LeadPlan : std::uint8_t {
  read_l2,          // ask L2, then the loader if L2 has nothing
  flush_then_read,  // a set of this cache to the key is still on its way to L2: wait for it
  fill_then_read,   // a value this cache loaded is still on its way to L2: wait for it while L2
                    // takes writes and reads (else the loader may answer again, L2 unread: its
                    // answer replaces no write)
  known_absent,     // a purge of this cache is still on its way: L2's copy is stale, skip it
  serve_l1_value,   // answer the value L1 holds though its epoch is not trusted: it is this
                    // cache's own unacknowledged write, or stale_if_l2_down allows it (only
                    // offered when one is there)
  refresh,          // an early refresh: the loader, without asking L2 (its copy is as old)
};

// A get_or_load's loader and the TTL its call asked for (none: Options.default_ttl).
struct LoadRequest {
  const Loader& loader;
  std::optional<std::chrono::milliseconds> ttl;
};

// What a leader made of the key.
struct Produced {
  std::string value;                 // empty when absent
  std::uint64_t expires_at_ms;       // the L1 expiry; not in the future: answer, but cache nothing
  bool loaded;                       // produced by the loader (so L2 does not have it yet)
  std::uint32_t epoch;               // the entry's stamp: the coherence epoch before L2 was asked,
                                     // or kUnvouchedEpoch
  bool absent = false;               // the origin said there is no such key: answer not_found, and
                                     // cache that (a negative entry) until expires_at_ms
  std::uint8_t load_time_code = 0;   // how long the loader took (early_refresh.hpp); 0: not loaded
  bool refreshed = false;            // an early refresh's value: it may replace L2's copy
  std::uint32_t asked_in_epoch = 0;  // the coherence epoch before L2 was asked, stamp or not
};

// The producer of values for MissPath; the cache implements it.
class ValueSource {
 public:
  // The coherence epoch a miss claims its key in: the stamp a value must carry to be served,
  // and the epoch a load it joins must have started in.
  virtual std::uint32_t claim_epoch() const noexcept = 0;
  // Whether a miss may serve an untrusted L1 value because L2 takes no reads now
  // (stale_if_l2_down). Asked before the shard lock is taken: it may ask the backend, which may
  // take locks of its own.
  virtual bool l2_unreadable_for_stale() const = 0;
  // Whether a value so stamped is one stale_if_l2_down may serve while L2 cannot be read.
  virtual bool stale_servable(UntrustedStamp untrusted) const noexcept = 0;
  // Under the shard lock: whether a miss answers an untrusted value so stamped, L2 being
  // unreadable (`l2_unreadable`, asked before the lock) and the value servable; counted if so.
  virtual bool serve_stale_locked(UntrustedStamp untrusted, bool l2_unreadable) noexcept = 0;
  // Under the shard lock, when a miss finds neither a trusted value nor a load to join;
  // `untrusted`: the stamp of a value L1 holds for the key that was not trusted, if any;
  // `l2_unreadable`: what l2_unreadable_for_stale() answered just before the lock.
  virtual LeadPlan plan_locked(std::uint64_t hash, std::string_view key,
                               std::optional<UntrustedStamp> untrusted, bool l2_unreadable) = 0;
  // The leader's work, without locks, within ctx. A failure without a loader is published to
  // callers without a loader only if loader_could_answer() says a loader might do better (S6).
  // `slot`: the load's (null for an early refresh, which does not ask L2); once L2 answers for
  // the key (a value, not_found, an error reply: anything but no answer) it is told so (S8).
  virtual Result<Produced> produce(const Context& ctx, std::string_view key, LeadPlan plan,
                                   const LoadRequest* load, PromiseSlot* slot) = 0;
  // produce() with LeadPlan::read_l2 for each of `keys` at once: one L2 read for all, then one
  // call of `batch` (if any) for those L2 did not answer. One result per key, in order; `slots`
  // holds one per key too.
  virtual std::vector<Result<Produced>> produce_many(const Context& ctx,
                                                     std::span<const std::string_view> keys,
                                                     std::span<PromiseSlot* const> slots,
                                                     const BatchLoader* batch) = 0;
  virtual bool loader_could_answer(const Error& error) const = 0;
  // Under the shard lock, right after the leader's value replaced its loading entry, or a
  // refresh's answer the value it refreshed (`p.refreshed`; `p.absent` and not kept in L1: the
  // value just went).
  virtual void filled_locked(std::uint64_t hash, std::string_view key, const Produced& p) = 0;

 protected:
  ~ValueSource() = default;
};

class MissPath {
 public:
  // `refresh_threads`: threads that run early refreshes in the background (0: the caller that
  // draws one runs it).
  MissPath(ValueSource& source, std::size_t refresh_threads) : source_(source) {
    if (refresh_threads != 0) refresh_pool_.emplace(refresh_threads, kMaxQueuedRefreshes);
  }
  // Waits for the background refreshes running, and gives up the queued ones. Call before
  // anything they touch (the shards, the source) goes.
  void stop_refreshes();
  // Gives the queued background refreshes up (the running ones go on): for close().
  void drop_queued_refreshes();

  // The value of `key` after L1 missed it: from a load this call leads, or one it waits on.
  // `load` may be null (a get): the key is then read from L2 only.
  Result<std::string> serve(const Context& ctx, ShardTable& shard, std::uint64_t hash,
                            std::string_view key, const LoadRequest* load);

  // A key L1 missed, for serve_many().
  struct MissedKey {
    ShardTable* shard;
    std::uint64_t hash;
    std::string_view key;
  };
  // serve() for several distinct keys at once: the keys to lead that need only an L2 read are
  // produced together (ValueSource::produce_many: one L2 round trip, one call of `batch`);
  // keys with writes of this cache on their way are led one by one with `load` (which must
  // then answer as `batch` would for one key); keys others are loading are waited on, after
  // this call's own loads were published. `batch` and `load` are both null (get_many) or both
  // set. One result per key, in order.
  std::vector<Result<std::string>> serve_many(const Context& ctx, std::span<const MissedKey> keys,
                                              const BatchLoader* batch, const LoadRequest* load);

  // A get_or_load whose read of a value drew the key's early refresh: reloads it if nobody else
  // does, and answers the new value (or not_found); nullopt when the caller's value stands (the
  // refresh failed, and the value stays until it expires; another caller refreshes; or the
  // reload was queued on a refresh thread, with copies of ctx and the loader). `timer` (may be
  // null): the call's, which leaves L1 only if the reload runs on the caller's thread.
  std::optional<Result<std::string>> refresh(const Context& ctx, ShardTable& shard,
                                             std::uint64_t hash, std::string_view key,
                                             const LoadRequest& load, CallTimer* timer);

  // Early refreshes run, and those that failed (their value stayed).
  std::uint64_t refreshes() const noexcept { return counters_.sum(kRefreshes); }
  std::uint64_t refresh_failures() const noexcept { return counters_.sum(kRefreshFailures); }
  // Callers that waited on another caller's load instead of producing the value themselves.
  std::uint64_t coalesced() const noexcept { return counters_.sum(kCoalesced); }
  // Misses that found a fresh negative entry under the shard lock (it appeared after the look
  // without the lock).
  std::uint64_t negative_hits() const noexcept { return counters_.sum(kNegativeHits); }
  // Leaders' values answered but not cached because L2 changed meanwhile (S7).
  std::uint64_t fills_discarded() const noexcept { return counters_.sum(kFillsDiscarded); }
  // Misses that found an L1 value of an untrusted epoch and did not serve it.
  std::uint64_t stale_refused() const noexcept { return counters_.sum(kStaleRefused); }

 private:
  // The leader owns one reference to `slot` and gives it up here, even if an allocation throws
  // (the slot is then answered with backend_error and the exception goes on).
  Result<std::string> lead(const Context& ctx, ShardTable& shard, std::uint64_t hash,
                           std::string_view key, PromiseSlot* slot, LeadPlan plan,
                           const LoadRequest* load);
  Result<std::string> lead_unguarded(const Context& ctx, ShardTable& shard, std::uint64_t hash,
                                     std::string_view key, PromiseSlot* slot, LeadPlan plan,
                                     const LoadRequest* load);
  // The refresh of a claimed key: the new value (or not_found), or nullopt if it failed.
  // Publishes to `slot` and gives the caller's reference up.
  std::optional<Result<std::string>> run_refresh(const Context& ctx, ShardTable& shard,
                                                 std::uint64_t hash, std::string_view key,
                                                 const LoadRequest& load, PromiseSlot* slot);
  // Under the shard lock, for a claim that found nothing to serve or join: the source's plan for
  // the key (into `plan`) and what the claim does with it.
  MissDecision decide_locked(std::uint64_t hash, std::string_view key,
                             std::optional<UntrustedStamp> untrusted, bool l2_unreadable,
                             bool with_loader, LeadPlan& plan);
  // A led slot whose load will not run (a throw in a batch): dropped, answered, given up.
  void give_up_lead(ShardTable& shard, std::uint64_t hash, PromiseSlot* slot, const Error& why);
  // A waiter that leaves without an answer (a throw in a batch): no longer counted.
  void stop_waiting(ShardTable& shard, std::uint64_t hash, PromiseSlot* slot) noexcept;
  // A claimed refresh that will not run (or threw): claim, waiters and reference given up.
  void give_up_refresh(ShardTable& shard, std::uint64_t hash, PromiseSlot* slot, errc why);
  // What a leader does with what it produced: fills L1 (if its slot is still the key's entry),
  // publishes to the waiters and gives its reference up.
  Result<std::string> settle_lead(const Context& ctx, ShardTable& shard, std::uint64_t hash,
                                  std::string_view key, PromiseSlot* slot, Result<Produced> p,
                                  bool with_loader);
  // A waiter owns one reference to `slot` and gives it up here (or hands it to lead()).
  // nullopt: the answer was not for a caller with a loader (S6); claim the key again.
  std::optional<Result<std::string>> await(const Context& ctx, ShardTable& shard,
                                           std::uint64_t hash, std::string_view key,
                                           PromiseSlot* slot, const LoadRequest* load);

  enum Counter : std::size_t {
    kCoalesced,
    kFillsDiscarded,
    kStaleRefused,
    kNegativeHits,
    kRefreshes,
    kRefreshFailures,
    kCounterCount
  };

  // Refreshes queued for the refresh threads beyond this are run by the caller that drew them.
  static constexpr std::size_t kMaxQueuedRefreshes = 1024;

  ValueSource& source_;
  StripedCounters<kCounterCount> counters_;
  std::optional<TaskPool> refresh_pool_;
};

}  // namespace tiercache::engine
