// engine/base/one_shot.hpp — a result that one thread sets once and others wait for within a ctx.
//
// Shared through a shared_ptr: the setter may be the backend's I/O thread answering long after
// the waiter left on its deadline, so neither side may own the other's lifetime.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <utility>

#include "engine/base/cpu_relax.hpp"
#include "engine/base/wait_within.hpp"

namespace tiercache::engine {

template <class T>
class OneShot {
 public:
  // The first call wins; later calls are ignored.
  void set(T value) {
    {
      std::lock_guard lock(mu_);
      if (value_) return;
      value_.emplace(std::move(value));
    }
    // Release: a spinning waiter that sees it also sees value_.
    is_set_.store(true, std::memory_order_release);
    cv_.notify_all();
  }

  bool is_set() const noexcept { return is_set_.load(std::memory_order_acquire); }

  // The value, or timeout / cancelled when ctx ends first (the value may still come later).
  // Spins up to `spin_for` (bounded by ctx's deadline) before it sleeps: see SpinBudget.
  Result<T> wait(const Context& ctx, const char* op,
                 std::chrono::nanoseconds spin_for = std::chrono::nanoseconds(0)) {
    if (spin_for.count() > 0) {
      const auto until = std::min(Context::clock::now() + spin_for, ctx.deadline());
      while (!is_set() && Context::clock::now() < until && !ctx.stop_token().stop_requested())
        cpu_relax();
    }
    std::unique_lock lock(mu_);
    if (wait_within(ctx, lock, cv_, [this] { return value_.has_value(); })) return *value_;
    return ended_while(ctx, op, "while waiting");
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  std::optional<T> value_;  // guarded by mu_
  std::atomic<bool> is_set_{false};
};

}  // namespace tiercache::engine
