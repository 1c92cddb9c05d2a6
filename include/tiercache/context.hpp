// tiercache/context.hpp — the first argument of every public call: a deadline, a cancellation
// token and request-scoped values, in the spirit of Go's context.Context.
//
// A Context is immutable; the with_* members return a derived copy. Copying costs two
// reference-count increments (the stop_token's state and the value chain), never an allocation.
// Every wait inside tiercache ends at the earliest of the deadline and the stop request.
#pragma once

#include <any>
#include <chrono>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>

#include "tiercache/error.hpp"

namespace tiercache {

class Context {
 public:
  using clock = std::chrono::steady_clock;

  // No deadline, no cancellation, no values.
  static Context background() { return Context(); }

  // A child whose deadline is the earlier of this one's and now + timeout.
  [[nodiscard]] Context with_timeout(clock::duration timeout) const;
  // The same in any unit. One too long for clock::duration (nanoseconds: about 292 years, so
  // milliseconds::max() or hours(24 * 365 * 300)) means no deadline: an implicit conversion
  // overflowed into a negative timeout, done at once. A NaN count means no deadline too.
  template <class Rep, class Period>
  [[nodiscard]] Context with_timeout(std::chrono::duration<Rep, Period> timeout) const {
    return with_timeout(saturated(timeout));
  }
  // A child whose deadline is the earlier of this one's and `deadline`.
  [[nodiscard]] Context with_deadline(clock::time_point deadline) const;
  // The same for a time_point of another unit; past clock::time_point's range, no deadline.
  template <class Duration>
  [[nodiscard]] Context with_deadline(std::chrono::time_point<clock, Duration> deadline) const {
    return with_deadline(clock::time_point(saturated(deadline.time_since_epoch())));
  }
  // A child cancelled when `token` is. Replaces this context's token (std::stop_token cannot be
  // combined); derive from a token that already follows the parent's if both must count.
  [[nodiscard]] Context with_stop_token(std::stop_token token) const;
  // A child that carries `value` under `key`; it shadows a parent's value of the same key.
  [[nodiscard]] Context with_value(std::string key, std::any value) const;

  // clock::time_point::max() when there is none.
  clock::time_point deadline() const noexcept { return deadline_; }
  const std::stop_token& stop_token() const noexcept { return stop_; }
  // The nearest value stored under `key`, or nullptr. Valid while this Context lives.
  const std::any* value(std::string_view key) const noexcept;

  // errc::cancelled if a stop was requested, errc::timeout if the deadline passed, else none.
  std::optional<errc> done() const noexcept;

 private:
  // `d` in clock::duration, clamped to its range. Counted in long double, which holds any
  // duration's nanoseconds without overflow (every 64-bit count exactly on x86-64).
  template <class Rep, class Period>
  static clock::duration saturated(std::chrono::duration<Rep, Period> d) noexcept {
    const long double n = std::chrono::duration<long double, clock::period>(d).count();
    if (!(n < static_cast<long double>(clock::duration::max().count())))
      return clock::duration::max();
    if (n <= static_cast<long double>(clock::duration::min().count()))
      return clock::duration::min();
    return clock::duration(static_cast<clock::rep>(n));
  }

  struct ValueNode;
  clock::time_point deadline_ = clock::time_point::max();
  std::stop_token stop_;
  std::shared_ptr<const ValueNode> values_;
};

}  // namespace tiercache
