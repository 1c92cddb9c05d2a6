// tests/support/failing_allocation.hpp — makes this thread's next large allocation throw
// std::bad_alloc, for tests of what a failed allocation leaves behind. The test binary replaces
// the global operator new (failing_allocation.cpp); other threads, and this one outside a
// FailNextLargeAllocation's life, allocate as usual.
#pragma once

#include <cstddef>

namespace test {

// While it lives, the first allocation of at least `min_bytes` this thread makes throws
// std::bad_alloc (once); fired() says whether one did.
class FailNextLargeAllocation {
 public:
  explicit FailNextLargeAllocation(std::size_t min_bytes) noexcept;
  ~FailNextLargeAllocation();
  FailNextLargeAllocation(const FailNextLargeAllocation&) = delete;
  FailNextLargeAllocation& operator=(const FailNextLargeAllocation&) = delete;
  bool fired() const noexcept;
};

}  // namespace test
