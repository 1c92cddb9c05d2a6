#include "engine/miss/miss_path.hpp"

#include "engine/base/wait_within.hpp"

#include "engine/l1/coarse_clock.hpp"

namespace tiercache::engine {

Result<std::string> MissPath::serve(const Context& ctx, ShardTable& shard, std::uint64_t hash,
                                    std::string_view key, const LoadRequest* load) {
  for (;;) {
    if (ctx.done()) return ended_while(ctx, "get", "before the miss was served");
    LeadPlan plan = LeadPlan::read_l2;
    Claim claim =
        shard.claim(hash, key, source_.claim_epoch(), load != nullptr, [&](auto untrusted) {
          plan = source_.plan_locked(hash, key, untrusted);
          if (plan == LeadPlan::serve_l1_value) return MissDecision::serve_stale;
          if (plan == LeadPlan::known_absent && load == nullptr) return MissDecision::absent;
          return MissDecision::lead;
        });
    if (claim.stale_seen && plan != LeadPlan::serve_l1_value) counters_.add(kStaleRefused);
    switch (claim.kind) {
      case Claim::Kind::hit:
        return std::move(claim.value);
      case Claim::Kind::known_absent:
        counters_.add(kNegativeHits);
        [[fallthrough]];
      case Claim::Kind::absent:
        // An answer, not a fault: no detail, so a miss does not allocate.
        return std::unexpected(Error{make_error_code(errc::not_found), {}});
      case Claim::Kind::lead:
        return lead(ctx, shard, hash, key, claim.slot, plan, load);
      case Claim::Kind::wait:
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
    return lead_unguarded(ctx, shard, hash, key, slot, plan, load);
  } catch (...) {
    // Out of memory while producing, filling or publishing: the slot must not stay loading,
    // or its waiters would wait for an answer that never comes and its entry would stay.
    shard.drop(hash, slot);
    slot->publish(std::unexpected(Error{make_error_code(errc::backend_error), {}}));
    slot->release();
    throw;
  }
}

Result<std::string> MissPath::lead_unguarded(const Context& ctx, ShardTable& shard,
                                             std::uint64_t hash, std::string_view key,
                                             PromiseSlot* slot, LeadPlan plan,
                                             const LoadRequest* load) {
  return settle_lead(ctx, shard, hash, key, slot, source_.produce(ctx, key, plan, load),
                     load != nullptr);
}

Result<std::string> MissPath::settle_lead(const Context& ctx, ShardTable& shard, std::uint64_t hash,
                                          std::string_view key, PromiseSlot* slot,
                                          Result<Produced> p, bool with_loader) {
  Result<std::string> r;
  if (p) {
    // A value that expires now answers this call but is not worth an L1 entry.
    if (p->expires_at_ms > coarse_now_ms()) {
      Entry* fresh = p->absent ? make_absent_entry(hash, key, p->expires_at_ms, p->epoch)
                               : make_value_entry(hash, key, p->value, p->expires_at_ms, p->epoch,
                                                  p->load_time_code);
      const Filled filled =
          shard.fill(hash, slot, fresh, [&] { source_.filled_locked(hash, key, *p); });
      if (filled == Filled::invalidated) counters_.add(kFillsDiscarded);
    } else {
      shard.drop(hash, slot);
    }
    // The origin's "no such key" is the answer for every caller, with a loader or without.
    if (p->absent) {
      r = std::unexpected(Error{make_error_code(errc::not_found), {}});
    } else {
      r = std::move(p->value);
    }
    slot->publish(r);
  } else if (ctx.done()) {
    // Our own context ended: the failure is ours, not the key's (S3).
    r = std::unexpected(std::move(p.error()));
    shard.abandon(hash, slot);
  } else {
    r = std::unexpected(std::move(p.error()));
    // Dropped before publishing, so a caller arriving now starts a new load rather than
    // joining this failed one.
    shard.drop(hash, slot);
    const bool for_loaderless_only = !with_loader && source_.loader_could_answer(r.error());
    slot->publish(r, for_loaderless_only ? PromiseSlot::AnswerFor::callers_without_loader
                                         : PromiseSlot::AnswerFor::everyone);
  }
  slot->release();
  return r;
}

std::vector<Result<std::string>> MissPath::serve_many(const Context& ctx,
                                                      std::span<const MissedKey> keys,
                                                      const BatchLoader* batch,
                                                      const LoadRequest* load) {
  std::vector<Result<std::string>> results(keys.size());
  // Claimed first, all of them; then this caller's own loads are produced and published; only
  // then does it wait for other callers' loads, so that two batches leading keys the other
  // waits on cannot wait for each other.
  struct Led {
    std::size_t at;
    PromiseSlot* slot;
    LeadPlan plan;
  };
  std::vector<Led> batched, alone, waits;
  const std::uint32_t epoch = source_.claim_epoch();
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const MissedKey& k = keys[i];
    LeadPlan plan = LeadPlan::read_l2;
    Claim claim = k.shard->claim(k.hash, k.key, epoch, load != nullptr, [&](auto untrusted) {
      plan = source_.plan_locked(k.hash, k.key, untrusted);
      if (plan == LeadPlan::serve_l1_value) return MissDecision::serve_stale;
      if (plan == LeadPlan::known_absent && load == nullptr) return MissDecision::absent;
      return MissDecision::lead;
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
        results[i] = std::unexpected(Error{make_error_code(errc::not_found), {}});
        break;
      case Claim::Kind::lead:
        // Only a plain read of L2 (then the loader) goes in the batch; a key whose own writes
        // are on their way is served as get_or_load would.
        (plan == LeadPlan::read_l2 ? batched : alone).push_back({i, claim.slot, plan});
        break;
      case Claim::Kind::wait:
        counters_.add(kCoalesced);
        waits.push_back({i, claim.slot, plan});
        break;
    }
  }
  std::size_t settled = 0;
  try {
    if (!batched.empty()) {
      std::vector<std::string_view> batch_keys;
      batch_keys.reserve(batched.size());
      for (const Led& l : batched) batch_keys.push_back(keys[l.at].key);
      std::vector<Result<Produced>> produced = source_.produce_many(ctx, batch_keys, batch);
      for (; settled < batched.size(); ++settled) {
        const Led& l = batched[settled];
        const MissedKey& k = keys[l.at];
        results[l.at] = settle_lead(ctx, *k.shard, k.hash, k.key, l.slot,
                                    std::move(produced[settled]), load != nullptr);
      }
    }
  } catch (...) {
    for (; settled < batched.size(); ++settled) {
      const MissedKey& k = keys[batched[settled].at];
      k.shard->drop(k.hash, batched[settled].slot);
      batched[settled].slot->publish(
          std::unexpected(Error{make_error_code(errc::backend_error), {}}));
      batched[settled].slot->release();
    }
    // The other slots this call holds: answered and given up as well.
    for (const Led& l : alone) {
      keys[l.at].shard->drop(keys[l.at].hash, l.slot);
      l.slot->publish(std::unexpected(Error{make_error_code(errc::backend_error), {}}));
      l.slot->release();
    }
    for (const Led& l : waits) l.slot->release();
    throw;
  }
  for (std::size_t j = 0; j < alone.size(); ++j) {
    const Led& l = alone[j];
    const MissedKey& k = keys[l.at];
    try {
      results[l.at] = lead(ctx, *k.shard, k.hash, k.key, l.slot, l.plan, load);
    } catch (...) {
      for (std::size_t rest = j + 1; rest < alone.size(); ++rest) {
        keys[alone[rest].at].shard->drop(keys[alone[rest].at].hash, alone[rest].slot);
        alone[rest].slot->publish(std::unexpected(Error{make_error_code(errc::backend_error), {}}));
        alone[rest].slot->release();
      }
      for (const Led& w : waits) w.slot->release();
      throw;
    }
  }
  for (std::size_t j = 0; j < waits.size(); ++j) {
    const Led& l = waits[j];
    const MissedKey& k = keys[l.at];
    std::optional<Result<std::string>> answer;
    try {
      answer = await(ctx, *k.shard, k.hash, k.key, l.slot, load);
    } catch (...) {
      for (std::size_t rest = j + 1; rest < waits.size(); ++rest) waits[rest].slot->release();
      throw;
    }
    // Answered for callers without a loader only (S6): this key alone, as get_or_load.
    results[l.at] = answer ? std::move(*answer) : serve(ctx, *k.shard, k.hash, k.key, load);
  }
  return results;
}

Result<std::string> MissPath::refresh(const Context& ctx, ShardTable& shard, std::uint64_t hash,
                                      std::string_view key, const LoadRequest& load,
                                      std::string value) {
  PromiseSlot* slot = shard.claim_refresh(hash, key, source_.claim_epoch());
  if (slot == nullptr) return value;
  counters_.add(kRefreshes);
  Result<std::string> r;
  try {
    Result<Produced> p = source_.produce(ctx, key, LeadPlan::refresh, &load);
    if (p) {
      p->refreshed = true;
      // An answer that expires now (negative caching off) replaces nothing.
      if (p->expires_at_ms > coarse_now_ms()) {
        Entry* fresh = p->absent ? make_absent_entry(hash, key, p->expires_at_ms, p->epoch)
                                 : make_value_entry(hash, key, p->value, p->expires_at_ms, p->epoch,
                                                    p->load_time_code);
        shard.finish_refresh(hash, slot, fresh, [&] { source_.filled_locked(hash, key, *p); });
      } else {
        shard.abandon_refresh(hash, slot, false);
      }
      if (p->absent) {
        r = std::unexpected(Error{make_error_code(errc::not_found), {}});
      } else {
        r = std::move(p->value);
      }
      slot->publish(r);
    } else {
      // The value stays until it expires; callers that came after that load it themselves.
      if (!ctx.done()) counters_.add(kRefreshFailures);
      shard.abandon_refresh(hash, slot, !ctx.done());
      slot->publish(std::unexpected(std::move(p.error())),
                    PromiseSlot::AnswerFor::callers_without_loader);
      r = std::move(value);
    }
  } catch (...) {
    shard.abandon_refresh(hash, slot, false);
    slot->publish(std::unexpected(Error{make_error_code(errc::backend_error), {}}),
                  PromiseSlot::AnswerFor::callers_without_loader);
    slot->release();
    throw;
  }
  slot->release();
  return r;
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
      shard.locked([&] { plan = source_.plan_locked(hash, key, std::nullopt); });
      return lead(ctx, shard, hash, key, slot, plan, load);
    }
    const bool answered = slot->answer_for() == PromiseSlot::AnswerFor::everyone || load == nullptr;
    Result<std::string> r = answered ? slot->result() : Result<std::string>{};
    slot->release();
    if (!answered) return std::nullopt;
    return r;
  }
}

}  // namespace tiercache::engine
