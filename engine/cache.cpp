// engine/cache.cpp — the public Cache: checks input at the door, routes keys to shards and runs
// the get_or_load protocol (claim, lead or wait, fill, publish) on top of ShardTable.
#include "tiercache/cache.hpp"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <cstring>
#include <exception>
#include <memory>
#include <optional>
#include <vector>

#include "engine/cache_test_access.hpp"
#include "engine/coarse_clock.hpp"
#include "engine/fail.hpp"
#include "engine/options_check.hpp"
#include "engine/promise_slot.hpp"
#include "engine/reclamation.hpp"
#include "engine/shard_table.hpp"
#include "engine/striped_counter.hpp"

namespace tiercache {

using engine::Claim;
using engine::fail;
using engine::PromiseSlot;
using engine::ShardTable;

namespace {

enum Counter : std::size_t { kHits, kMisses, kLoads, kLoadFailures, kCoalesced, kCounterCount };

std::uint64_t hash_key(std::string_view key) noexcept {
  return XXH3_64bits(key.data(), key.size());
}

// A not_found carries no detail: it is an answer, and a miss must not allocate.
std::unexpected<Error> not_found() {
  return std::unexpected(Error{make_error_code(errc::not_found), {}});
}

}  // namespace

class Cache::Impl {
 public:
  Impl(const Options& completed) : options_(completed) {
    const engine::ShardLimits limits = engine::shard_limits(options_);
    shards_.reserve(options_.l1.shards);
    for (std::size_t i = 0; i < options_.l1.shards; ++i)
      shards_.push_back(std::make_unique<ShardTable>(limits));
    shard_shift_ = 64 - static_cast<unsigned>(std::countr_zero(options_.l1.shards));
  }

  ~Impl() {
    engine::attach_this_thread();
    shards_.clear();
    // Entries retired by this thread go back to the allocator now, not at its next retire.
    engine::reclaim_retired_now();
  }

  Result<void> check_key(const char* op, std::string_view key) const {
    if (key.empty()) return fail(errc::invalid_argument, op, ": key is empty");
    if (key.size() > options_.l1.max_key_bytes)
      return fail(errc::invalid_argument, op, ": key is ", key.size(),
                  " bytes; Options.l1.max_key_bytes is ", options_.l1.max_key_bytes);
    return {};
  }

  Result<void> check_value(const char* op, std::size_t value_bytes) const {
    if (value_bytes > options_.l1.max_value_bytes)
      return fail(errc::invalid_argument, op, ": value is ", value_bytes,
                  " bytes; Options.l1.max_value_bytes is ", options_.l1.max_value_bytes);
    return {};
  }

  ShardTable& shard_for(std::uint64_t hash) noexcept {
    // The top bits pick the shard; the table inside uses the low bits, so the two stay
    // independent. A shift of 64 (one shard) would be undefined, hence the test.
    return *shards_[shards_.size() == 1 ? 0 : hash >> shard_shift_];
  }

  template <class F>
  bool read(std::string_view key, F&& f) {
    return read_hashed(hash_key(key), key, f);
  }

  // `h` is hash_key(key), computed once by callers that need it again on a miss.
  template <class F>
  bool read_hashed(std::uint64_t h, std::string_view key, F&& f) {
    engine::attach_this_thread();
    const bool hit = shard_for(h).read(h, key, f);
    counters_.add(hit ? kHits : kMisses);
    return hit;
  }

  // `ttl` given by the caller must be > 0; without one, Options.default_ttl applies.
  Result<void> set(std::string_view key, std::string_view value,
                   std::optional<std::chrono::milliseconds> ttl) {
    if (auto bad = check_key("set", key); !bad) return bad;
    if (auto bad = check_value("set", value.size()); !bad) return bad;
    if (ttl && ttl->count() <= 0)
      return fail(errc::invalid_argument, "set: ttl is ", ttl->count(), "ms; must be > 0");
    engine::attach_this_thread();
    const std::uint64_t h = hash_key(key);
    shard_for(h).store(engine::make_value_entry(
        h, key, value, engine::expiry_after(ttl.value_or(options_.default_ttl))));
    return {};
  }

  Result<void> erase(std::string_view key) {
    engine::attach_this_thread();
    const std::uint64_t h = hash_key(key);
    shard_for(h).erase(h, key);
    return {};
  }

  Result<std::string> get_or_load(const Context& ctx, std::string_view key, const Loader& loader) {
    const std::uint64_t h = hash_key(key);
    std::string value;
    if (read_hashed(h, key, [&](std::string_view v) { value.assign(v); })) return value;
    if (auto why = ctx.done()) return fail(*why, "get_or_load: context ended before the load");
    ShardTable& shard = shard_for(h);
    Claim claim = shard.claim(h, key);
    switch (claim.kind) {
      case Claim::Kind::hit:
        return std::move(claim.value);
      case Claim::Kind::wait:
        counters_.add(kCoalesced);
        return await(ctx, shard, h, key, claim.slot, loader);
      case Claim::Kind::lead:
        break;
    }
    return lead(ctx, shard, h, key, claim.slot, loader);
  }

  CacheStats stats() const {
    CacheStats s;
    s.l1_hits = counters_.sum(kHits);
    s.l1_misses = counters_.sum(kMisses);
    s.loads = counters_.sum(kLoads);
    s.load_failures = counters_.sum(kLoadFailures);
    s.coalesced = counters_.sum(kCoalesced);
    for (const auto& shard : shards_) {
      s.evictions += shard->evictions();
      s.expirations += shard->expirations();
      s.entries += shard->entry_count();
      s.bytes += shard->size_bytes();
    }
    s.max_bytes = options_.l1.max_bytes;
    s.overhead_bytes_per_entry = engine::kEntryOverheadBytes;
    return s;
  }

  bool check_invariants() const {
    for (const auto& shard : shards_)
      if (!shard->check_invariants()) return false;
    return true;
  }

  const Options& options() const noexcept { return options_; }

 private:
  Result<std::string> run_loader(const Context& ctx, std::string_view key, const Loader& loader) {
    counters_.add(kLoads);
    Result<std::string> r;
    try {
      r = loader(ctx, key);
    } catch (const std::exception& e) {
      r = fail(errc::backend_error, "get_or_load: loader threw: ", e.what());
    } catch (...) {
      r = fail(errc::backend_error, "get_or_load: loader threw a non-std exception");
    }
    if (r) {
      if (auto bad = check_value("get_or_load: loader's value", r->size()); !bad)
        r = std::unexpected(bad.error());
    }
    return r;
  }

  // The leader owns one reference to `slot` and gives it up here.
  Result<std::string> lead(const Context& ctx, ShardTable& shard, std::uint64_t h,
                           std::string_view key, PromiseSlot* slot, const Loader& loader) {
    Result<std::string> r = run_loader(ctx, key, loader);
    if (r) {
      shard.fill(h, slot,
                 engine::make_value_entry(h, key, *r, engine::expiry_after(options_.default_ttl)));
      slot->publish(r);
    } else if (ctx.done()) {
      // Our own context ended: the failure is ours, not the key's (S3).
      shard.abandon(h, slot);
    } else {
      counters_.add(kLoadFailures);
      // Dropped before publishing, so a caller arriving now starts a new load rather than
      // joining this failed one.
      shard.drop(h, slot);
      slot->publish(r);
    }
    slot->release();
    return r;
  }

  // A waiter owns one reference to `slot` and gives it up here (or hands it to lead()).
  Result<std::string> await(const Context& ctx, ShardTable& shard, std::uint64_t h,
                            std::string_view key, PromiseSlot* slot, const Loader& loader) {
    for (;;) {
      Result<PromiseSlot::State> state = slot->wait(ctx);
      if (!state) {
        slot->release();
        return std::unexpected(std::move(state.error()));
      }
      if (*state == PromiseSlot::State::leaderless) {
        if (auto why = ctx.done()) {
          slot->leave();
          slot->release();
          return fail(*why, "get_or_load: context ended while taking over the load");
        }
        if (slot->try_lead()) return lead(ctx, shard, h, key, slot, loader);
        continue;
      }
      Result<std::string> r = slot->result();
      slot->release();
      return r;
    }
  }

  Options options_;
  std::vector<std::unique_ptr<ShardTable>> shards_;
  unsigned shard_shift_ = 0;
  engine::StripedCounters<kCounterCount> counters_;
};

bool CacheTestAccess::check_invariants(const Cache& cache) {
  return cache.impl_->check_invariants();
}

Result<Cache> Cache::open(const Options& options) {
  Result<Options> completed = engine::complete_options(options);
  if (!completed) return std::unexpected(std::move(completed.error()));
  engine::attach_this_thread();
  return Cache(std::make_unique<Impl>(*completed));
}

Cache::Cache(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Cache::Cache(Cache&&) noexcept = default;
Cache& Cache::operator=(Cache&&) noexcept = default;
Cache::~Cache() = default;

Result<std::string> Cache::get(const Context&, std::string_view key) {
  if (auto bad = impl_->check_key("get", key); !bad) return std::unexpected(bad.error());
  std::string value;
  if (impl_->read(key, [&](std::string_view v) { value.assign(v); })) return value;
  return not_found();
}

Result<std::size_t> Cache::get_into(const Context&, std::string_view key, std::span<char> out) {
  if (auto bad = impl_->check_key("get_into", key); !bad) return std::unexpected(bad.error());
  std::size_t size = 0;
  const bool hit = impl_->read(key, [&](std::string_view v) {
    size = v.size();
    if (v.size() <= out.size() && !v.empty()) std::memcpy(out.data(), v.data(), v.size());
  });
  if (!hit) return not_found();
  if (size > out.size())
    return fail(errc::invalid_argument, "get_into: value is ", size, " bytes; buffer is ",
                out.size());
  return size;
}

Result<void> Cache::set(const Context&, std::string_view key, std::string_view value) {
  return impl_->set(key, value, std::nullopt);
}

Result<void> Cache::set(const Context&, std::string_view key, std::string_view value,
                        std::chrono::milliseconds ttl) {
  return impl_->set(key, value, ttl);
}

Result<void> Cache::purge(const Context&, std::string_view key) {
  if (auto bad = impl_->check_key("purge", key); !bad) return bad;
  return impl_->erase(key);
}

Result<std::string> Cache::get_or_load(const Context& ctx, std::string_view key,
                                       const Loader& loader) {
  if (auto bad = impl_->check_key("get_or_load", key); !bad) return std::unexpected(bad.error());
  if (!loader) return fail(errc::invalid_argument, "get_or_load: loader is empty");
  return impl_->get_or_load(ctx, key, loader);
}

CacheStats Cache::stats() const {
  return impl_->stats();
}
const Options& Cache::options() const {
  return impl_->options();
}

}  // namespace tiercache
