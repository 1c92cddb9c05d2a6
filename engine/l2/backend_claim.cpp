#include "engine/l2/backend_claim.hpp"

#include <mutex>
#include <unordered_set>

namespace tiercache::engine {

namespace {

struct Claimed {
  std::mutex mu;
  std::unordered_set<const Backend*> backends;
};

// Never destroyed: a Cache with static storage may be destroyed after any other static.
Claimed& claimed() {
  static Claimed* const c = new Claimed;
  return *c;
}

}  // namespace

Result<BackendClaim> BackendClaim::take(const Backend* backend) {
  if (backend == nullptr) return BackendClaim{};
  Claimed& c = claimed();
  std::lock_guard lock(c.mu);
  if (!c.backends.insert(backend).second)
    return fail(errc::invalid_argument,
                "Options.backend already serves another Cache; a backend serves one Cache at a "
                "time (it has one change-stream subscriber), until that Cache is destroyed");
  return BackendClaim(backend);
}

void BackendClaim::release() noexcept {
  if (backend_ == nullptr) return;
  Claimed& c = claimed();
  std::lock_guard lock(c.mu);
  c.backends.erase(backend_);
  backend_ = nullptr;
}

}  // namespace tiercache::engine
