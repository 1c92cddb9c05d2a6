// engine/base/memory_order.hpp — the memory orders every engine atomic names.
//
// Build with -DTIERCACHE_FORCE_SEQ_CST=1 to make them all seq_cst: a failure that vanishes then
// is an ordering bug.
#pragma once

#include <atomic>

namespace tiercache::engine {

#if defined(TIERCACHE_FORCE_SEQ_CST) && TIERCACHE_FORCE_SEQ_CST
inline constexpr std::memory_order kRelaxed = std::memory_order_seq_cst;
inline constexpr std::memory_order kAcquire = std::memory_order_seq_cst;
inline constexpr std::memory_order kRelease = std::memory_order_seq_cst;
inline constexpr std::memory_order kAcqRel = std::memory_order_seq_cst;
#else
inline constexpr std::memory_order kRelaxed = std::memory_order_relaxed;
inline constexpr std::memory_order kAcquire = std::memory_order_acquire;
inline constexpr std::memory_order kRelease = std::memory_order_release;
inline constexpr std::memory_order kAcqRel = std::memory_order_acq_rel;
#endif

// A full fence (store-load ordering), where two threads' orders must meet without a shared RMW.
// TSan does not model fences, and GCC refuses them under -fsanitize=thread unless told: every
// fence here stands beside the acquire/release pairs that give TSan its happens-before, so
// TSan loses nothing, while the real fence still orders the hardware.
inline void full_fence() noexcept {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpragmas"
#pragma GCC diagnostic ignored "-Wtsan"
  std::atomic_thread_fence(std::memory_order_seq_cst);
#pragma GCC diagnostic pop
}

// The fences of a seqlock (engine/l1/entry.hpp): the reader's acquire fence keeps its copy
// before its second look at the version, the writer's release fence keeps its first (odd)
// version ahead of the bytes it writes. Same TSan note as full_fence().
inline void acquire_fence() noexcept {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpragmas"
#pragma GCC diagnostic ignored "-Wtsan"
  std::atomic_thread_fence(std::memory_order_acquire);
#pragma GCC diagnostic pop
}
inline void release_fence() noexcept {
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpragmas"
#pragma GCC diagnostic ignored "-Wtsan"
  std::atomic_thread_fence(std::memory_order_release);
#pragma GCC diagnostic pop
}

}  // namespace tiercache::engine
