// engine/base/one_shot.hpp — a result that one thread sets once and others wait for within a ctx.
//
// Shared through a shared_ptr: the setter may be the backend's I/O thread answering long after
// the waiter left on its deadline, so neither side may own the other's lifetime.
#pragma once

#include <condition_variable>
#include <mutex>
#include <optional>
#include <utility>

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
    cv_.notify_all();
  }

  bool is_set() const {
    std::lock_guard lock(mu_);
    return value_.has_value();
  }

  // The value, or timeout / cancelled when ctx ends first (the value may still come later).
  Result<T> wait(const Context& ctx, const char* op) {
    std::unique_lock lock(mu_);
    if (wait_within(ctx, lock, cv_, [this] { return value_.has_value(); })) return *value_;
    return ended_while(ctx, op, "while waiting");
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable_any cv_;
  std::optional<T> value_;  // guarded by mu_
};

}  // namespace tiercache::engine
