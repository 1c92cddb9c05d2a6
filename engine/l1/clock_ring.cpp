#include "engine/l1/clock_ring.hpp"

#include <algorithm>
#include <new>
#include <random>

namespace tiercache::engine {
namespace {

// Keys the sketch is sized for when nobody reserved the ring.
constexpr std::size_t kMinSketchEntries = 64;
// A CLOCK is compacted only once it has this many holes, so small rings never bother.
constexpr std::size_t kMinHolesToCompact = kMaxHandSweep;

std::uint64_t random_seed() {
  std::random_device device;
  return (std::uint64_t{device()} << 32) ^ device();
}

}  // namespace

ClockRing::ClockRing() : ClockRing(random_seed()) {}

ClockRing::ClockRing(std::uint64_t seed) noexcept
    : sketch_(seed), coin_((seed * 0x9e3779b97f4a7c15ull) | 1) {
  window_.tag = kWindowBit;
}

void ClockRing::reserve(std::size_t entries) {
  main_.slots.reserve(entries);
  sketch_.ensure_capacity(entries);
  sizer_.ensure_capacity(entries);
}

ClockRing::Clock& ClockRing::clock_of(const Entry* e) noexcept {
  return (e->ring_pos & kWindowBit) != 0 ? window_ : main_;
}

void ClockRing::compact(Clock& c) noexcept {
  std::size_t to = 0;
  std::size_t hand = 0;
  for (std::size_t from = 0; from < c.slots.size(); ++from) {
    if (from == c.hand) hand = to;
    Entry* e = c.slots[from];
    if (e == nullptr) continue;
    e->ring_pos = static_cast<std::uint32_t>(to) | c.tag;
    c.slots[to++] = e;
  }
  c.slots.resize(to);
  c.holes.clear();
  c.hand = hand;
  // A window that shrank from a large share gives its memory back.
  if (c.slots.capacity() > 2 * c.slots.size()) c.slots.shrink_to_fit();
}

void ClockRing::put(Clock& c, Entry* e) {
  if (!c.holes.empty()) {
    const std::uint32_t pos = c.holes.back();
    c.holes.pop_back();
    e->ring_pos = pos | c.tag;
    c.slots[pos] = e;
  } else {
    e->ring_pos = static_cast<std::uint32_t>(c.slots.size()) | c.tag;
    c.slots.push_back(e);
  }
  ++c.live;
}

void ClockRing::take_out(Clock& c, Entry* e) noexcept {
  const std::uint32_t pos = e->ring_pos & ~kWindowBit;
  c.slots[pos] = nullptr;
  --c.live;
  try {
    c.holes.push_back(pos);
  } catch (const std::bad_alloc&) {
    // Out of memory for the list of holes: closing every hole now needs none (and allocates
    // nothing). Reserving room for a hole per slot instead cost 4 bytes an entry in RSS.
    compact(c);
  }
}

void ClockRing::reserve_slot(Clock& c) {
  // Doubling, as push_back would: a slot reserved per add would copy the CLOCK every time.
  if (c.holes.empty() && c.slots.size() == c.slots.capacity())
    c.slots.reserve(std::max<std::size_t>(2 * c.slots.size(), 16));
}

void ClockRing::prepare_add() {
  const std::size_t live = window_.live + main_.live;
  // The sketch and the ghosts are sized together for the entries the shard expects (reserve). A
  // shard that holds more (values smaller than expected) has them resized for what it holds once
  // that is twice as many: a resize forgets every count, and until then a counter is shared by at
  // most twice as many keys. A full shard's add (one entry more until the caller evicts) never
  // resizes.
  if (sketch_.capacity_entries() == 0 || live > 2 * sketch_.capacity_entries()) {
    sketch_.ensure_capacity(std::max(live, kMinSketchEntries));
    sizer_.ensure_capacity(std::max(live, kMinSketchEntries));
  }
  // Compacting keeps the order and shrinks the storage: before the reserve, so that it holds.
  for (Clock* c : {&window_, &main_})
    if (c->holes.size() >= kMinHolesToCompact && 2 * c->holes.size() > c->slots.size()) compact(*c);
  reserve_slot(window_);
}

void ClockRing::add(Entry* e) {
  prepare_add();  // a few compares where the caller made room already
  const std::size_t live = window_.live + main_.live;
  sizer_.record_miss(e->hash, live);
  sketch_.increment(e->hash);
  put(window_, e);
}

void ClockRing::replace(Entry* old, Entry* fresh) noexcept {
  fresh->ring_pos = old->ring_pos;
  // The count carries over; the load time is the new value's.
  fresh->hits.store(
      (fresh->hits.load(kRelaxed) & ~kHitCountMask) | (old->hits.load(kRelaxed) & kHitCountMask),
      kRelaxed);
  clock_of(fresh).slots[fresh->ring_pos & ~kWindowBit] = fresh;
  sketch_.increment(fresh->hash);
}

void ClockRing::rewritten(const Entry* e) noexcept {
  sketch_.increment(e->hash);
}

void ClockRing::remove(Entry* e) noexcept {
  // A victim whose slot an admitted candidate took is out of the ring already.
  if (e->ring_pos == kNotInRing) return;
  take_out(clock_of(e), e);
}

ClockRing::Victim ClockRing::sweep(Clock& c, std::uint64_t now_ms, const Entry* keep) noexcept {
  const bool keep_here = keep != nullptr && keep->ring_pos != kNotInRing && &clock_of(keep) == &c;
  if (c.live <= (keep_here ? 1u : 0u)) return {nullptr, false};
  // Terminates: some slot holds an entry other than `keep`.
  for (std::size_t step = 0;; ++step) {
    if (c.hand >= c.slots.size()) c.hand = 0;
    Entry* e = c.slots[c.hand++];
    if (e == nullptr || e == keep) continue;
    if (expired_out(*e, now_ms)) return {e, true};
    // Relaxed: a reader racing this store may lose its increment; the entry then gets one pass
    // fewer, which costs hit ratio, never safety.
    const std::uint8_t r = e->hits.load(kRelaxed);
    if ((r & kHitCountMask) == 0 || step >= kMaxHandSweep) return {e, false};
    e->hits.store(r - 1, kRelaxed);
    // The count taken back is a hit the entry had: the sketch hears of it now.
    sketch_.increment(e->hash);
  }
}

Entry* ClockRing::expired_past_hand(std::uint64_t now_ms, const Entry* keep) noexcept {
  for (std::size_t step = 0; step < kScoutSteps && !main_.slots.empty(); ++step) {
    if (scout_ >= main_.slots.size()) scout_ = 0;
    Entry* e = main_.slots[scout_++];
    if (e != nullptr && e != keep && expired_out(*e, now_ms)) return e;
  }
  return nullptr;
}

bool ClockRing::admit(const Entry* candidate, const Entry* victim) noexcept {
  const unsigned candidate_count = sketch_.estimate(candidate->hash);
  const unsigned victim_count = sketch_.estimate(victim->hash);
  if (candidate_count > victim_count + (victim_count >= kEstablishedCount ? 1 : 0)) return true;
  if (candidate_count < kAdmitWarmCount) return false;
  coin_ ^= coin_ << 13;
  coin_ ^= coin_ >> 7;
  coin_ ^= coin_ << 17;
  return (coin_ & (kAdmitChanceInverse - 1)) == 0;
}

ClockRing::Victim ClockRing::next_victim(std::uint64_t now_ms, const Entry* keep) noexcept {
  const std::size_t live = window_.live + main_.live;
  const bool keep_in_ring = keep != nullptr && keep->ring_pos != kNotInRing;
  if (live <= (keep_in_ring ? 1u : 0u)) return {nullptr, false};
  // At least one entry besides `keep`, which is in the window and can be no candidate: with a
  // target of 0 every eviction would skip the contest and take the main victim.
  const std::size_t window_target =
      std::max<std::size_t>(1, static_cast<std::size_t>(sizer_.window_share() * live));
  // While the main CLOCK is below its share (the shard is filling, or the window just shrank),
  // the window's candidates move there without a contest: nothing has to leave for them.
  // At least one entry must go, so the shard holds `live - 1` once this returns.
  for (std::size_t moved = 0; moved < kMaxHandSweep && window_.live > window_target &&
                              main_.live + window_target + 1 < live;
       ++moved) {
    const Victim candidate = sweep(window_, now_ms, keep);
    if (candidate.entry == nullptr) break;
    if (candidate.expired) return candidate;
    // Out of memory for the main CLOCK's slot: the window's candidates then meet the main
    // victim below, which allocates nothing; an eviction must not fail.
    try {
      reserve_slot(main_);
    } catch (const std::bad_alloc&) {
      break;
    }
    take_out(window_, candidate.entry);
    put(main_, candidate.entry);
  }
  if (window_.live > window_target) {
    const Victim candidate = sweep(window_, now_ms, keep);
    if (candidate.entry != nullptr) {
      if (candidate.expired) return candidate;
      const Victim victim = sweep(main_, now_ms, keep);
      if (victim.entry == nullptr || victim.expired) return victim.entry ? victim : candidate;
      if (!admit(candidate.entry, victim.entry)) {
        // The victim stays under the hand and meets the next candidate too, as W-TinyLFU's
        // probation victim does: moving on would hand the next contest to a resident the hand
        // has not reached, and a stream of newcomers that cannot beat this one would evict
        // every weaker resident behind it in turn (docs/performance.md has the replays).
        main_.hand = victim.entry->ring_pos;
        // An expired entry goes instead, and the candidate stays for the next contest.
        if (Entry* dead = expired_past_hand(now_ms, keep)) return {dead, true};
        ++rejected_;
        return evicted(candidate, true);
      }
      ++admitted_;
      // The candidate moves into the victim's slot, just behind the main hand: a whole turn
      // before the hand looks at it again.
      const std::uint32_t pos = victim.entry->ring_pos;
      take_out(window_, candidate.entry);
      candidate.entry->ring_pos = pos;
      main_.slots[pos] = candidate.entry;
      victim.entry->ring_pos = kNotInRing;
      return evicted(victim, false);
    }
  }
  if (const Victim victim = sweep(main_, now_ms, keep); victim.entry != nullptr)
    return evicted(victim, false);
  return evicted(sweep(window_, now_ms, keep), true);
}

bool ClockRing::positions_consistent() const noexcept {
  for (const Clock* c : {&window_, &main_}) {
    std::size_t live = 0;
    for (std::size_t i = 0; i < c->slots.size(); ++i) {
      const Entry* e = c->slots[i];
      if (e == nullptr) continue;
      if (e->ring_pos != (static_cast<std::uint32_t>(i) | c->tag) || !e->is_cached()) return false;
      ++live;
    }
    if (live != c->live || c->live + c->holes.size() != c->slots.size()) return false;
  }
  return true;
}

}  // namespace tiercache::engine
