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
  Result<Produced> p = source_.produce(ctx, key, plan, load);
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
    const bool for_loaderless_only = load == nullptr && source_.loader_could_answer(r.error());
    slot->publish(r, for_loaderless_only ? PromiseSlot::AnswerFor::callers_without_loader
                                         : PromiseSlot::AnswerFor::everyone);
  }
  slot->release();
  return r;
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
        shard.abandon_refresh(hash, slot);
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
      shard.abandon_refresh(hash, slot);
      slot->publish(std::unexpected(std::move(p.error())),
                    PromiseSlot::AnswerFor::callers_without_loader);
      r = std::move(value);
    }
  } catch (...) {
    shard.abandon_refresh(hash, slot);
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
