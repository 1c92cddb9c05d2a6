// engine/open.cpp — Cache::open: the one engine file that knows the adapters, through their
// hiredis-free factories.
#include "adapters/redis/make_redis_backend.hpp"
#include "engine/cache_impl.hpp"
#include "engine/options_check.hpp"
#include "engine/reclamation.hpp"

namespace tiercache {

Result<Cache> Cache::open(const Options& options) {
  Result<Options> completed = engine::complete_options(options);
  if (!completed) return std::unexpected(std::move(completed.error()));
  engine::attach_this_thread();
  std::unique_ptr<Backend> l2;
  if (engine::has_l2(*completed)) l2 = redis::make_redis_backend(completed->redis);
  return Cache(std::make_unique<Impl>(*completed, std::move(l2)));
}

}  // namespace tiercache
