// engine/base/racy_copy.hpp — copies to and from bytes another thread may be writing.
//
// An L1 value rewritten in place (engine/l1/entry.hpp) is read under a seqlock: the reader
// copies, then checks the version and copies again if a writer was there. The copy itself races
// with the writer's by design. Built plainly it is memcpy (the seqlock throws a torn copy
// away; formally a data race, the usual seqlock caveat, see P1478); under TSan both sides copy
// byte by byte through relaxed atomics so that TSan does not flag the copy. TSan cannot check
// the seqlock itself (it ignores fences, and atomics never race): tests/overwrite_test.cpp does.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstring>

namespace tiercache::engine {

// `src` may be written meanwhile; `dst` is the caller's own.
inline void copy_from_racy(char* dst, const char* src, std::size_t n) noexcept {
#if defined(__SANITIZE_THREAD__)
  for (std::size_t i = 0; i < n; ++i)
    dst[i] = std::atomic_ref<char>(const_cast<char&>(src[i])).load(std::memory_order_relaxed);
#else
  if (n != 0) std::memcpy(dst, src, n);
#endif
}

// `dst` may be read meanwhile; `src` is the caller's own.
inline void copy_to_racy(char* dst, const char* src, std::size_t n) noexcept {
#if defined(__SANITIZE_THREAD__)
  for (std::size_t i = 0; i < n; ++i)
    std::atomic_ref<char>(dst[i]).store(src[i], std::memory_order_relaxed);
#else
  if (n != 0) std::memcpy(dst, src, n);
#endif
}

}  // namespace tiercache::engine
