// engine/l1/reclamation.hpp — when an L1 entry (or index array) nobody can reach may be freed.
//
// Epoch-based reclamation with asymmetric fences. A reader opens a ReadSection: it copies the
// global epoch into its own thread record (a plain store to a line only it writes, no locked
// instruction, no fence) and may then follow any pointer it finds in an index until the section
// closes. A writer that unlinks an object retires it; its next scan tags it with the epoch it
// reads after a full fence (one fence per scan, not per retire). The epoch advances only when every
// open section began in the current epoch, and an object retired in epoch r is freed once the epoch
// reaches r + 2: no section that could have seen it is still open.
//
// What makes the reader's store visible to the thread that advances, without a fence on the
// reader's side, is membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED): the advancing thread makes
// every running thread of the process execute a full barrier before it reads the records (the
// scheme of Linux's urcu-memb and folly's asymmetric fences). Where membarrier is refused (old
// kernels, seccomp, valgrind), readers fence themselves instead: correct, a few ns slower.
//
// Retired objects wait in the retiring thread's list. A thread scans when it has retired
// kRetiredBudgetBytes or kRetiredBudgetCount since its last scan (reclaim_if_over_budget, called
// with no lock held), and at exit. What a scan cannot free yet (an open section holds the epoch
// back) moves to a shared list that any thread's next scan frees, and a thread that finds that
// list over a budget scans too once the epoch has moved: so what is retired and not freed stays
// near threads x budget plus what open sections hold, even with threads that retire a little
// and exit. Not fork-safe: a child must only exec (a section or scan in flight in another
// thread at the fork would stay so in the child).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>

#include "engine/base/memory_order.hpp"

namespace tiercache::engine {

// Bytes, and objects, one thread may retire before it scans for ones it can free.
inline constexpr std::size_t kRetiredBudgetBytes = std::size_t{256} << 10;
inline constexpr std::size_t kRetiredBudgetCount = 1024;

namespace epoch {

// One per thread that ever read or retired; recycled at thread exit, never freed. Its own line:
// a reader writes nothing else.
struct alignas(64) ThreadRecord {
  // 0: no section open; else the global epoch when this thread's outermost section opened.
  std::atomic<std::uint64_t> pinned{0};
  std::uint32_t depth = 0;  // open sections; only the owner reads or writes it
  std::atomic<bool> in_use{false};
  ThreadRecord* next = nullptr;  // the registry, push-only
};

// Starts at 1 so that 0 can mean "no section open".
extern std::atomic<std::uint64_t> global_epoch;
// True when membarrier is refused and readers must fence themselves.
extern bool readers_fence;
// constinit: a trivially initialized thread_local, so an access is one TLS load with no
// initialization guard.
extern constinit thread_local ThreadRecord* this_thread_record;

// The calling thread's record, registered on first use.
ThreadRecord* register_this_thread();

}  // namespace epoch

// While one is open on a thread, nothing the thread can reach from an index is freed. Sections
// nest. Keep them short: an open section holds back every thread's reclamation.
class ReadSection {
 public:
  ReadSection() noexcept {
    epoch::ThreadRecord* r = epoch::this_thread_record;
    if (r == nullptr) [[unlikely]]
      r = epoch::register_this_thread();
    record_ = r;
    if (r->depth++ != 0) return;
    // Release: a thread that sees this pin also sees everything this thread did before it,
    // including its reads of objects under its previous section (docs/architecture.md).
    // Acquire: the epoch is read before any pointer the section loads (on AArch64 a relaxed
    // load could be satisfied after them, pinning an epoch newer than what they saw).
    r->pinned.store(epoch::global_epoch.load(kAcquire), kRelease);
    if (epoch::readers_fence) [[unlikely]]
      full_fence();
    else
      std::atomic_signal_fence(std::memory_order_seq_cst);
  }
  ~ReadSection() {
    if (--record_->depth == 0) record_->pinned.store(0, kRelease);
  }
  ReadSection(const ReadSection&) = delete;
  ReadSection& operator=(const ReadSection&) = delete;

 private:
  epoch::ThreadRecord* record_;
};

// Frees an object once no section can hold it. `bytes` is what retired_bytes() counts. Never
// throws: out of memory for its list, it waits a moment for the readers and frees the object,
// or leaves it unfreed.
using Disposer = void (*)(void* object) noexcept;
void retire(void* object, std::size_t bytes, Disposer dispose) noexcept;

// Scans this thread's retired objects if it retired a budget's worth since its last scan.
// Call with no lock held: a scan may free many objects.
void reclaim_if_over_budget();
// Advances the epoch as far as open sections allow and frees what this thread (and threads that
// exited) retired and no section can hold, now.
void reclaim_retired_now();
// Bytes retired and not yet freed, over the whole process (one scheme serves every Cache).
std::size_t retired_bytes() noexcept;

}  // namespace tiercache::engine
