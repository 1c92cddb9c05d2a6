// engine/cache_impl.hpp — Cache::Impl: what a Cache is made of, for cache.cpp and open.cpp.
//
// The L1 shards always; with an L2, the Backend and the Writer that feeds it (declared after
// the backend, so it is destroyed first and can still send what is queued).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "engine/base/striped_counter.hpp"
#include "engine/l1/shard_table.hpp"
#include "engine/l2/writer.hpp"
#include "engine/miss/promise_slot.hpp"
#include "tiercache/backend.hpp"
#include "tiercache/cache.hpp"

namespace tiercache {

class Cache::Impl {
 public:
  // `completed` comes from complete_options(); `l2` is null for an L1-only cache.
  Impl(const Options& completed, std::unique_ptr<Backend> l2);
  ~Impl();

  Result<void> check_key(const char* op, std::string_view key) const;
  Result<void> check_value(const char* op, std::size_t value_bytes) const;

  // L1 only, lock-free: calls f(value) on a hit.
  template <class F>
  bool read(std::string_view key, F&& f);
  template <class F>
  bool read_hashed(std::uint64_t h, std::string_view key, F&& f);

  Result<std::string> get(const Context& ctx, std::string_view key);
  Result<void> set(const Context& ctx, std::string_view key, std::string_view value,
                   std::optional<std::chrono::milliseconds> ttl);
  Result<void> erase(const Context& ctx, std::string_view key);
  Result<std::string> get_or_load(const Context& ctx, std::string_view key, const Loader* loader);
  Result<void> flush(const Context& ctx);

  CacheStats stats() const;
  bool check_invariants() const;
  const Options& options() const noexcept { return options_; }
  bool has_l2() const noexcept { return l2_ != nullptr; }

 private:
  // A value a leader produced, and until when L1 may keep it.
  struct Produced {
    std::string value;
    std::uint64_t expires_at_ms;
    bool from_l2;  // already in L2: not written back
  };

  engine::ShardTable& shard_for(std::uint64_t hash) noexcept;
  // Queues `op` for L2 from inside apply(queue_locked)'s shard lock, then waits in sync mode.
  template <class Apply>
  Result<void> write_through(const Context& ctx, engine::WriteOp& op, Apply&& apply);
  std::chrono::milliseconds jittered(std::chrono::milliseconds ttl) const;
  Result<std::string> load_through(const Context& ctx, std::uint64_t h, std::string_view key,
                                   const Loader* loader);
  Result<Produced> produce(const Context& ctx, std::string_view key, const Loader* loader);
  Result<Produced> read_l2(const Context& ctx, std::string_view key);
  Result<std::string> run_loader(const Context& ctx, std::string_view key, const Loader& loader);
  Result<std::string> lead(const Context& ctx, engine::ShardTable& shard, std::uint64_t h,
                           std::string_view key, engine::PromiseSlot* slot, const Loader* loader);
  Result<std::string> await(const Context& ctx, engine::ShardTable& shard, std::uint64_t h,
                            std::string_view key, engine::PromiseSlot* slot, const Loader* loader);

  enum Counter : std::size_t {
    kHits,
    kMisses,
    kLoads,
    kLoadFailures,
    kCoalesced,
    kL2Hits,
    kL2Misses,
    kL2Errors,
    kCounterCount
  };

  Options options_;
  std::vector<std::unique_ptr<engine::ShardTable>> shards_;
  unsigned shard_shift_ = 0;
  engine::StripedCounters<kCounterCount> counters_;
  std::unique_ptr<Backend> l2_;
  std::unique_ptr<engine::Writer> writer_;
};

}  // namespace tiercache
