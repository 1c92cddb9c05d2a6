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

}  // namespace tiercache::engine
