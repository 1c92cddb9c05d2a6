// engine/l1/reclamation.hpp — libcds setup and the bound on retired entries, hidden from users.
//
// The L1 tables reclaim memory through libcds's dynamic hazard pointers (gc::DHP: no limit on
// the number of threads, unlike gc::HP's fixed 100). libcds wants cds::Initialize() once per
// process, one GC object, and every thread that touches a table attached. attach_this_thread()
// does all three on first use and arranges the detach at thread exit; it costs one thread_local
// load afterwards. Only this file and shard_table include libcds.
//
// An entry a set replaced or a purge removed is retired, not freed: a reader may still copy from
// it. DHP frees a thread's retired entries only when its buffer of 256 fills, so a thread that
// overwrites large values would hold up to 255 of them. Every retirement is therefore counted
// here in bytes, and a thread whose retirements since its last scan pass kRetiredBudgetBytes
// scans at once (reclaim_if_over_budget), so what is retired but not freed stays near
// threads x (kRetiredBudgetBytes + one entry), plus whatever a reader still guards.
#pragma once

#include <cstddef>

namespace tiercache::engine {

// Bytes one thread may retire before it scans its retired entries for ones it can free.
inline constexpr std::size_t kRetiredBudgetBytes = std::size_t{256} << 10;

// Call before any libcds operation on this thread. Cheap after the first call on a thread.
void attach_this_thread();

// An entry of `bytes` was handed to the GC (retire), or the GC freed one (dispose).
void note_retired(std::size_t bytes) noexcept;
void note_freed(std::size_t bytes) noexcept;
// Scans this thread's retired entries if it retired kRetiredBudgetBytes since its last scan.
// Call with no lock held: a scan may free many entries.
void reclaim_if_over_budget();
// Frees what this thread retired and no guard protects, now.
void reclaim_retired_now();
// Bytes retired and not yet freed, over the whole process (one GC serves every Cache).
std::size_t retired_bytes() noexcept;

}  // namespace tiercache::engine
