// engine/l2/backend_claim.hpp — a Cache's hold on its backend: one Cache per backend at a time.
//
// A backend tells one subscriber about changes in L2 (Backend::set_events). A second Cache
// opened on the same backend would take the change stream from the first, which would then go
// on trusting values others have changed in L2. So open() claims the backend before anything
// subscribes, and refuses a backend another Cache holds; the claim ends when that Cache has
// unsubscribed and let its writer go, as it is destroyed.
#pragma once

#include <utility>

#include "tiercache/backend.hpp"
#include "tiercache/error.hpp"

namespace tiercache::engine {

class BackendClaim {
 public:
  BackendClaim() = default;
  // Claims `backend` (null: an L1-only cache, nothing to claim), or invalid_argument if another
  // Cache holds it.
  [[nodiscard]] static Result<BackendClaim> take(const Backend* backend);

  BackendClaim(BackendClaim&& other) noexcept : backend_(std::exchange(other.backend_, nullptr)) {}
  BackendClaim& operator=(BackendClaim&& other) noexcept {
    if (this != &other) {
      release();
      backend_ = std::exchange(other.backend_, nullptr);
    }
    return *this;
  }
  ~BackendClaim() { release(); }

  // Frees the backend for another Cache.
  void release() noexcept;

 private:
  explicit BackendClaim(const Backend* backend) : backend_(backend) {}

  const Backend* backend_ = nullptr;
};

}  // namespace tiercache::engine
