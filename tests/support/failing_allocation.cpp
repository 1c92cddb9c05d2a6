#include "tests/support/failing_allocation.hpp"

#include <cstdlib>
#include <new>

namespace {

struct Armed {
  std::size_t min_bytes;
  bool armed;
  bool fired;
};
// constinit: read by every allocation of every thread, also before main and during thread exit.
constinit thread_local Armed armed{0, false, false};

void* allocate(std::size_t n) {
  if (armed.armed && n >= armed.min_bytes) {
    armed.armed = false;
    armed.fired = true;
    throw std::bad_alloc();
  }
  if (void* p = std::malloc(n != 0 ? n : 1)) return p;
  throw std::bad_alloc();
}

}  // namespace

namespace test {

FailNextLargeAllocation::FailNextLargeAllocation(std::size_t min_bytes) noexcept {
  armed = {min_bytes, true, false};
}

FailNextLargeAllocation::~FailNextLargeAllocation() {
  armed.armed = false;
}

bool FailNextLargeAllocation::fired() const noexcept {
  return armed.fired;
}

}  // namespace test

// The replaceable global forms, nothrow ones too (a sanitizer's own would pair its allocation
// with our delete: a mismatch under ASan). Aligned forms keep the library's, new and delete alike.
void* operator new(std::size_t n) {
  return allocate(n);
}
void* operator new[](std::size_t n) {
  return allocate(n);
}
void operator delete(void* p) noexcept {
  std::free(p);
}
void operator delete[](void* p) noexcept {
  std::free(p);
}
void operator delete(void* p, std::size_t) noexcept {
  std::free(p);
}
void operator delete[](void* p, std::size_t) noexcept {
  std::free(p);
}
void* operator new(std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return allocate(n);
  } catch (...) {
    return nullptr;
  }
}
void* operator new[](std::size_t n, const std::nothrow_t&) noexcept {
  try {
    return allocate(n);
  } catch (...) {
    return nullptr;
  }
}
void operator delete(void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
void operator delete[](void* p, const std::nothrow_t&) noexcept {
  std::free(p);
}
