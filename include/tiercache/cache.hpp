// tiercache/cache.hpp — Cache: the tiers behind get / set / purge / get_or_load.
//
// Threads:   any member may be called from any number of threads at once. A thread that calls
//            in is attached to the engine's memory reclamation on first use and detached when
//            it exits; nothing to set up.
// Ownership: get() returns bytes the caller owns; get_into() never keeps the caller's buffer;
//            a loader runs on the leader's thread (an early refresh's may run on a refresh
//            thread, refresh_threads). A call it makes back into the cache for a key that
//            thread is producing is refused (invalid_argument) rather than wait for itself;
//            loaders on two threads that wait for each other's keys wait until a deadline.
// Keys and values are arbitrary bytes ('\0', "\r\n" and non-UTF-8 round-trip).
// Waiting:   every wait ends at ctx's deadline or stop request.
// Never:     throws for an expected failure; aborts on user input; changes anything on a
//            call that returns invalid_argument.
// Memory:    out of memory, a call may throw std::bad_alloc; a set or purge that throws it
//            changed nothing, in L1 or on its way to L2. open() answers overloaded instead.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tiercache/context.hpp"
#include "tiercache/error.hpp"
#include "tiercache/loader.hpp"
#include "tiercache/metrics.hpp"
#include "tiercache/options.hpp"
#include "tiercache/stats.hpp"

namespace tiercache {

struct CacheTestAccess;
namespace detail {
struct TypedAccess;
}

class Cache {
 public:
  // Validates `options`, then builds the cache (three checks need what is built: negative_in_l2
  // against the backend, a backend or an endpoint already serving a Cache). invalid_argument names the field.
  [[nodiscard]] static Result<Cache> open(const Options& options);

  Cache(Cache&&) noexcept;
  Cache& operator=(Cache&&) noexcept;
  ~Cache();

  // The value of `key`, or not_found. Copies the value out.
  [[nodiscard]] Result<std::string> get(const Context& ctx, std::string_view key);
  // The value of `key` into `out`, reusing its capacity: an L1 hit allocates nothing once `out`
  // has held a value as large. On an error `out` is no answer: it is as it was or, if a change
  // to the key made L1's value unservable while this read copied it, holds that value.
  [[nodiscard]] Result<void> get(const Context& ctx, std::string_view key, std::string& out);
  // Copies the value into `out` and returns its size. An L1 hit allocates nothing; a miss
  // allocates what it caches. If `out` is smaller than the value, returns buffer_too_small with
  // Error::needed_bytes = the value's size and writes nothing.
  [[nodiscard]] Result<std::size_t> get_into(const Context& ctx, std::string_view key,
                                             std::span<char> out);

  // Stores `value` under `key` with Options.default_ttl.
  [[nodiscard]] Result<void> set(const Context& ctx, std::string_view key, std::string_view value);
  // Stores `value` under `key` for `ttl` (in (0, kMaxTtl]).
  [[nodiscard]] Result<void> set(const Context& ctx, std::string_view key, std::string_view value,
                                 std::chrono::milliseconds ttl);

  // Removes `key`. A load of `key` in progress still answers its callers but caches nothing.
  // Succeeds whether or not the key was present.
  [[nodiscard]] Result<void> purge(const Context& ctx, std::string_view key);

  // The cached value, or the value `loader` produces (loader.hpp), cached for the TTL the
  // loader gave, else Options.default_ttl. not_found if the loader said the key is absent, or
  // if it said so within Options.negative_ttl (the loader is then not called).
  // Concurrent callers on one key share one loader call; each waits only within its own ctx
  // (timeout / cancelled), and a waiter that leaves does not stop the load. If the leader's ctx
  // ends while it loads and others still wait, one of them runs its own loader instead.
  [[nodiscard]] Result<std::string> get_or_load(const Context& ctx, std::string_view key,
                                                const Loader& loader);
  // The same, caching a loaded value for `ttl` (in (0, kMaxTtl]) unless the loader gave its own.
  // A caller that waits on another caller's load gets that load's value and TTL.
  [[nodiscard]] Result<std::string> get_or_load(const Context& ctx, std::string_view key,
                                                const Loader& loader,
                                                std::chrono::milliseconds ttl);

  // The values of `keys`, one answer per key in their order: the value, not_found, or that
  // key's error (invalid_argument for a key out of bounds; the others are still answered). L1
  // answers what it holds at once; the rest is read from L2 in one round trip. A key given
  // twice gets one answer twice. An empty `keys` is invalid_argument.
  [[nodiscard]] Result<std::vector<Result<std::string>>> get_many(
      const Context& ctx, std::span<const std::string_view> keys);
  // The same, and what neither tier holds is produced by ONE call of `loader` for all of those
  // keys (a key with this cache's own write still on its way to L2, or whose load another caller
  // gave up, gets a call of its own), each cached as get_or_load caches a value (with
  // Options.default_ttl unless the loader gives a TTL). A key another caller is loading meanwhile
  // is waited on, not loaded again.
  [[nodiscard]] Result<std::vector<Result<std::string>>> get_or_load_many(
      const Context& ctx, std::span<const std::string_view> keys, const BatchLoader& loader);
  // set() of each (key, value) with Options.default_ttl: with an L2, all queued at once and sent in
  // as few pipelines as the writer's batch bounds allow (a sync call waits for all of them at
  // once). One answer per pair, in order; a bad pair fails alone.
  [[nodiscard]] Result<std::vector<Result<void>>> set_many(
      const Context& ctx, std::span<const std::pair<std::string_view, std::string_view>> entries);

  // Waits until every set and purge queued for L2 before this call was acknowledged by L2 or
  // failed. Without an L2, returns at once.
  [[nodiscard]] Result<void> flush(const Context& ctx);

  // Refuses every later call with errc::closed, and so a set or purge not yet queued (one
  // waiting for room under QueueFullPolicy::wait, say; nothing changed), then flushes within ctx
  // (its result is the flush's: every write queued before it). Writes still queued when ctx ends
  // keep going to L2 until the Cache is destroyed; connections and threads end with the destructor.
  // Calling it again just flushes again.
  [[nodiscard]] Result<void> close(const Context& ctx);

  CacheStats stats() const;
  // The counters and the latency histograms (tiercache/metrics.hpp); allocates ~100 KiB, for a
  // scrape now and then, not for every call.
  Metrics metrics() const;
  // The options the cache runs with, after open() filled in the automatic ones.
  const Options& options() const;

 private:
  friend struct CacheTestAccess;      // invariant checks for tests and fuzz targets only
  friend struct detail::TypedAccess;  // TypedCache's way to the typed entries
  class Impl;
  // open() of a cache of bytes (typed_object_bytes 0) or of a TypedCache's.
  static Result<Cache> open_typed(const Options& options, std::size_t typed_object_bytes);
  explicit Cache(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace tiercache
