// engine/api/open.cpp — Cache::open: options checked whole, then the L2 (Options.backend, else
// make_backend(), which names the adapters so that the engine does not), then the tiers.
#include "engine/api/cache_impl.hpp"
#include "engine/api/cache_test_access.hpp"
#include "engine/api/options_check.hpp"

namespace tiercache {

namespace {

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
  auto impl = std::make_unique<Impl>(*completed, std::move(l2), typed_object_bytes);
  if (auto attached = impl->attach_endpoint(); !attached)
    return std::unexpected(std::move(attached.error()));
  return Cache(std::move(impl));
}

Result<Cache> Cache::open(const Options& options) {
  return open_typed(options, 0);
}

Result<Cache> detail::TypedAccess::open(const Options& options, const TypedValues& values) {
  return Cache::open_typed(options, values.object_bytes);
}

Result<Cache> CacheTestAccess::open_with(const Options& options, std::unique_ptr<Backend> l2) {
  // Checked as open() checks them with an L2, so that a test cannot run a writer open() refuses.
  Result<Options> completed = engine::complete_options(options, 0, l2 != nullptr);
  if (!completed) return std::unexpected(std::move(completed.error()));
  if (auto bad = check_with_backend(*completed, l2.get()); !bad)
    return std::unexpected(std::move(bad.error()));
  auto impl = std::make_unique<Cache::Impl>(*completed, std::move(l2));
  if (auto attached = impl->attach_endpoint(); !attached)
    return std::unexpected(std::move(attached.error()));
  return Cache(std::move(impl));
}

}  // namespace tiercache
