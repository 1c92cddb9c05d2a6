// tiercache/loader.hpp — what get_or_load asks the origin on a miss, and what the origin answers.
//
// A loader answers one of three things:
//   a value          return Loaded(value) (or just the string), optionally with the TTL the
//                    origin knows for it: Loaded(value, ttl)
//   "no such key"    return Loaded::absent(): an answer, not a failure. With
//                    Options.negative_ttl (or Loaded::absent(ttl)) it is cached, so the next
//                    callers get not_found without asking the origin again. A loader that
//                    returns the error errc::not_found means the same.
//   a failure        return tiercache::fail(code, ...): reaches every caller waiting on this
//                    load, and nothing is cached.
#pragma once

#include <chrono>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tiercache/context.hpp"
#include "tiercache/error.hpp"

namespace tiercache {

class Loaded {
 public:
  // The origin's value, cached for the get_or_load call's TTL (or Options.default_ttl).
  // Implicit, so a loader may return a std::string or a Result<std::string>.
  Loaded(std::string value) : value_(std::move(value)) {}
  // So that a loader may return a string literal.
  Loaded(const char* value) : value_(value) {}
  // The origin's value and how long it may be cached, in (0, kMaxTtl]; any other TTL fails the
  // load with invalid_argument and caches nothing.
  Loaded(std::string value, std::chrono::milliseconds ttl) : value_(std::move(value)), ttl_(ttl) {}
  // The origin has no such key: cached for Options.negative_ttl (0: not cached).
  static Loaded absent() { return Loaded(); }
  // ... cached for `ttl`, in (0, kMaxTtl], whatever Options.negative_ttl says.
  static Loaded absent(std::chrono::milliseconds ttl) {
    Loaded l;
    l.ttl_ = ttl;
    return l;
  }

  bool found() const noexcept { return value_.has_value(); }
  // found() only.
  const std::string& value() const& noexcept { return *value_; }
  std::string&& value() && noexcept { return std::move(*value_); }
  // The TTL the loader gave, if any.
  std::optional<std::chrono::milliseconds> ttl() const noexcept { return ttl_; }

 private:
  Loaded() = default;
  std::optional<std::string> value_;
  std::optional<std::chrono::milliseconds> ttl_;
};

// Produces the value of `key` on a miss. Runs once per key at a time, on the thread of the
// get_or_load call that became the leader, with that caller's context (a background early
// refresh: on a refresh thread, Options.refresh_threads, with a copy of it). An error it returns
// (or an exception it throws, reported as backend_error) reaches every caller waiting on that load
// and caches nothing; errc::not_found is the one error that is an answer (Loaded::absent()).
using Loader = std::function<Result<Loaded>(const Context& ctx, std::string_view key)>;

// Produces the values of `keys` (distinct, in no promised order) for get_or_load_many: one
// answer per key, in the order of `keys`, each as a Loader's. An error for the whole call
// reaches every key of it; a vector of another length is refused (invalid_argument) and caches
// nothing.
using BatchLoader = std::function<Result<std::vector<Result<Loaded>>>(
    const Context& ctx, std::span<const std::string_view> keys)>;

}  // namespace tiercache
