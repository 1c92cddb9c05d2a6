#include "engine/miss/promise_slot.hpp"

#include "engine/base/memory_order.hpp"
#include "engine/base/wait_within.hpp"

namespace tiercache::engine {

void PromiseSlot::add_ref() noexcept {
  // Relaxed: the caller already holds a reference (or the table's, under a guard).
  refs_.fetch_add(1, kRelaxed);
}

void PromiseSlot::release() noexcept {
  // Acq_rel: the last owner must see every write the others made before deleting.
  if (refs_.fetch_sub(1, kAcqRel) == 1) delete this;
}

void PromiseSlot::join() noexcept {
  std::lock_guard lock(mu_);
  ++waiters_;
}

Result<PromiseSlot::State> PromiseSlot::wait(const Context& ctx) {
  std::unique_lock lock(mu_);
  if (!wait_within(ctx, lock, cv_, [this] { return state_ != State::loading; })) {
    --waiters_;
    return ended_while(ctx, "get", "while waiting for another caller's load");
  }
  if (state_ == State::ready || state_ == State::failed) --waiters_;
  return state_;
}

bool PromiseSlot::try_lead() noexcept {
  std::lock_guard lock(mu_);
  if (state_ != State::leaderless) return false;
  state_ = State::loading;
  --waiters_;
  return true;
}

bool PromiseSlot::leave_handed_off() noexcept {
  std::lock_guard lock(mu_);
  --waiters_;
  return waiters_ == 0 && state_ == State::leaderless;
}

void PromiseSlot::publish(Result<std::string> result, AnswerFor answer_for) {
  {
    std::lock_guard lock(mu_);
    result_ = std::move(result);
    answer_for_ = answer_for;
    state_ = result_ ? State::ready : State::failed;
  }
  cv_.notify_all();
}

bool PromiseSlot::hand_off() noexcept {
  {
    std::lock_guard lock(mu_);
    if (waiters_ == 0) return false;
    state_ = State::leaderless;
  }
  // All wake, not one: the one notify_one picked might be leaving on its own deadline.
  cv_.notify_all();
  return true;
}

}  // namespace tiercache::engine
