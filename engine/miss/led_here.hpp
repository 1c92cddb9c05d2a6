// engine/miss/led_here.hpp — the promise slots this thread leads and has not settled yet.
//
// A loader runs on its leader's thread. Should it call back into the cache for a key that thread
// leads (its own key, a key of its batch, or one an outer loader on the thread is producing), the
// call would find the loading entry and wait on a slot only this thread can settle: for good,
// if it has no deadline. MissPath looks here before it waits, and refuses such a call instead.
#pragma once

namespace tiercache::engine {

class PromiseSlot;

namespace led_here {

// This thread leads `slot` until remove(); adding it again changes nothing. May allocate.
void add(const PromiseSlot* slot);
// This thread no longer leads `slot` (settled or given up); one it never added is ignored.
void remove(const PromiseSlot* slot) noexcept;
bool includes(const PromiseSlot* slot) noexcept;

}  // namespace led_here
}  // namespace tiercache::engine
