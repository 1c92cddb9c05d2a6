#include "engine/l1/reclamation.hpp"

#include <linux/membarrier.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#include "engine/base/striped_counter.hpp"

namespace tiercache::engine {
namespace epoch {

std::atomic<std::uint64_t> global_epoch{1};
bool readers_fence = false;
constinit thread_local ThreadRecord* this_thread_record = nullptr;

}  // namespace epoch

namespace {

using epoch::ThreadRecord;

struct Retired {
  void* object;
  Disposer dispose;
  std::size_t bytes;
  // The global epoch read after the object was unlinked (and a full fence); 0 until the scan
  // that tags it. Tagging late is safe: a later epoch only frees later.
  std::uint64_t epoch;
};

constexpr std::uint64_t kUntagged = 0;

// Tags every untagged object in `list` with the epoch now. One fence for all of them: the unlinks
// that made them unreachable are visible before the epoch is read, so a reader that found one
// pinned an epoch no later than this (docs/architecture.md, "Reclamation").
void tag(std::vector<Retired>& list) {
  full_fence();
  const std::uint64_t now = epoch::global_epoch.load(kRelaxed);
  for (auto it = list.rbegin(); it != list.rend() && it->epoch == kUntagged; ++it) it->epoch = now;
}

// Everything here lives for the whole process: never destroyed, so a thread exiting after
// main() returns, or a Cache destroyed during static destruction, can still retire and free.
struct Shared {
  std::atomic<ThreadRecord*> registry{nullptr};
  std::mutex advance_mu;
  // Tagged objects a scan could not free yet (a section held the epoch back) and the lists of
  // threads that exited: any thread's scan frees them, so none waits for its own thread.
  std::mutex deferred_mu;
  std::vector<Retired> deferred;                  // guarded by deferred_mu
  std::atomic<std::size_t> deferred_bytes{0};     // written under deferred_mu
  std::atomic<std::uint64_t> deferred_newest{0};  // the newest tag in `deferred`
  // Retired minus freed, per thread stripe: a retire on one thread and its free on another add
  // up modulo 2^64, so the sum is exact.
  StripedCounters<1> retired;
  bool membarrier_works = false;
};

Shared& shared() {
  static auto* s = new Shared();
  return *s;
}

void init_process_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    Shared& s = shared();
    s.membarrier_works =
        syscall(__NR_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0;
    // Written before any thread has a record, read only by threads that registered after this.
    epoch::readers_fence = !s.membarrier_works;
  });
}

struct ThreadState {
  ThreadRecord* record = nullptr;
  // In epoch order: each tagged entry's epoch is >= the one before; the untagged ones last.
  std::vector<Retired> retired;
  std::size_t bytes_since_scan = 0;
  std::size_t count_since_scan = 0;
  // The epoch after this thread's last scan: deferred objects are worth another look only once
  // it has moved.
  std::uint64_t epoch_at_scan = 0;
  ~ThreadState();
};

// Set when this thread's ThreadState is destroyed: a thread_local destructor that runs later
// and uses a Cache must not touch it again.
constinit thread_local bool this_thread_exited = false;
thread_local ThreadState this_thread_state;

void scan(std::vector<Retired>& list);

ThreadState::~ThreadState() {
  this_thread_exited = true;
  // What cannot be freed now goes to the shared list, where any thread's scan frees it.
  scan(retired);
  if (record != nullptr) {
    epoch::this_thread_record = nullptr;
    record->pinned.store(0, kRelease);
    record->in_use.store(false, kRelease);
  }
}

// Every running thread of the process executes a full barrier before this returns, so a
// reader's pin stored before it loaded a pointer is visible to the scan that follows.
bool heavy_barrier() {
  // A thread may retire and scan without ever having read: the choice must be made first.
  init_process_once();
  if (!shared().membarrier_works) {
    full_fence();
    return true;
  }
  return syscall(__NR_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) == 0;
}

// Moves the global epoch one on if every open section began in the current epoch.
bool try_advance() {
  Shared& s = shared();
  std::unique_lock lock(s.advance_mu, std::try_to_lock);
  if (!lock.owns_lock()) return false;
  if (!heavy_barrier()) return false;
  const std::uint64_t g = epoch::global_epoch.load(kRelaxed);
  for (ThreadRecord* r = s.registry.load(kAcquire); r != nullptr; r = r->next) {
    // Acquire: what a reader did in a section it has closed happens before what we free.
    const std::uint64_t pinned = r->pinned.load(kAcquire);
    if (pinned != 0 && pinned != g) return false;
  }
  epoch::global_epoch.store(g + 1, kRelease);
  return true;
}

// Out of memory for a list to keep `r` in: waits here until no section can hold it, then frees
// it. The wait is bounded (kGraceWaitLimit): the caller may hold a shard lock that a reader's
// TypedCache visitor, inside its section, is waiting for; past the bound, or in a section of
// its own thread, `r` is left unfreed (a leak, only when memory ran out).
void free_after_grace(const Retired& r) noexcept;
constexpr auto kGraceWaitLimit = std::chrono::milliseconds(10);

bool ready(const Retired& r, std::uint64_t g) noexcept {
  return r.epoch != kUntagged && r.epoch + 2 <= g;
}

void dispose(const Retired& r) noexcept {
  r.dispose(r.object);
  shared().retired.add(0, std::uint64_t{0} - r.bytes);
}

// Frees every object in `list` that no section can hold any more; keeps the rest in order.
// A thread's own list is in epoch order; the shared list need not be.
void free_ready(std::vector<Retired>& list) {
  // Acquire: pairs with try_advance()'s release, which follows its reads of the records.
  const std::uint64_t g = epoch::global_epoch.load(kAcquire);
  auto kept = list.begin();
  for (const Retired& r : list) {
    if (ready(r, g)) {
      dispose(r);
    } else {
      *kept++ = r;
    }
  }
  list.erase(kept, list.end());
}

void free_after_grace(const Retired& r) noexcept {
  const ThreadRecord* me = epoch::this_thread_record;
  if (me != nullptr && me->depth != 0) return;
  full_fence();  // as tag(): the unlink is visible before the epoch is read
  const std::uint64_t tagged = epoch::global_epoch.load(kRelaxed);
  const auto give_up_at = std::chrono::steady_clock::now() + kGraceWaitLimit;
  while (epoch::global_epoch.load(kAcquire) < tagged + 2) {
    if (try_advance()) continue;
    if (std::chrono::steady_clock::now() > give_up_at) return;
    std::this_thread::yield();
  }
  dispose(r);
}

std::size_t bytes_of(const std::vector<Retired>& list) noexcept {
  std::size_t bytes = 0;
  for (const Retired& r : list) bytes += r.bytes;
  return bytes;
}

// Tags `list`, advances the epoch as far as the newest object here or in the shared list needs
// (two past its tag) unless a section holds it back, frees what is ready in both, and moves
// what is left of `list` to the shared list.
void scan(std::vector<Retired>& list) {
  Shared& s = shared();
  std::uint64_t newest = s.deferred_newest.load(kRelaxed);
  if (!list.empty()) {
    tag(list);
    newest = std::max(newest, list.back().epoch);
  }
  if (newest != kUntagged) {
    while (epoch::global_epoch.load(kRelaxed) < newest + 2 && try_advance()) {
    }
  }
  free_ready(list);
  const bool has_deferred = s.deferred_bytes.load(kRelaxed) != 0;
  if (list.empty() && !has_deferred) return;
  // A thread that is exiting, or that will not retire again for a long time, must not keep
  // what it left; the lock is taken once per scan, not per retire.
  std::unique_lock lock(s.deferred_mu, std::defer_lock);
  if (list.empty()) {
    if (!lock.try_lock()) return;
  } else {
    lock.lock();
    try {
      s.deferred.insert(s.deferred.end(), list.begin(), list.end());
    } catch (const std::bad_alloc&) {
      // Out of memory: `list` keeps them for this thread's next scan (at its exit, they leak).
      return;
    }
    s.deferred_newest.store(std::max(s.deferred_newest.load(kRelaxed), list.back().epoch),
                            kRelaxed);
    list.clear();
  }
  free_ready(s.deferred);
  s.deferred_bytes.store(bytes_of(s.deferred), kRelaxed);
}

}  // namespace

namespace epoch {

ThreadRecord* register_this_thread() {
  init_process_once();
  Shared& s = shared();
  ThreadRecord* record = nullptr;
  for (ThreadRecord* r = s.registry.load(kAcquire); r != nullptr; r = r->next) {
    bool free = false;
    if (!r->in_use.load(kRelaxed) && r->in_use.compare_exchange_strong(free, true, kAcquire)) {
      record = r;
      break;
    }
  }
  if (record == nullptr) {
    record = new ThreadRecord();
    record->in_use.store(true, kRelaxed);
    ThreadRecord* head = s.registry.load(kRelaxed);
    do {
      record->next = head;
    } while (!s.registry.compare_exchange_weak(head, record, kRelease, kRelaxed));
  }
  record->depth = 0;
  this_thread_record = record;
  // Touching the state registers its destructor, which gives the record back at thread exit.
  // A thread past that point keeps its record: one record leaked per such thread.
  if (!this_thread_exited) this_thread_state.record = record;
  return record;
}

}  // namespace epoch

void retire(void* object, std::size_t bytes, Disposer dispose) noexcept {
  // Tagged with an epoch at the next scan, not here: one fence per scan, not per retire.
  const Retired r{object, dispose, bytes, kUntagged};
  shared().retired.add(0, bytes);
  if (this_thread_exited) {
    try {
      std::vector<Retired> one{r};
      scan(one);
    } catch (const std::bad_alloc&) {
      free_after_grace(r);
    }
    return;
  }
  ThreadState& st = this_thread_state;
  try {
    st.retired.push_back(r);
  } catch (const std::bad_alloc&) {
    free_after_grace(r);
    return;
  }
  st.bytes_since_scan += bytes;
  ++st.count_since_scan;
}

void reclaim_if_over_budget() {
  if (this_thread_exited) return;
  ThreadState& st = this_thread_state;
  if (st.bytes_since_scan < kRetiredBudgetBytes && st.count_since_scan < kRetiredBudgetCount)
      [[likely]] {
    // Others' leftovers past a budget's worth are freed by whoever writes next, once the epoch
    // has moved (before that, trying again would only repeat a membarrier for nothing).
    if (shared().deferred_bytes.load(kRelaxed) < kRetiredBudgetBytes ||
        epoch::global_epoch.load(kRelaxed) == st.epoch_at_scan) [[likely]]
      return;
  }
  reclaim_retired_now();
}

void reclaim_retired_now() {
  if (this_thread_exited) {
    std::vector<Retired> none;
    scan(none);
    return;
  }
  ThreadState& st = this_thread_state;
  st.bytes_since_scan = 0;
  st.count_since_scan = 0;
  scan(st.retired);
  st.epoch_at_scan = epoch::global_epoch.load(kRelaxed);
}

std::size_t retired_bytes() noexcept {
  // The stripes are read one by one: a free counted on one thread after the sum passed it, but
  // retired on another before, can make the sum briefly "negative". Report that as nothing.
  const std::uint64_t sum = shared().retired.sum(0);
  return sum > (std::uint64_t{1} << 63) ? 0 : static_cast<std::size_t>(sum);
}

}  // namespace tiercache::engine
