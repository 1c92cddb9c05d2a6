#include "engine/l1/reclamation.hpp"

#include <cds/gc/dhp.h>
#include <cds/init.h>
#include <cds/threading/model.h>

#include <cstdint>
#include <mutex>

#include "engine/base/striped_counter.hpp"

namespace tiercache::engine {
namespace {

// The GC lives for the whole process: never destroyed, so a thread exiting after main() returns
// can still detach, and a Cache destroyed during static destruction can still retire entries.
void init_process_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    cds::Initialize();
    new cds::gc::DHP();
  });
}

struct ThreadAttachment {
  bool attached = false;
  std::size_t retired_since_scan = 0;
  ~ThreadAttachment() {
    if (attached) cds::threading::Manager::detachThread();
  }
};

thread_local ThreadAttachment tls_attachment;

// Retired minus freed, per thread stripe: a retire on one thread and its free on another add
// up modulo 2^64, so the sum is exact. Never destroyed, like the GC whose frees it counts.
StripedCounters<1>& retired_counter() {
  static auto* counter = new StripedCounters<1>();
  return *counter;
}

}  // namespace

void attach_this_thread() {
  if (tls_attachment.attached) [[likely]]
    return;
  init_process_once();
  if (!cds::threading::Manager::isThreadAttached()) cds::threading::Manager::attachThread();
  tls_attachment.attached = true;
}

void note_retired(std::size_t bytes) noexcept {
  retired_counter().add(0, bytes);
  tls_attachment.retired_since_scan += bytes;
}

void note_freed(std::size_t bytes) noexcept {
  retired_counter().add(0, std::uint64_t{0} - bytes);
}

void reclaim_if_over_budget() {
  if (tls_attachment.retired_since_scan < kRetiredBudgetBytes) [[likely]]
    return;
  reclaim_retired_now();
}

void reclaim_retired_now() {
  tls_attachment.retired_since_scan = 0;
  cds::gc::DHP::scan();
}

std::size_t retired_bytes() noexcept {
  // The stripes are read one by one: a free counted on one thread after the sum passed it, but
  // retired on another before, can make the sum briefly "negative". Report that as nothing.
  const std::uint64_t sum = retired_counter().sum(0);
  return sum > (std::uint64_t{1} << 63) ? 0 : static_cast<std::size_t>(sum);
}

}  // namespace tiercache::engine
