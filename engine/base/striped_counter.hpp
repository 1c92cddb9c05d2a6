// engine/base/striped_counter.hpp — statistics counters that a hit can bump without sharing a line.
//
// A shared atomic counter would be the one line every reader of the cache writes. Instead each
// thread owns a stripe (a cache line of counters) while it lives: it bumps its own with a
// relaxed load and store (it is the only writer), and readers sum the stripes. Threads beyond
// kOwnedStripes share one overflow stripe through fetch_add. Ordinals are recycled at thread
// exit, so a server with short-lived threads does not run out.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>

#include "engine/base/memory_order.hpp"

namespace tiercache::engine {

// Threads that get a stripe of their own; one more stripe is shared by the rest.
inline constexpr std::size_t kOwnedStripes = 64;

namespace stripe {
// This thread's stripe index plus one; 0 until the thread's first count. constinit, so a read
// is one TLS load with no initialization guard.
extern constinit thread_local std::size_t this_thread_plus_one;
// Takes a stripe for this thread (given back when it exits) and returns its index.
std::size_t assign_this_thread() noexcept;
}  // namespace stripe

// This thread's stripe index: < kOwnedStripes if it owns it, == kOwnedStripes if shared.
inline std::size_t this_thread_stripe() noexcept {
  const std::size_t s = stripe::this_thread_plus_one;
  if (s == 0) [[unlikely]]
    return stripe::assign_this_thread();
  return s - 1;
}

template <std::size_t N>
class StripedCounters {
 public:
  void add(std::size_t counter, std::uint64_t n = 1) noexcept {
    const std::size_t s = this_thread_stripe();
    std::atomic<std::uint64_t>& c = stripes_[s].counts[counter];
    if (s < kOwnedStripes) {
      // Single writer: a plain add is exact and spares the locked instruction.
      c.store(c.load(kRelaxed) + n, kRelaxed);
    } else {
      c.fetch_add(n, kRelaxed);
    }
  }

  std::uint64_t sum(std::size_t counter) const noexcept {
    std::uint64_t total = 0;
    for (const Stripe& s : stripes_) total += s.counts[counter].load(kRelaxed);
    return total;
  }

 private:
  struct alignas(64) Stripe {
    std::array<std::atomic<std::uint64_t>, N> counts{};
  };
  std::array<Stripe, kOwnedStripes + 1> stripes_{};
};

}  // namespace tiercache::engine
