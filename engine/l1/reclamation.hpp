// engine/reclamation.hpp — libcds setup, hidden from users.
//
// The L1 tables reclaim memory through libcds's dynamic hazard pointers (gc::DHP: no limit on
// the number of threads, unlike gc::HP's fixed 100). libcds wants cds::Initialize() once per
// process, one GC object, and every thread that touches a table attached. attach_this_thread()
// does all three on first use and arranges the detach at thread exit; it costs one thread_local
// load afterwards. Only this file and shard_table include libcds.
#pragma once

namespace tiercache::engine {

// Call before any libcds operation on this thread. Cheap after the first call on a thread.
void attach_this_thread();

// Frees what this thread retired and no guard protects, now rather than at a later retire.
void reclaim_retired_now();

}  // namespace tiercache::engine
