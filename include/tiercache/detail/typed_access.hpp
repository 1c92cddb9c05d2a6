// tiercache/detail/typed_access.hpp — how TypedCache (typed_cache.hpp) reaches the typed entries of
// the cache under it. Not for programs: the names here may change with any release.
//
// A TypedCache's L1 entries keep, next to a value's bytes, the value decoded: a DecodedObject
// that the first typed read of the entry makes from the bytes and that is freed with the entry
// (after the last read section that could see it). Reads of the object take no reference: they
// run inside L1's read section, which keeps the entry, and so the object, alive.
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "tiercache/cache.hpp"
#include "tiercache/detail/decoded_object.hpp"
#include "tiercache/error.hpp"
#include "tiercache/loader.hpp"

namespace tiercache::detail {

// What a TypedCache tells the cache about its value type.
struct TypedValues {
  // Charged per entry for the decoded object on top of its bytes counted twice (encoded, and as
  // the estimate of what the decoded form holds): the holder's size and its allocation's header.
  std::size_t object_bytes;
  // A new object from `bytes`, or null with *error set (errc::serialization).
  DecodedObject* (*decode)(std::string_view bytes, Error* error);
};

// Lets a TypedCache call into the cache (the Cache's friend).
struct TypedAccess {
  // Cache::open for a TypedCache with these values.
  static Result<Cache> open(const Options& options, const TypedValues& values);

  // Calls visit(state, object) with the value of `key` as get / get_or_load answer it: the
  // entry's object on an L1 hit (no decoding), else the value produced for the miss, decoded
  // once. `make_loader` (with `loader_state`) is called only when a loader is needed (a miss or
  // an early refresh); null: a get. `ttl` as get_or_load's.
  using Visit = void (*)(void* state, const DecodedObject& object);
  using MakeLoader = Loader (*)(const void* loader_state);
  static Result<void> get(Cache& cache, const Context& ctx, std::string_view key,
                          const TypedValues& values, MakeLoader make_loader,
                          const void* loader_state, std::optional<std::chrono::milliseconds> ttl,
                          Visit visit, void* state);

  // get() of each key: calls visit(state, i, object) for each key i that has a value, and
  // returns one result per key (the value was visited, not_found, or its error). L2 is read once
  // for all the keys L1 missed.
  using VisitAt = void (*)(void* state, std::size_t index, const DecodedObject& object);
  static Result<std::vector<Result<void>>> get_many(Cache& cache, const Context& ctx,
                                                    std::span<const std::string_view> keys,
                                                    const TypedValues& values, VisitAt visit,
                                                    void* state);
};

}  // namespace tiercache::detail
