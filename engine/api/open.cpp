// engine/api/open.cpp — Cache::open: options checked whole, then the L2 (Options.backend, else
// make_backend(), which names the adapters so that the engine does not), then the tiers.
#include "engine/api/cache_impl.hpp"
#include "engine/api/cache_test_access.hpp"
#include "engine/api/options_check.hpp"

#include <new>

namespace tiercache {

namespace {

// `build()`, or overloaded if it ran out of memory: the shards' indexes and CLOCKs are
// allocated up front, sized from Options.l1, and a std::bad_alloc from them escaped open().
// overloaded because errc has no code for memory alone, and it is the one for a resource this
// process lacks now (retry later or ask for less; nothing changed); invalid_argument would say
// that retrying cannot help. Whatever was built is torn down as the exception unwinds.
template <class Build>
Result<Cache> unless_out_of_memory(Build build) {
  try {
    return build();
  } catch (const std::bad_alloc&) {
    return fail(errc::overloaded,
                "open: out of memory while building the cache (each shard's index and CLOCK are "
                "allocated up front, sized from Options.l1.max_bytes / l1.shards / "
                "l1.expected_entry_bytes); nothing was kept");
  }
}

// The options that depend on what the backend can do.
Result<void> check_with_backend(const Options& o, const Backend* l2) {
  if (o.negative_in_l2 && l2 != nullptr && !l2->stores_absent())
    return fail(errc::invalid_argument,
                "Options.negative_in_l2 is true, but the L2 backend cannot store the \"no such "
                "key\" marker (Backend::stores_absent() is false)");
  return {};
}

}  // namespace

Result<Cache> Cache::open_typed(const Options& options, std::size_t typed_object_bytes) {
  return unless_out_of_memory([&]() -> Result<Cache> {
    Result<Options> completed = engine::complete_options(options, typed_object_bytes);
    if (!completed) return std::unexpected(std::move(completed.error()));
    std::shared_ptr<Backend> l2 = completed->backend;
    if (!l2) {
      Result<std::unique_ptr<Backend>> built = make_backend(*completed);
      if (!built) return std::unexpected(std::move(built.error()));
      l2 = std::move(*built);
    }
    if (auto bad = check_with_backend(*completed, l2.get()); !bad)
      return std::unexpected(std::move(bad.error()));
    // Before the cache subscribes to the backend's changes (Impl's constructor).
    Result<engine::BackendClaim> claim = engine::BackendClaim::take(l2.get());
    if (!claim) return std::unexpected(std::move(claim.error()));
    auto impl =
        std::make_unique<Impl>(*completed, std::move(l2), std::move(*claim), typed_object_bytes);
    if (auto attached = impl->attach_endpoint(); !attached)
      return std::unexpected(std::move(attached.error()));
    return Cache(std::move(impl));
  });
}

Result<Cache> Cache::open(const Options& options) {
  return open_typed(options, 0);
}

Result<Cache> detail::TypedAccess::open(const Options& options, const TypedValues& values) {
  return Cache::open_typed(options, values.object_bytes);
}

Result<Cache> CacheTestAccess::open_with(const Options& options, std::unique_ptr<Backend> l2) {
  return unless_out_of_memory([&]() -> Result<Cache> {
    // Checked as open() checks them with an L2, so that a test cannot run a writer open() refuses.
    Result<Options> completed = engine::complete_options(options, 0, l2 != nullptr);
    if (!completed) return std::unexpected(std::move(completed.error()));
    if (auto bad = check_with_backend(*completed, l2.get()); !bad)
      return std::unexpected(std::move(bad.error()));
    Result<engine::BackendClaim> claim = engine::BackendClaim::take(l2.get());
    if (!claim) return std::unexpected(std::move(claim.error()));
    auto impl = std::make_unique<Cache::Impl>(*completed, std::move(l2), std::move(*claim));
    if (auto attached = impl->attach_endpoint(); !attached)
      return std::unexpected(std::move(attached.error()));
    return Cache(std::move(impl));
  });
}

}  // namespace tiercache
