#include "engine/l1/reclamation.hpp"

#include <cds/gc/dhp.h>
#include <cds/init.h>
#include <cds/threading/model.h>

#include <mutex>

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
  ~ThreadAttachment() {
    if (attached) cds::threading::Manager::detachThread();
  }
};

thread_local ThreadAttachment tls_attachment;

}  // namespace

void attach_this_thread() {
  if (tls_attachment.attached) [[likely]]
    return;
  init_process_once();
  if (!cds::threading::Manager::isThreadAttached()) cds::threading::Manager::attachThread();
  tls_attachment.attached = true;
}

void reclaim_retired_now() {
  cds::gc::DHP::scan();
}

}  // namespace tiercache::engine
