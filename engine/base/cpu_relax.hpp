// engine/base/cpu_relax.hpp — one step of a spin-wait.
#pragma once

namespace tiercache::engine {

// Tells the core it is spinning (frees the sibling hyper-thread, saves power), where the
// architecture has a way to say so.
inline void cpu_relax() noexcept {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

}  // namespace tiercache::engine
