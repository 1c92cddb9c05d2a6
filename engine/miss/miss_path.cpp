#include "engine/miss/miss_path.hpp"

#include "engine/base/wait_within.hpp"

#include "engine/l1/coarse_clock.hpp"
#include "engine/miss/led_here.hpp"

namespace tiercache::engine {
namespace {

// An answer, not a fault: no detail, so a miss does not allocate.
std::unexpected<Error> not_found_answer() {
  return std::unexpected(Error{make_error_code(errc::not_found), {}});
}

// The L1 entry for what a leader or a refresher produced: a value, or a negative entry.
Entry* entry_for(const ShardTable& shard, std::uint64_t hash, std::string_view key,
                 const Produced& p) {
  return p.absent ? make_absent_entry(hash, key, p.expires_at_ms, p.epoch)
                  : make_value_entry(hash, key, p.value, p.expires_at_ms, p.epoch, p.load_time_code,
                                     shard.typed());
}

// A call a loader made back into its cache for a key its own thread leads: waiting would never
// end (led_here.hpp).
std::unexpected<Error> refused_reentry() {
  return fail(errc::invalid_argument,
              "get: called from a loader for a key that loader's thread is producing (its own key, "
              "a key of its batch, or one an outer loader is producing); it would wait for itself");
}

// What the callers of a produced key get: its value, or not_found for the origin's "no such key".
Result<std::string> answer_of(Produced& p) {
  if (p.absent) return not_found_answer();
  return std::move(p.value);
}

}  // namespace

MissDecision MissPath::decide_locked(std::uint64_t hash, std::string_view key,
                                     std::optional<UntrustedStamp> untrusted, bool l2_unreadable,
                                     bool with_loader, LeadPlan& plan) {
  plan = source_.plan_locked(hash, key, untrusted, l2_unreadable);
  if (plan == LeadPlan::serve_l1_value) return MissDecision::serve_stale;
  if (plan == LeadPlan::known_absent && !with_loader) return MissDecision::absent;
  // Not behind this cache's own set: that set is newer than the value L1 holds (S8).
  const bool keep =
      untrusted && plan != LeadPlan::flush_then_read && source_.stale_servable(*untrusted);
  return keep ? MissDecision::lead_keeping_stale : MissDecision::lead;
}

Result<std::string> MissPath::serve(const Context& ctx, ShardTable& shard, std::uint64_t hash,
                                    std::string_view key, const LoadRequest* load) {
  for (;;) {
    if (ctx.done()) return ended_while(ctx, "get", "before the miss was served");
    LeadPlan plan = LeadPlan::read_l2;
    const bool l2_unreadable = source_.l2_unreadable_for_stale();
    Claim claim =
        shard.claim(hash, key, source_.claim_epoch(), load != nullptr, [&](auto untrusted) {
          return decide_locked(hash, key, untrusted, l2_unreadable, load != nullptr, plan);
        });
    if (claim.stale_seen && plan != LeadPlan::serve_l1_value) counters_.add(kStaleRefused);
    switch (claim.kind) {
      case Claim::Kind::hit:
        return std::move(claim.value);
      case Claim::Kind::known_absent:
        counters_.add(kNegativeHits);
        [[fallthrough]];
      case Claim::Kind::absent:
        return not_found_answer();
      case Claim::Kind::lead:
        return lead(ctx, shard, hash, key, claim.slot, plan, load);
      case Claim::Kind::wait:
        if (led_here::includes(claim.slot)) {
          stop_waiting(shard, hash, claim.slot);
          return refused_reentry();
        }
        counters_.add(kCoalesced);
        if (auto answer = await(ctx, shard, hash, key, claim.slot, load)) return *answer;
        break;
    }
  }
}

Result<std::string> MissPath::lead(const Context& ctx, ShardTable& shard, std::uint64_t hash,
                                   std::string_view key, PromiseSlot* slot, LeadPlan plan,
                                   const LoadRequest* load) {
  try {
    led_here::add(slot);
    return lead_unguarded(ctx, shard, hash, key, slot, plan, load);
  } catch (...) {
    // Out of memory while producing, filling or publishing: the slot must not stay loading,
    // or its waiters would wait for an answer that never comes and its entry would stay.
    give_up_lead(shard, hash, slot, Error{make_error_code(errc::backend_error), {}});
    throw;
  }
}

Result<std::string> MissPath::lead_unguarded(const Context& ctx, ShardTable& shard,
                                             std::uint64_t hash, std::string_view key,
                                             PromiseSlot* slot, LeadPlan plan,
                                             const LoadRequest* load) {
  return settle_lead(ctx, shard, hash, key, slot, source_.produce(ctx, key, plan, load, slot),
                     load != nullptr);
}

Result<std::string> MissPath::settle_lead(const Context& ctx, ShardTable& shard, std::uint64_t hash,
                                          std::string_view key, PromiseSlot* slot,
                                          Result<Produced> p, bool with_loader) {
  led_here::remove(slot);
  Result<std::string> r;
  if (p) {
    // A value that expires now answers this call but is not worth an L1 entry.
    if (p->expires_at_ms > coarse_now_ms()) {
      const Filled filled = shard.fill(hash, slot, entry_for(shard, hash, key, *p),
                                       [&] { source_.filled_locked(hash, key, *p); });
      if (filled == Filled::invalidated) counters_.add(kFillsDiscarded);
    } else {
      shard.drop(hash, slot);
    }
    // The origin's "no such key" is the answer for every caller, with a loader or without.
    r = answer_of(*p);
    slot->publish(r);
  } else if (ctx.done()) {
    // Our own context ended: the failure is ours, not the key's (S3).
    r = std::unexpected(std::move(p.error()));
    shard.abandon(hash, slot);
  } else {
    // Dropped before publishing, so a caller arriving now starts a new load rather than
    // joining this failed one. The value the load replaced, L2 having given no answer, goes
    // back (S8); if L2 is seen down now, it answers, as it would the next miss.
    const bool l2_unreadable = slot->replaced() != nullptr && source_.l2_unreadable_for_stale();
    const ReplacedValue* stale = nullptr;  // the slot's, so it outlives the lock
    shard.drop_or_restore(hash, slot, [&](const ReplacedValue& v) {
      if (source_.serve_stale_locked(UntrustedStamp{v.epoch}, l2_unreadable)) stale = &v;
    });
    if (stale != nullptr) {
      r = stale->value;
      slot->publish(r);
    } else {
      r = std::unexpected(std::move(p.error()));
      const bool for_loaderless_only = !with_loader && source_.loader_could_answer(r.error());
      slot->publish(r, for_loaderless_only ? PromiseSlot::AnswerFor::callers_without_loader
                                           : PromiseSlot::AnswerFor::everyone);
    }
  }
  slot->release();
  return r;
}

std::vector<Result<std::string>> MissPath::serve_many(const Context& ctx,
                                                      std::span<const MissedKey> keys,
                                                      const BatchLoader* batch,
                                                      const LoadRequest* load) {
  std::vector<Result<std::string>> results(keys.size());
  if (ctx.done()) {
    for (auto& r : results) r = ended_while(ctx, "get", "before the misses were served");
    return results;
  }
  // Claimed first, all of them; then this caller's own loads are produced and published; only
  // then does it wait for other callers' loads, so that two batches leading keys the other
  // waits on cannot wait for each other.
  struct Claimed {
    std::size_t at;
    PromiseSlot* slot;
    LeadPlan plan;
  };
  std::vector<Claimed> batched, alone, waits;
  batched.reserve(keys.size());
  alone.reserve(keys.size());
  waits.reserve(keys.size());
  // Led slots not yet settled, and waited slots not yet served, are given up on a throw (out of
  // memory), so that no key stays loading for good and no slot counts a waiter that left.
  std::size_t batched_done = 0, alone_done = 0, waits_done = 0;
  try {
    const bool l2_unreadable = source_.l2_unreadable_for_stale();
    for (std::size_t i = 0; i < keys.size(); ++i) {
      const MissedKey& k = keys[i];
      LeadPlan plan = LeadPlan::read_l2;
      // Per key, as serve() does: the epoch may move between two claims.
      Claim claim = k.shard->claim(
          k.hash, k.key, source_.claim_epoch(), load != nullptr, [&](auto untrusted) {
            return decide_locked(k.hash, k.key, untrusted, l2_unreadable, load != nullptr, plan);
          });
      if (claim.stale_seen && plan != LeadPlan::serve_l1_value) counters_.add(kStaleRefused);
      switch (claim.kind) {
        case Claim::Kind::hit:
          results[i] = std::move(claim.value);
          break;
        case Claim::Kind::known_absent:
          counters_.add(kNegativeHits);
          [[fallthrough]];
        case Claim::Kind::absent:
          results[i] = not_found_answer();
          break;
        case Claim::Kind::lead:
          // Only a plain read of L2 (then the loader) goes in the batch; a key whose own
          // writes are on their way is served as get_or_load would.
          (plan == LeadPlan::read_l2 ? batched : alone).push_back({i, claim.slot, plan});
          led_here::add(claim.slot);
          break;
        case Claim::Kind::wait:
          if (led_here::includes(claim.slot)) {
            stop_waiting(*k.shard, k.hash, claim.slot);
            results[i] = refused_reentry();
            break;
          }
          counters_.add(kCoalesced);
          waits.push_back({i, claim.slot, plan});
          break;
      }
    }
    if (!batched.empty()) {
      std::vector<std::string_view> batch_keys;
      batch_keys.reserve(batched.size());
      for (const Claimed& c : batched) batch_keys.push_back(keys[c.at].key);
      std::vector<PromiseSlot*> slots;
      slots.reserve(batched.size());
      for (const Claimed& c : batched) slots.push_back(c.slot);
      std::vector<Result<Produced>> produced = source_.produce_many(ctx, batch_keys, slots, batch);
      for (; batched_done < batched.size(); ++batched_done) {
        const Claimed& c = batched[batched_done];
        const MissedKey& k = keys[c.at];
        results[c.at] = settle_lead(ctx, *k.shard, k.hash, k.key, c.slot,
                                    std::move(produced[batched_done]), load != nullptr);
      }
    }
    while (alone_done < alone.size()) {
      const Claimed& c = alone[alone_done];
      const MissedKey& k = keys[c.at];
      // The plan of the claim may be stale after the batch: a write may have landed meanwhile.
      LeadPlan plan = c.plan;
      k.shard->locked([&] { plan = source_.plan_locked(k.hash, k.key, std::nullopt, false); });
      // Counted before: lead() gives the slot up whatever happens.
      ++alone_done;
      results[c.at] = lead(ctx, *k.shard, k.hash, k.key, c.slot, plan, load);
    }
    while (waits_done < waits.size()) {
      const Claimed& c = waits[waits_done];
      const MissedKey& k = keys[c.at];
      // Counted before: await() gives the slot up whatever happens.
      ++waits_done;
      std::optional<Result<std::string>> answer = await(ctx, *k.shard, k.hash, k.key, c.slot, load);
      // Answered for callers without a loader only (S6): this key alone, as get_or_load.
      results[c.at] = answer ? std::move(*answer) : serve(ctx, *k.shard, k.hash, k.key, load);
    }
  } catch (...) {
    const Error failed{make_error_code(errc::backend_error), {}};
    for (std::size_t j = batched_done; j < batched.size(); ++j)
      give_up_lead(*keys[batched[j].at].shard, keys[batched[j].at].hash, batched[j].slot, failed);
    for (std::size_t j = alone_done; j < alone.size(); ++j)
      give_up_lead(*keys[alone[j].at].shard, keys[alone[j].at].hash, alone[j].slot, failed);
    for (std::size_t j = waits_done; j < waits.size(); ++j)
      stop_waiting(*keys[waits[j].at].shard, keys[waits[j].at].hash, waits[j].slot);
    throw;
  }
  return results;
}

void MissPath::give_up_lead(ShardTable& shard, std::uint64_t hash, PromiseSlot* slot,
                            const Error& why) {
  led_here::remove(slot);
  shard.drop(hash, slot);
  slot->publish(std::unexpected(why));
  slot->release();
}

void MissPath::stop_waiting(ShardTable& shard, std::uint64_t hash, PromiseSlot* slot) noexcept {
  // A wait within a context that has ended: no longer counted as a waiter, unless the load was
  // handed off meanwhile, which it then leaves as any waiter would (S5).
  const Context ended = Context::background().with_deadline(Context::clock::time_point::min());
  const Result<PromiseSlot::State> state = slot->wait(ended);
  if (state && *state == PromiseSlot::State::leaderless) shard.leave(hash, slot);
  slot->release();
}

std::optional<Result<std::string>> MissPath::refresh(const Context& ctx, ShardTable& shard,
                                                     std::uint64_t hash, std::string_view key,
                                                     const LoadRequest& load, CallTimer* timer) {
  const bool background = refresh_pool_.has_value();
  PromiseSlot* slot = shard.claim_refresh(hash, key, source_.claim_epoch(), !background);
  if (slot == nullptr) return std::nullopt;
  counters_.add(kRefreshes);
  if (background) {
    bool queued = false;
    try {
      // With copies of what it needs: this caller has its answer already.
      auto task = [this, ctx, &shard, hash, key = std::string(key), loader = load.loader,
                   ttl = load.ttl, slot](bool run) {
        if (!run) {
          give_up_refresh(shard, hash, slot, errc::closed);
          return;
        }
        // Its claim ended while it was queued (the value changed, expired or was loaded
        // anew): nothing to refresh, and nobody waits on a queued refresh.
        if (!shard.start_refresh(hash, slot)) {
          slot->release();
          return;
        }
        const LoadRequest copy{loader, ttl};
        try {
          (void)run_refresh(ctx, shard, hash, key, copy, slot);
        } catch (...) {
          // run_refresh gave the claim up; a pool thread has nobody to tell.
        }
      };
      queued = refresh_pool_->submit(std::move(task));
    } catch (...) {
      give_up_refresh(shard, hash, slot, errc::backend_error);
      throw;
    }
    if (queued) return std::nullopt;
    // Queue full: this caller refreshes, now.
    if (!shard.start_refresh(hash, slot)) {
      slot->release();
      return std::nullopt;
    }
  }
  // Only now does this call go past L1: one that leaves the refresh to another caller or to a
  // refresh thread was an L1 hit.
  if (timer != nullptr) timer->left_l1();
  return run_refresh(ctx, shard, hash, key, load, slot);
}

std::optional<Result<std::string>> MissPath::run_refresh(const Context& ctx, ShardTable& shard,
                                                         std::uint64_t hash, std::string_view key,
                                                         const LoadRequest& load,
                                                         PromiseSlot* slot) {
  std::optional<Result<std::string>> r;
  try {
    // Once the old value expired, a get_or_load of the key joins this refresh: its loader's own
    // must be refused, not wait for itself.
    led_here::add(slot);
    Result<Produced> p = source_.produce(ctx, key, LeadPlan::refresh, &load, nullptr);
    led_here::remove(slot);
    if (p) {
      p->refreshed = true;
      // An answer that expires now (negative caching off) replaces nothing.
      if (p->expires_at_ms > coarse_now_ms()) {
        shard.finish_refresh(hash, slot, entry_for(shard, hash, key, *p),
                             [&] { source_.filled_locked(hash, key, *p); });
      } else {
        // Not kept (negative caching off): the origin's answer still ends the old value, and a
        // "no such key" L2's copy too (filled_locked).
        shard.finish_refresh(hash, slot, nullptr, [&] {
          if (p->absent) source_.filled_locked(hash, key, *p);
        });
      }
      r = answer_of(*p);
      slot->publish(*r);
    } else {
      // The value stays until it expires; callers that came after that load it themselves.
      if (!ctx.done()) counters_.add(kRefreshFailures);
      shard.abandon_refresh(hash, slot, !ctx.done());
      slot->publish(std::unexpected(std::move(p.error())),
                    PromiseSlot::AnswerFor::callers_without_loader);
    }
  } catch (...) {
    give_up_refresh(shard, hash, slot, errc::backend_error);
    throw;
  }
  slot->release();
  return r;
}

void MissPath::give_up_refresh(ShardTable& shard, std::uint64_t hash, PromiseSlot* slot, errc why) {
  led_here::remove(slot);
  shard.abandon_refresh(hash, slot, false);
  // Callers waiting on it (the value expired meanwhile) load the key themselves.
  slot->publish(std::unexpected(Error{make_error_code(why), {}}),
                PromiseSlot::AnswerFor::callers_without_loader);
  slot->release();
}

void MissPath::stop_refreshes() {
  if (refresh_pool_.has_value()) refresh_pool_->stop();
}

void MissPath::drop_queued_refreshes() {
  if (refresh_pool_.has_value()) refresh_pool_->cancel_queued();
}

std::optional<Result<std::string>> MissPath::await(const Context& ctx, ShardTable& shard,
                                                   std::uint64_t hash, std::string_view key,
                                                   PromiseSlot* slot, const LoadRequest* load) {
  for (;;) {
    Result<PromiseSlot::State> state = slot->wait(ctx);
    if (!state) {
      slot->release();
      return std::unexpected(std::move(state.error()));
    }
    if (*state == PromiseSlot::State::leaderless) {
      if (ctx.done()) {
        shard.leave(hash, slot);
        slot->release();
        return ended_while(ctx, "get", "while taking over another caller's load");
      }
      if (!slot->try_lead()) continue;
      // The plan the first leader had may be stale: a write may have landed meanwhile. The
      // loading entry is in the cell, so no L1 value is there to serve.
      LeadPlan plan = LeadPlan::read_l2;
      shard.locked([&] { plan = source_.plan_locked(hash, key, std::nullopt, false); });
      return lead(ctx, shard, hash, key, slot, plan, load);
    }
    const bool answered = slot->answer_for() == PromiseSlot::AnswerFor::everyone || load == nullptr;
    Result<std::string> r;
    try {
      if (answered) r = slot->result();
    } catch (...) {
      slot->release();  // out of memory for the copy
      throw;
    }
    slot->release();
    if (!answered) return std::nullopt;
    return r;
  }
}

}  // namespace tiercache::engine
