// engine/miss/promise_slot.hpp — the placeholder a miss leaves in the table, so that
// concurrent misses on one key share one load [1][2].
//
// The table holds a loading Entry that owns one reference to the slot; the leader and every
// waiter own one more each. A slot never frees itself while referenced, never waits without the
// caller's deadline and stop token, and is filled only by its leader.
//
//   loading ─publish─▶ ready | failed          (terminal; result() is then immutable)
//   loading ─hand_off (waiters left)─▶ leaderless ─try_lead─▶ loading (a waiter leads)
//
// S1  One loading entry per key per shard; joining happens under the shard's writer lock, so a
//     leader that hands off or drops the slot under that lock never strands a new joiner.
// S2  result_ is written before state_ leaves loading, under mu_; waiters read it after seeing
//     the terminal state under mu_.
// S3  A leader that leaves without a value (its context ended) hands the load to the waiters:
//     all wake, exactly one wins try_lead(), the rest wait again.
// S4  A purge or set during the load replaces the loading entry; the leader's fill finds another
//     entry in the cell and caches nothing, but its callers still get the value it loaded.
// S5  A leaderless slot whose last waiter leaves (its own ctx ended) is removed from the table
//     by that waiter, under the shard's writer lock: no loading entry outlives its callers.
// S6  A leader without a loader (a get) that found nothing publishes an answer for callers
//     without a loader only; a waiter with a loader claims the key again and loads it.
// S7  An invalidation from L2 while the load runs marks the slot: the leader's value answers
//     its callers but is not cached, as L2 changed after (or while) it was read. A caller that
//     comes after the mark, or after the coherence epoch the slot was created in ended, does
//     not join: it replaces the loading entry and loads anew (the old leader's fill is then S4).
//
// S8  A load that took the place of a value stale_if_l2_down may serve keeps a copy of it
//     (replaced()), made with the slot. A load that ends without a value, L2 having given no
//     answer for the key, puts it back in its cell as it was (its leader, or the last caller to
//     leave it handed off); a leader whose caller is still there answers it if L2 is seen down.
//     Once L2 answered (l2_answered()), whoever leads the load, the copy is outdated and unused.
//
// [1] quick_cache, src/sync_placeholder.rs: Loading / Inserted states, guard hand-off.
// [2] Caffeine, AsyncCache: a future in the map, removed when it fails.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "tiercache/context.hpp"
#include "tiercache/error.hpp"

namespace tiercache::engine {

// The value a load's loading entry replaced (S8), as it was in L1: stamp and expiry unchanged,
// so that, put back, it stays untrusted.
struct ReplacedValue {
  std::string value;
  std::uint64_t expires_at_ms;
  std::uint32_t epoch;
  std::uint8_t load_time_code;
};

class PromiseSlot {
 public:
  enum class State : std::uint8_t { loading, leaderless, ready, failed };

  // A slot in state loading with one reference, owned by the caller (the leader), for a load
  // that starts in coherence epoch `epoch` and takes the place of `replaced` (S8), if any.
  static PromiseSlot* create(std::uint32_t epoch, std::optional<ReplacedValue> replaced = {}) {
    return new PromiseSlot(epoch, std::move(replaced));
  }

  void add_ref() noexcept;
  void release() noexcept;

  // A caller that found the slot in the table; call under the shard's writer lock (S1).
  void join() noexcept;
  // Blocks until the state is not loading or ctx ends; returns the state seen. When ctx ends
  // first the caller is no longer a waiter and gets errc::timeout or errc::cancelled.
  Result<State> wait(const Context& ctx);
  // leaderless → loading; true if this waiter is now the leader.
  bool try_lead() noexcept;
  // A waiter that saw leaderless but will not lead (its own ctx ended) stops being a waiter.
  // True if it was the last: the caller must drop the slot's entry under the shard lock (S5).
  bool leave_handed_off() noexcept;

  // Whom a published answer is for (S6).
  enum class AnswerFor : std::uint8_t { everyone, callers_without_loader };
  // The leader's answer: ready with a value, or failed with an error. Wakes every waiter.
  void publish(Result<std::string> result, AnswerFor answer_for = AnswerFor::everyone);
  // The leader leaves without an answer. If waiters remain, one of them will lead (S3) and this
  // returns true; otherwise returns false and the caller must drop the slot from the table and
  // publish, under the shard's writer lock.
  bool hand_off() noexcept;

  // Valid after wait() returned ready or failed.
  const Result<std::string>& result() const noexcept { return result_; }

  // S7. Both under the shard's writer lock, which guards the mark.
  void invalidate_locked() noexcept { invalidated_ = true; }
  bool is_invalidated_locked() const noexcept { return invalidated_; }
  // Whether a caller that claims the key in `epoch` may wait on this load (S7).
  bool joinable_locked(std::uint32_t epoch) const noexcept {
    return !invalidated_ && epoch == epoch_;
  }
  AnswerFor answer_for() const noexcept { return answer_for_; }
  // S8: null if the load replaced no such value, or L2 answered since.
  const ReplacedValue* replaced() const noexcept {
    return replaced_ && !l2_answered_.load(std::memory_order_acquire) ? &*replaced_ : nullptr;
  }
  // L2 answered for the key: a value, not_found, an error reply (S8).
  void l2_answered() noexcept {
    if (replaced_) l2_answered_.store(true, std::memory_order_release);
  }

 private:
  PromiseSlot(std::uint32_t epoch, std::optional<ReplacedValue> replaced)
      : epoch_(epoch), replaced_(std::move(replaced)) {}

  std::atomic<std::uint32_t> refs_{1};
  std::mutex mu_;
  std::condition_variable_any cv_;
  State state_ = State::loading;                // guarded by mu_
  std::uint32_t waiters_ = 0;                   // guarded by mu_
  Result<std::string> result_;                  // guarded by mu_ until terminal, then immutable
  AnswerFor answer_for_ = AnswerFor::everyone;  // as result_
  bool invalidated_ = false;                    // guarded by the shard's writer lock
  const std::uint32_t epoch_;
  const std::optional<ReplacedValue> replaced_;
  std::atomic<bool> l2_answered_{false};
};

}  // namespace tiercache::engine
