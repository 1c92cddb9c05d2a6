#include "engine/base/striped_counter.hpp"

#include <mutex>
#include <vector>

namespace tiercache::engine {
namespace {

// Free ordinals, guarded by a mutex: taken once per thread, never on the hot path.
struct OrdinalPool {
  std::mutex mu;
  std::vector<std::size_t> free;
  std::size_t next = 0;

  std::size_t take() {
    std::lock_guard lock(mu);
    if (!free.empty()) {
      std::size_t s = free.back();
      free.pop_back();
      return s;
    }
    return next < kOwnedStripes ? next++ : kOwnedStripes;
  }
  void give_back(std::size_t s) {
    if (s == kOwnedStripes) return;
    std::lock_guard lock(mu);
    free.push_back(s);
  }
};

// Leaked on purpose: threads may exit after static destruction began.
OrdinalPool& pool() {
  static OrdinalPool* p = new OrdinalPool();
  return *p;
}

struct ThreadOrdinal {
  std::size_t stripe = pool().take();
  ~ThreadOrdinal() {
    // A count made by a thread_local destructor that runs after this one takes the shared
    // stripe: this one may be another thread's by then.
    stripe::this_thread_plus_one = kOwnedStripes + 1;
    pool().give_back(stripe);
  }
};

}  // namespace

namespace stripe {

constinit thread_local std::size_t this_thread_plus_one = 0;

std::size_t assign_this_thread() noexcept {
  thread_local ThreadOrdinal ordinal;
  this_thread_plus_one = ordinal.stripe + 1;
  return ordinal.stripe;
}

}  // namespace stripe

}  // namespace tiercache::engine
