// engine/api/typed_access.cpp — a TypedCache's reads: L1 hands out the entry's decoded object
// (no decoding, no reference count), and a miss goes down the same miss path as a get, its
// answer decoded once, in L1, where every later hit finds it.
#include <memory>
#include <unordered_map>
#include <vector>

#include "engine/api/cache_impl.hpp"

namespace tiercache {
namespace {

std::unexpected<Error> not_found_typed() {
  return std::unexpected(Error{make_error_code(errc::not_found), {}});
}

struct DestroyObject {
  void operator()(detail::DecodedObject* o) const noexcept { o->destroy(o); }
};

}  // namespace

template <class F>
engine::Lookup Cache::Impl::read_decoded_l1(std::uint64_t hash, std::string_view key,
                                            bool may_refresh, const detail::TypedValues& values,
                                            F&& f, Error& decode_error) {
  return counted(shard_for(hash).read_decoded(hash, key, current_epoch(), may_refresh,
                                              values.decode, f, decode_error));
}

std::unexpected<Error> Cache::Impl::undecodable(std::uint64_t hash, std::string_view key,
                                                Error why) {
  counters_.add(kDecodeFailures);
  shard_for(hash).drop_undecodable(hash, key);
  return std::unexpected(std::move(why));
}

Result<void> Cache::Impl::visit_produced(std::uint64_t hash, std::string_view key,
                                         std::string_view value, const detail::TypedValues& values,
                                         detail::TypedAccess::Visit visit, void* state) {
  bool visited = false;
  Error decode_error;
  // Not counted, neither in the stats (the call was counted once, as the miss it was) nor for
  // CLOCK (a value just filled has not been hit).
  shard_for(hash).read_decoded(
      hash, key, current_epoch(), false, values.decode,
      [&](const detail::DecodedObject& object, std::string_view bytes, engine::Lookup) {
        if (bytes != value) return;  // replaced meanwhile: answer what this call produced
        visit(state, object);
        visited = true;
      },
      decode_error, /*record_hit=*/false);
  if (visited) return {};
  // L1's bytes for the key did not decode; they may not be this call's (replaced meanwhile).
  if (decode_error.code) shard_for(hash).drop_undecodable(hash, key);
  // Not in L1 (not cached, or already replaced): decoded for this caller alone.
  std::unique_ptr<detail::DecodedObject, DestroyObject> own(values.decode(value, &decode_error));
  if (!own) return undecodable(hash, key, std::move(decode_error));
  visit(state, *own);
  return {};
}

Result<void> Cache::Impl::get_decoded(const Context& ctx, std::string_view key,
                                      const detail::TypedValues& values, const TypedLoad& load,
                                      detail::TypedAccess::Visit visit, void* state) {
  const bool with_loader = load.make != nullptr;
  engine::CallTimer timer(latencies_, with_loader ? Op::get_or_load : Op::get);
  const std::uint64_t h = hash_key(key);
  Error decode_error;
  const engine::Lookup found = read_decoded_l1(
      h, key, with_loader, values,
      [&](const detail::DecodedObject& object, std::string_view, engine::Lookup) {
        visit(state, object);
      },
      decode_error);
  switch (found) {
    case engine::Lookup::hit:
      return {};
    case engine::Lookup::hit_refresh:
    case engine::Lookup::hit_stale: {
      if (!with_loader) return {};
      const Loader loader = load.make(load.state);
      const engine::LoadRequest request{loader, load.ttl};
      std::optional<Result<std::string>> refreshed =
          miss_.refresh(ctx, shard_for(h), h, key, request, &timer);
      if (!refreshed) return {};  // the value visited stands
      if (!*refreshed) return std::unexpected(std::move(refreshed->error()));
      // A new value: visited in its place.
      return visit_produced(h, key, **refreshed, values, visit, state);
    }
    case engine::Lookup::absent:
      return not_found_typed();
    case engine::Lookup::miss:
      break;
  }
  // L2's bytes (or a set's) that this type cannot read: the caller's error, never a crash; they
  // leave L1, so that the next read asks L2 again.
  if (decode_error.code) return undecodable(h, key, std::move(decode_error));
  if (!l2_ && !with_loader) return not_found_typed();
  timer.left_l1();
  std::optional<Loader> loader;
  std::optional<engine::LoadRequest> request;
  if (with_loader) {
    loader.emplace(load.make(load.state));
    request.emplace(engine::LoadRequest{*loader, load.ttl});
  }
  Result<std::string> served =
      miss_.serve(ctx, shard_for(h), h, key, request ? &*request : nullptr);
  if (!served) return std::unexpected(std::move(served.error()));
  return visit_produced(h, key, *served, values, visit, state);
}

Result<std::vector<Result<void>>> Cache::Impl::get_many_decoded(
    const Context& ctx, std::span<const std::string_view> keys, const detail::TypedValues& values,
    detail::TypedAccess::VisitAt visit, void* state) {
  if (auto closed = check_open("get_many"); !closed)
    return std::unexpected(std::move(closed.error()));
  if (keys.empty()) return fail(errc::invalid_argument, "get_many: no keys");
  engine::CallTimer timer(latencies_, Op::get_many);
  std::vector<Result<void>> results(keys.size());
  // Each distinct key is looked up once and every position of it visits what that one look
  // found, as Cache::get_many answers: a second look could find another value (a set between
  // the two), or nothing (the first look dropped bytes this type cannot read). Its first
  // position carries the answer; the others copy it at the end.
  struct Distinct {
    std::string_view key;
    std::vector<std::size_t> at;  // its positions in `keys`, in order
  };
  std::vector<Distinct> distinct;
  std::unordered_map<std::string_view, std::size_t> seen;
  seen.reserve(keys.size());
  for (std::size_t i = 0; i < keys.size(); ++i) {
    const std::string_view key = keys[i];
    if (!key_accepted(key)) {
      results[i] = key_refused("get_many", key);
      continue;
    }
    const auto [it, is_new] = seen.emplace(key, distinct.size());
    if (is_new) distinct.push_back({key, {}});
    distinct[it->second].at.push_back(i);
  }
  struct VisitEvery {
    detail::TypedAccess::VisitAt visit;
    void* state;
    const std::vector<std::size_t>* at;
    void operator()(const detail::DecodedObject& object) const {
      for (const std::size_t i : *at) visit(state, i, object);
    }
  };
  std::vector<engine::MissPath::MissedKey> missed;
  std::vector<std::size_t> missed_at;  // per missed key, its index in `distinct`
  for (std::size_t d = 0; d < distinct.size(); ++d) {
    const std::string_view key = distinct[d].key;
    const std::size_t first = distinct[d].at.front();
    const VisitEvery every{visit, state, &distinct[d].at};
    const std::uint64_t h = hash_key(key);
    Error decode_error;
    // An early refresh is a single key's business: a batch serves the value it reads.
    const engine::Lookup found = read_decoded_l1(
        h, key, false, values,
        [&](const detail::DecodedObject& object, std::string_view, engine::Lookup) {
          every(object);
        },
        decode_error);
    if (engine::is_hit(found)) continue;
    if (found == engine::Lookup::absent || (!l2_ && !decode_error.code)) {
      results[first] = not_found_typed();
    } else if (decode_error.code) {
      results[first] = undecodable(h, key, std::move(decode_error));
    } else {
      missed.push_back({&shard_for(h), h, key});
      missed_at.push_back(d);
    }
  }
  if (!missed.empty()) {
    timer.left_l1();
    std::vector<Result<std::string>> served = miss_.serve_many(ctx, missed, nullptr, nullptr);
    for (std::size_t j = 0; j < missed.size(); ++j) {
      const Distinct& key = distinct[missed_at[j]];
      if (!served[j]) {
        results[key.at.front()] = std::unexpected(std::move(served[j].error()));
        continue;
      }
      VisitEvery every{visit, state, &key.at};
      results[key.at.front()] = visit_produced(
          missed[j].hash, missed[j].key, *served[j], values,
          [](void* s, const detail::DecodedObject& object) {
            (*static_cast<const VisitEvery*>(s))(object);
          },
          &every);
    }
  }
  for (const Distinct& key : distinct)
    for (std::size_t k = 1; k < key.at.size(); ++k) results[key.at[k]] = results[key.at.front()];
  return results;
}

Result<void> detail::TypedAccess::get(Cache& cache, const Context& ctx, std::string_view key,
                                      const TypedValues& values, MakeLoader make_loader,
                                      const void* loader_state,
                                      std::optional<std::chrono::milliseconds> ttl, Visit visit,
                                      void* state) {
  const char* op = make_loader != nullptr ? "get_or_load" : "get";
  if (!cache.impl_->key_accepted(key)) [[unlikely]]
    return cache.impl_->key_refused(op, key);
  if (ttl && (ttl->count() <= 0 || *ttl > kMaxTtl))
    return fail(errc::invalid_argument, op, ": ttl is ", ttl->count(), "ms; must be in [1, ",
                kMaxTtl.count(), "] (for the default, give no ttl)");
  return cache.impl_->get_decoded(ctx, key, values, {make_loader, loader_state, ttl}, visit, state);
}

Result<std::vector<Result<void>>> detail::TypedAccess::get_many(
    Cache& cache, const Context& ctx, std::span<const std::string_view> keys,
    const TypedValues& values, VisitAt visit, void* state) {
  return cache.impl_->get_many_decoded(ctx, keys, values, visit, state);
}

}  // namespace tiercache
