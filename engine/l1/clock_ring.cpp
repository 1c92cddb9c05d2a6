#include "engine/l1/clock_ring.hpp"

namespace tiercache::engine {

void ClockRing::add(Entry* e) {
  if (!holes_.empty()) {
    e->ring_pos = holes_.back();
    holes_.pop_back();
    slots_[e->ring_pos] = e;
  } else {
    e->ring_pos = static_cast<std::uint32_t>(slots_.size());
    slots_.push_back(e);
  }
  ++live_;
}

void ClockRing::replace(Entry* old, Entry* fresh) noexcept {
  fresh->ring_pos = old->ring_pos;
  fresh->hits.store(old->hits.load(kRelaxed), kRelaxed);
  slots_[fresh->ring_pos] = fresh;
}

void ClockRing::remove(Entry* e) noexcept {
  slots_[e->ring_pos] = nullptr;
  holes_.push_back(e->ring_pos);
  --live_;
}

ClockRing::Victim ClockRing::next_victim(std::uint64_t now_ms, const Entry* keep) noexcept {
  const bool keep_in_ring = keep != nullptr && keep->ring_pos != kNotInRing;
  if (live_ <= (keep_in_ring ? 1u : 0u)) return {nullptr, false};
  // Terminates: some slot holds an entry other than `keep`.
  for (std::size_t step = 0;; ++step) {
    if (hand_ >= slots_.size()) hand_ = 0;
    Entry* e = slots_[hand_++];
    if (e == nullptr || e == keep) continue;
    if (e->is_expired(now_ms)) return {e, true};
    // Relaxed: a reader racing this store may lose its increment; the entry then gets one pass
    // fewer, which costs hit ratio, never safety.
    const std::uint8_t r = e->hits.load(kRelaxed);
    if (r == 0 || step >= kMaxHandSweep) return {e, false};
    e->hits.store(r - 1, kRelaxed);
  }
}

bool ClockRing::positions_consistent() const noexcept {
  std::size_t live = 0;
  for (std::size_t i = 0; i < slots_.size(); ++i) {
    if (slots_[i] == nullptr) continue;
    if (slots_[i]->ring_pos != i || slots_[i]->kind != EntryKind::value) return false;
    ++live;
  }
  return live == live_ && live_ + holes_.size() == slots_.size();
}

}  // namespace tiercache::engine
