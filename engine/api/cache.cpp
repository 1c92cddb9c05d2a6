// engine/cache.cpp — the public Cache: checks input at the door, routes keys to shards, and runs
// the miss protocol (claim, lead or wait, fill, publish) on top of ShardTable, with L2 (read
// through, write behind via the Writer) when there is one.
#include "tiercache/cache.hpp"

#define XXH_INLINE_ALL
#include <xxhash.h>

#include <cstring>
#include <exception>
#include <random>

#include "engine/api/cache_impl.hpp"
#include "engine/api/cache_test_access.hpp"
#include "engine/api/options_check.hpp"
#include "engine/l1/coarse_clock.hpp"
#include "engine/l1/reclamation.hpp"

namespace tiercache {

using engine::Claim;
using engine::Entry;
using engine::PromiseSlot;
using engine::ShardTable;

namespace {

std::uint64_t hash_key(std::string_view key) noexcept {
  return XXH3_64bits(key.data(), key.size());
}

// A not_found carries no detail: it is an answer, and a miss must not allocate.
std::unexpected<Error> not_found() {
  return std::unexpected(Error{make_error_code(errc::not_found), {}});
}

}  // namespace

Cache::Impl::Impl(const Options& completed, std::unique_ptr<Backend> l2)
    : options_(completed), l2_(std::move(l2)) {
  const engine::ShardLimits limits = engine::shard_limits(options_);
  shards_.reserve(options_.l1.shards);
  for (std::size_t i = 0; i < options_.l1.shards; ++i)
    shards_.push_back(std::make_unique<ShardTable>(limits));
  shard_shift_ = 64 - static_cast<unsigned>(std::countr_zero(options_.l1.shards));
  if (l2_) writer_ = std::make_unique<engine::Writer>(*l2_, options_.writer);
}

Cache::Impl::~Impl() {
  writer_.reset();
  l2_.reset();
  engine::attach_this_thread();
  shards_.clear();
  // Entries retired by this thread go back to the allocator now, not at its next retire.
  engine::reclaim_retired_now();
}

Result<void> Cache::Impl::check_key(const char* op, std::string_view key) const {
  if (key.empty()) return fail(errc::invalid_argument, op, ": key is empty");
  if (key.size() > options_.l1.max_key_bytes)
    return fail(errc::invalid_argument, op, ": key is ", key.size(),
                " bytes; Options.l1.max_key_bytes is ", options_.l1.max_key_bytes);
  return {};
}

Result<void> Cache::Impl::check_value(const char* op, std::size_t value_bytes) const {
  if (value_bytes > options_.l1.max_value_bytes)
    return fail(errc::invalid_argument, op, ": value is ", value_bytes,
                " bytes; Options.l1.max_value_bytes is ", options_.l1.max_value_bytes);
  return {};
}

ShardTable& Cache::Impl::shard_for(std::uint64_t hash) noexcept {
  // The top bits pick the shard; the table inside uses the low bits, so the two stay
  // independent. A shift of 64 (one shard) would be undefined, hence the test.
  return *shards_[shards_.size() == 1 ? 0 : hash >> shard_shift_];
}

template <class F>
bool Cache::Impl::read(std::string_view key, F&& f) {
  return read_hashed(hash_key(key), key, f);
}

// `h` is hash_key(key), computed once by callers that need it again on a miss.
template <class F>
bool Cache::Impl::read_hashed(std::uint64_t h, std::string_view key, F&& f) {
  engine::attach_this_thread();
  const bool hit = shard_for(h).read(h, key, f);
  counters_.add(hit ? kHits : kMisses);
  return hit;
}

std::chrono::milliseconds Cache::Impl::jittered(std::chrono::milliseconds ttl) const {
  if (options_.ttl_jitter == 0 || ttl.count() <= 1) return ttl;
  thread_local std::minstd_rand rng(std::random_device{}());
  const double cut = std::uniform_real_distribution<double>(0, options_.ttl_jitter)(rng);
  const auto shortened = static_cast<std::int64_t>(static_cast<double>(ttl.count()) * (1 - cut));
  return std::chrono::milliseconds(std::max<std::int64_t>(shortened, 1));
}

Result<std::string> Cache::Impl::get(const Context& ctx, std::string_view key) {
  const std::uint64_t h = hash_key(key);
  std::string value;
  if (read_hashed(h, key, [&](std::string_view v) { value.assign(v); })) return value;
  if (!l2_) return not_found();
  return load_through(ctx, h, key, nullptr);
}

Result<void> Cache::Impl::set(const Context& ctx, std::string_view key, std::string_view value,
                              std::optional<std::chrono::milliseconds> ttl) {
  if (auto bad = check_key("set", key); !bad) return bad;
  if (auto bad = check_value("set", value.size()); !bad) return bad;
  if (ttl && ttl->count() <= 0)
    return fail(errc::invalid_argument, "set: ttl is ", ttl->count(), "ms; must be > 0");
  engine::attach_this_thread();
  const std::uint64_t h = hash_key(key);
  const std::uint64_t expires = engine::expiry_after(jittered(ttl.value_or(options_.default_ttl)));
  Entry* fresh = engine::make_value_entry(h, key, value, expires);
  if (!writer_) {
    shard_for(h).store(fresh, [] {});
    return {};
  }
  engine::WriteOp op;
  op.kind = engine::WriteOp::Kind::set;
  op.key = key;
  op.value = value;
  op.expires_at_ms = expires;
  return write_through(ctx, op,
                       [&](auto&& queue_locked) { shard_for(h).store(fresh, queue_locked); });
}

template <class Apply>
Result<void> Cache::Impl::write_through(const Context& ctx, engine::WriteOp& op, Apply&& apply) {
  auto done = writer_->prepare(op);
  bool queued = false;
  // Queued under the shard lock, so two writers of one key reach L2 in the order L1 saw them.
  apply([&] { queued = writer_->try_enqueue(op); });
  // A full queue falls back to the policy outside the lock (then that order is not promised).
  if (!queued) {
    if (auto r = writer_->enqueue(ctx, op); !r) return r;
  }
  return writer_->await(ctx, done,
                        op.kind == engine::WriteOp::Kind::erase ? "sync purge" : "sync set");
}

Result<void> Cache::Impl::erase(const Context& ctx, std::string_view key) {
  engine::attach_this_thread();
  const std::uint64_t h = hash_key(key);
  if (!writer_) {
    shard_for(h).erase(h, key, [] {});
    return {};
  }
  engine::WriteOp op;
  op.kind = engine::WriteOp::Kind::erase;
  op.key = key;
  return write_through(ctx, op,
                       [&](auto&& queue_locked) { shard_for(h).erase(h, key, queue_locked); });
}

Result<std::string> Cache::Impl::get_or_load(const Context& ctx, std::string_view key,
                                             const Loader* loader) {
  const std::uint64_t h = hash_key(key);
  std::string value;
  if (read_hashed(h, key, [&](std::string_view v) { value.assign(v); })) return value;
  return load_through(ctx, h, key, loader);
}

Result<void> Cache::Impl::flush(const Context& ctx) {
  if (!writer_) return {};
  return writer_->flush(ctx);
}

Result<std::string> Cache::Impl::load_through(const Context& ctx, std::uint64_t h,
                                              std::string_view key, const Loader* loader) {
  if (auto why = ctx.done()) return fail(*why, "get: context ended before the miss was served");
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

Result<Cache::Impl::Produced> Cache::Impl::read_l2(const Context& ctx, std::string_view key) {
  // No is_available() shortcut: a down connection answers at once, and with its reason.
  // The L1 copy must not outlive the L2 one: count its TTL from before the request left, less
  // one tick of the coarse clock, which may lag the real one by that much.
  const std::uint64_t sent_ms = engine::coarse_now_ms();
  auto reply = std::make_shared<engine::OneShot<Result<BackendValue>>>();
  l2_->read({std::string(key)}, [reply](std::vector<Result<BackendValue>> results) {
    reply->set(std::move(results.front()));
  });
  Result<Result<BackendValue>> waited = reply->wait(ctx, "get: L2 read");
  if (!waited) return std::unexpected(std::move(waited.error()));
  Result<BackendValue>& r = *waited;
  if (!r) return std::unexpected(std::move(r.error()));
  if (auto bad = check_value("get: L2 value", r->value.size()); !bad)
    return fail(errc::serialization, bad.error().detail);
  std::uint64_t expires = engine::expiry_after(options_.default_ttl);
  if (r->ttl_left.count() > 0) {
    const std::uint64_t l2_end = sent_ms + static_cast<std::uint64_t>(r->ttl_left.count());
    expires = std::min(expires, l2_end - std::min(l2_end, engine::coarse_resolution_ms()));
  }
  return Produced{std::move(r->value), expires, true};
}

Result<Cache::Impl::Produced> Cache::Impl::produce(const Context& ctx, std::string_view key,
                                                   const Loader* loader) {
  if (l2_) {
    Result<Produced> from_l2 = read_l2(ctx, key);
    if (from_l2) {
      counters_.add(kL2Hits);
      return from_l2;
    }
    if (from_l2.error() == errc::not_found) {
      counters_.add(kL2Misses);
    } else {
      // The caller's own deadline or cancellation is not L2's failure.
      if (!ctx.done()) counters_.add(kL2Errors);
      if (loader == nullptr || options_.when_l2_down == L2DownPolicy::fail || ctx.done())
        return from_l2;
    }
  }
  if (loader == nullptr) return not_found();
  Result<std::string> loaded = run_loader(ctx, key, *loader);
  if (!loaded) return std::unexpected(std::move(loaded.error()));
  return Produced{std::move(*loaded), engine::expiry_after(jittered(options_.default_ttl)), false};
}

Result<std::string> Cache::Impl::run_loader(const Context& ctx, std::string_view key,
                                            const Loader& loader) {
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
  // A loader that failed because its caller's context ended is a hand-off, not a failure.
  if (!r && !ctx.done()) counters_.add(kLoadFailures);
  return r;
}

// The leader owns one reference to `slot` and gives it up here.
Result<std::string> Cache::Impl::lead(const Context& ctx, ShardTable& shard, std::uint64_t h,
                                      std::string_view key, PromiseSlot* slot,
                                      const Loader* loader) {
  Result<Produced> p = produce(ctx, key, loader);
  Result<std::string> r;
  if (p) {
    engine::WriteOp op;
    const bool write_back = writer_ && !p->from_l2;
    if (write_back) {
      op.key = key;
      op.value = p->value;
      op.expires_at_ms = p->expires_at_ms;
    }
    // A value about to expire in L2 answers this call but is not worth an L1 entry.
    if (p->expires_at_ms > engine::coarse_now_ms()) {
      // Written back to L2 only if still ours, and queued under the lock: a purge or set that
      // raced the load wins in L2 as it does in L1. A full queue only costs L2 this copy.
      shard.fill(h, slot, engine::make_value_entry(h, key, p->value, p->expires_at_ms), [&] {
        if (write_back) (void)writer_->try_enqueue(op);
      });
    } else {
      shard.drop(h, slot);
    }
    r = std::move(p->value);
    slot->publish(r);
  } else if (ctx.done()) {
    // Our own context ended: the failure is ours, not the key's (S3).
    r = std::unexpected(std::move(p.error()));
    shard.abandon(h, slot);
  } else {
    r = std::unexpected(std::move(p.error()));
    // Dropped before publishing, so a caller arriving now starts a new load rather than
    // joining this failed one.
    shard.drop(h, slot);
    slot->publish(r);
  }
  slot->release();
  return r;
}

// A waiter owns one reference to `slot` and gives it up here (or hands it to lead()).
Result<std::string> Cache::Impl::await(const Context& ctx, ShardTable& shard, std::uint64_t h,
                                       std::string_view key, PromiseSlot* slot,
                                       const Loader* loader) {
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
        return fail(*why, "get: context ended while taking over the load");
      }
      if (slot->try_lead()) return lead(ctx, shard, h, key, slot, loader);
      continue;
    }
    Result<std::string> r = slot->result();
    slot->release();
    return r;
  }
}

CacheStats Cache::Impl::stats() const {
  CacheStats s;
  s.l1_hits = counters_.sum(kHits);
  s.l1_misses = counters_.sum(kMisses);
  s.loads = counters_.sum(kLoads);
  s.load_failures = counters_.sum(kLoadFailures);
  s.coalesced = counters_.sum(kCoalesced);
  s.l2_hits = counters_.sum(kL2Hits);
  s.l2_misses = counters_.sum(kL2Misses);
  s.l2_errors = counters_.sum(kL2Errors);
  for (const auto& shard : shards_) {
    s.evictions += shard->evictions();
    s.expirations += shard->expirations();
    s.entries += shard->entry_count();
    s.bytes += shard->size_bytes();
  }
  s.max_bytes = options_.l1.max_bytes;
  s.overhead_bytes_per_entry = engine::kEntryOverheadBytes;
  if (writer_) {
    const engine::WriterStats w = writer_->stats();
    s.write_batches = w.batches;
    s.writes_sent = w.sent;
    s.writes_coalesced = w.coalesced;
    s.write_errors = w.failed;
    s.writes_retried = w.retried;
    s.writes_refused = w.refused;
    s.writes_dropped = w.dropped;
    s.write_queue_depth = w.queue_depth;
  }
  return s;
}

bool Cache::Impl::check_invariants() const {
  for (const auto& shard : shards_)
    if (!shard->check_invariants()) return false;
  return true;
}

bool CacheTestAccess::check_invariants(const Cache& cache) {
  return cache.impl_->check_invariants();
}

Cache::Cache(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Cache::Cache(Cache&&) noexcept = default;
Cache& Cache::operator=(Cache&&) noexcept = default;
Cache::~Cache() = default;

Result<std::string> Cache::get(const Context& ctx, std::string_view key) {
  if (auto bad = impl_->check_key("get", key); !bad) return std::unexpected(bad.error());
  return impl_->get(ctx, key);
}

Result<std::size_t> Cache::get_into(const Context& ctx, std::string_view key, std::span<char> out) {
  if (auto bad = impl_->check_key("get_into", key); !bad) return std::unexpected(bad.error());
  std::size_t size = 0;
  const bool hit = impl_->read(key, [&](std::string_view v) {
    size = v.size();
    if (v.size() <= out.size() && !v.empty()) std::memcpy(out.data(), v.data(), v.size());
  });
  if (!hit) {
    if (!impl_->has_l2()) return not_found();
    Result<std::string> fetched = impl_->get(ctx, key);
    if (!fetched) return std::unexpected(std::move(fetched.error()));
    size = fetched->size();
    if (size <= out.size() && size != 0) std::memcpy(out.data(), fetched->data(), size);
  }
  if (size > out.size())
    return fail(errc::invalid_argument, "get_into: value is ", size, " bytes; buffer is ",
                out.size());
  return size;
}

Result<void> Cache::set(const Context& ctx, std::string_view key, std::string_view value) {
  return impl_->set(ctx, key, value, std::nullopt);
}

Result<void> Cache::set(const Context& ctx, std::string_view key, std::string_view value,
                        std::chrono::milliseconds ttl) {
  return impl_->set(ctx, key, value, ttl);
}

Result<void> Cache::purge(const Context& ctx, std::string_view key) {
  if (auto bad = impl_->check_key("purge", key); !bad) return bad;
  return impl_->erase(ctx, key);
}

Result<std::string> Cache::get_or_load(const Context& ctx, std::string_view key,
                                       const Loader& loader) {
  if (auto bad = impl_->check_key("get_or_load", key); !bad) return std::unexpected(bad.error());
  if (!loader) return fail(errc::invalid_argument, "get_or_load: loader is empty");
  return impl_->get_or_load(ctx, key, &loader);
}

Result<void> Cache::flush(const Context& ctx) {
  return impl_->flush(ctx);
}

CacheStats Cache::stats() const {
  return impl_->stats();
}
const Options& Cache::options() const {
  return impl_->options();
}

}  // namespace tiercache
