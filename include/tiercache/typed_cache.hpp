// tiercache/typed_cache.hpp — TypedCache<C>: a Cache of values of C::value_type, kept decoded.
//
// L1 keeps each value twice: its bytes (what L2 holds, encoded once by C on the way there) and
// the object C decoded from them, made at the entry's first typed read and shared, immutable,
// by every later hit. A hit therefore decodes nothing and takes no reference count: it copies the
// object out (get), assigns it to the caller's (get into `out`), or lets the caller look at it
// in place (visit). A miss goes down the same path as Cache's (L2, then the loader, one load per
// key) and its answer is decoded once. L1 charges a typed entry its bytes twice (the second time
// as the estimate of what the decoded form holds) plus sizeof the holder.
//
//   auto orders = tiercache::TypedCache<tiercache::JsonCodec<Order>>::open(options);
//   orders->set(ctx, "order:7", order);
//   tiercache::Result<Order> o = orders->get(ctx, "order:7");
//
// Bytes another program stored that C cannot decode answer errc::serialization (the L1 entry
// is removed, so the next read asks L2 again). Threads, waiting and errors are Cache's
// (cache.hpp); bytes() is the Cache underneath, for what the bytes themselves are wanted.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "tiercache/cache.hpp"
#include "tiercache/codec.hpp"
#include "tiercache/detail/typed_access.hpp"

namespace tiercache {

// Produces the value of `key` for TypedCache::get_or_load. errc::not_found means the key does not
// exist (cached for Options.negative_ttl, as Cache's loaders' Loaded::absent()).
template <class T>
using TypedLoader = std::function<Result<T>(const Context& ctx, std::string_view key)>;

template <Codec C>
class TypedCache {
 public:
  using value_type = typename C::value_type;

  // Cache::open, for values of this type: the same Options, checked the same way (a value's
  // bytes are charged twice, so max_value_bytes must fit twice in a shard).
  [[nodiscard]] static Result<TypedCache> open(const Options& options) {
    Result<Cache> cache = detail::TypedAccess::open(options, kValues);
    if (!cache) return std::unexpected(std::move(cache.error()));
    return TypedCache(std::move(*cache));
  }

  // The value of `key` (a copy of L1's object on a hit), or not_found.
  [[nodiscard]] Result<value_type> get(const Context& ctx, std::string_view key) {
    std::optional<value_type> out;
    Result<void> r =
        detail::TypedAccess::get(cache_, ctx, key, kValues, nullptr, nullptr, std::nullopt,
                                 &copy_into_optional, std::addressof(out));
    if (!r) return std::unexpected(std::move(r.error()));
    return std::move(*out);
  }
  // The value of `key` assigned to `out` (which keeps its capacity where value_type's assignment
  // does). On an error `out` is left as it was.
  [[nodiscard]] Result<void> get(const Context& ctx, std::string_view key, value_type& out) {
    return detail::TypedAccess::get(cache_, ctx, key, kValues, nullptr, nullptr, std::nullopt,
                                    &assign_to, std::addressof(out));
  }
  // Calls f(const value_type&) with the value of `key`, without copying it on a hit: f sees
  // L1's object, valid until f returns. f runs while L1 keeps the entry for it: keep it short,
  // and do not call this cache from it. (value_type's destructor runs when L1 frees the entry,
  // on whichever thread does: it must not call into a Cache either.)
  template <class F>
  [[nodiscard]] Result<void> visit(const Context& ctx, std::string_view key, F&& f) {
    return detail::TypedAccess::get(cache_, ctx, key, kValues, nullptr, nullptr, std::nullopt,
                                    &call<F>,
                                    const_cast<void*>(static_cast<const void*>(std::addressof(f))));
  }

  // Encodes `value` once and stores it as Cache::set does: L1 keeps the bytes and decodes them at
  // the first typed read; L2 gets the bytes. serialization if C cannot encode it.
  [[nodiscard]] Result<void> set(const Context& ctx, std::string_view key,
                                 const value_type& value) {
    Result<std::string> bytes = C::encode(value);
    if (!bytes) return std::unexpected(std::move(bytes.error()));
    return cache_.set(ctx, key, *bytes);
  }
  [[nodiscard]] Result<void> set(const Context& ctx, std::string_view key, const value_type& value,
                                 std::chrono::milliseconds ttl) {
    Result<std::string> bytes = C::encode(value);
    if (!bytes) return std::unexpected(std::move(bytes.error()));
    return cache_.set(ctx, key, *bytes, ttl);
  }

  [[nodiscard]] Result<void> purge(const Context& ctx, std::string_view key) {
    return cache_.purge(ctx, key);
  }

  // Cache::get_or_load for this type: the loader's value is encoded once (for L2) and decoded
  // once (in L1). The loader is copied only when it is needed (a miss, or an early refresh, which
  // may run it later on a refresh thread).
  [[nodiscard]] Result<value_type> get_or_load(const Context& ctx, std::string_view key,
                                               const TypedLoader<value_type>& loader) {
    return get_or_load_with(ctx, key, loader, std::nullopt);
  }
  [[nodiscard]] Result<value_type> get_or_load(const Context& ctx, std::string_view key,
                                               const TypedLoader<value_type>& loader,
                                               std::chrono::milliseconds ttl) {
    return get_or_load_with(ctx, key, loader, std::optional(ttl));
  }

  // The values of `keys`, one answer per key in their order, as Cache::get_many answers them.
  [[nodiscard]] Result<std::vector<Result<value_type>>> get_many(
      const Context& ctx, std::span<const std::string_view> keys) {
    std::vector<std::optional<value_type>> found(keys.size());
    Result<std::vector<Result<void>>> r =
        detail::TypedAccess::get_many(cache_, ctx, keys, kValues, &copy_at, std::addressof(found));
    if (!r) return std::unexpected(std::move(r.error()));
    std::vector<Result<value_type>> out;
    out.reserve(keys.size());
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if ((*r)[i]) {
        out.emplace_back(std::move(*found[i]));
      } else {
        out.emplace_back(std::unexpected(std::move((*r)[i].error())));
      }
    }
    return out;
  }

  [[nodiscard]] Result<void> flush(const Context& ctx) { return cache_.flush(ctx); }
  [[nodiscard]] Result<void> close(const Context& ctx) { return cache_.close(ctx); }
  CacheStats stats() const { return cache_.stats(); }
  Metrics metrics() const { return cache_.metrics(); }
  const Options& options() const { return cache_.options(); }
  // The cache of bytes underneath: its get answers the encoded bytes; a set of bytes there is
  // decoded at its first typed read (serialization then, if C cannot read them).
  Cache& bytes() noexcept { return cache_; }

 private:
  struct Holder final : detail::DecodedObject {
    explicit Holder(value_type v) : DecodedObject{&destroy_holder}, value(std::move(v)) {}
    value_type value;
  };
  static void destroy_holder(detail::DecodedObject* self) noexcept {
    delete static_cast<Holder*>(self);
  }
  static detail::DecodedObject* decode(std::string_view bytes, Error* error) noexcept {
    try {
      Result<value_type> v = C::decode(bytes);
      if (!v) {
        *error = std::move(v.error());
        return nullptr;
      }
      return new Holder(std::move(*v));
    } catch (const std::exception& e) {
      *error = fail(errc::serialization, "decode: ", e.what()).error();
      return nullptr;
    } catch (...) {
      *error = fail(errc::serialization, "decode: the codec threw").error();
      return nullptr;
    }
  }
  static const value_type& value_of(const detail::DecodedObject& o) noexcept {
    return static_cast<const Holder&>(o).value;
  }
  static void copy_into_optional(void* out, const detail::DecodedObject& o) {
    static_cast<std::optional<value_type>*>(out)->emplace(value_of(o));
  }
  static void assign_to(void* out, const detail::DecodedObject& o) {
    *static_cast<value_type*>(out) = value_of(o);
  }
  static void copy_at(void* out, std::size_t i, const detail::DecodedObject& o) {
    (*static_cast<std::vector<std::optional<value_type>>*>(out))[i].emplace(value_of(o));
  }
  template <class F>
  static void call(void* f, const detail::DecodedObject& o) {
    (*static_cast<std::remove_reference_t<F>*>(f))(value_of(o));
  }
  // The Loader the cache runs: owns a copy of the typed loader, for a refresh that runs later.
  static Loader make_loader(const void* typed) {
    return [loader = *static_cast<const TypedLoader<value_type>*>(typed)](
               const Context& ctx, std::string_view key) -> Result<Loaded> {
      Result<value_type> v = loader(ctx, key);
      if (!v) return std::unexpected(std::move(v.error()));
      Result<std::string> bytes = C::encode(*v);
      if (!bytes) return std::unexpected(std::move(bytes.error()));
      return Loaded(std::move(*bytes));
    };
  }
  Result<value_type> get_or_load_with(const Context& ctx, std::string_view key,
                                      const TypedLoader<value_type>& loader,
                                      std::optional<std::chrono::milliseconds> ttl) {
    if (!loader) return fail(errc::invalid_argument, "get_or_load: loader is empty");
    std::optional<value_type> out;
    Result<void> r = detail::TypedAccess::get(cache_, ctx, key, kValues, &make_loader, &loader, ttl,
                                              &copy_into_optional, std::addressof(out));
    if (!r) return std::unexpected(std::move(r.error()));
    return std::move(*out);
  }

  // The holder and its allocation's header (malloc's 16 bytes, rounded).
  static constexpr detail::TypedValues kValues{sizeof(Holder) + 16, &decode};

  explicit TypedCache(Cache cache) : cache_(std::move(cache)) {}
  Cache cache_;
};

}  // namespace tiercache
