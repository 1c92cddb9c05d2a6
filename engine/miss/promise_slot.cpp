#include "engine/miss/promise_slot.hpp"

#include "engine/base/memory_order.hpp"

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
  auto settled = [this] { return state_ != State::loading; };
  std::stop_token stop = ctx.stop_token();
  if (ctx.deadline() == Context::clock::time_point::max()) {
    cv_.wait(lock, stop, settled);
  } else {
    cv_.wait_until(lock, stop, ctx.deadline(), settled);
  }
  if (!settled()) {
    --waiters_;
    const errc why = stop.stop_requested() ? errc::cancelled : errc::timeout;
    return std::unexpected(
        Error{make_error_code(why), "get_or_load: gave up waiting for the load"});
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

void PromiseSlot::leave() noexcept {
  std::lock_guard lock(mu_);
  --waiters_;
}

void PromiseSlot::publish(Result<std::string> result) {
  {
    std::lock_guard lock(mu_);
    result_ = std::move(result);
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
