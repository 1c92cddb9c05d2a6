// engine/api/open.cpp — Cache::open: options checked whole, then the L2 from make_backend()
// (which names the adapters, so the engine does not), then the tiers.
#include "engine/api/cache_impl.hpp"
#include "engine/api/cache_test_access.hpp"
#include "engine/api/options_check.hpp"

namespace tiercache {

Result<Cache> Cache::open(const Options& options) {
  Result<Options> completed = engine::complete_options(options);
  if (!completed) return std::unexpected(std::move(completed.error()));
  Result<std::unique_ptr<Backend>> l2 = make_backend(*completed);
  if (!l2) return std::unexpected(std::move(l2.error()));
  return Cache(std::make_unique<Impl>(*completed, std::move(*l2)));
}

Result<Cache> CacheTestAccess::open_with(const Options& options, std::unique_ptr<Backend> l2) {
  Result<Options> completed = engine::complete_options(options);
  if (!completed) return std::unexpected(std::move(completed.error()));
  return Cache(std::make_unique<Cache::Impl>(*completed, std::move(l2)));
}

}  // namespace tiercache
