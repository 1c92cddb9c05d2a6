// engine/base/wait_within.hpp — the one way tiercache blocks: on a condition variable, until a
// predicate holds or the caller's context ends (deadline or stop request), whichever is first.
#pragma once

#include <condition_variable>
#include <mutex>

#include "tiercache/context.hpp"
#include "tiercache/error.hpp"

namespace tiercache::engine {

// Waits under `lock` until pred() holds (true) or ctx ends (false).
template <class Pred>
bool wait_within(const Context& ctx, std::unique_lock<std::mutex>& lock,
                 std::condition_variable_any& cv, Pred pred) {
  const std::stop_token& stop = ctx.stop_token();
  if (ctx.deadline() == Context::clock::time_point::max()) return cv.wait(lock, stop, pred);
  return cv.wait_until(lock, stop, ctx.deadline(), pred);
}

// The error for a wait that ctx ended: cancelled if it was stopped, else timeout.
inline std::unexpected<Error> ended_while(const Context& ctx, const char* op, const char* what) {
  if (ctx.stop_token().stop_requested()) return fail(errc::cancelled, op, ": cancelled ", what);
  return fail(errc::timeout, op, ": deadline passed ", what);
}

}  // namespace tiercache::engine
