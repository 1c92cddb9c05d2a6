// engine/base/striped_histograms.hpp — N histograms that any thread records into without
// writing a line another thread writes.
//
// As StripedCounters: each thread owns a stripe while it lives (threads beyond kOwnedStripes
// share one, through fetch_add). A stripe's cells for one histogram (Histogram::kBuckets counts
// and a sum, ~4 KiB) are allocated by its first record, so a thread pays only for what it
// records, and live until the StripedHistograms does. snapshot() merges every stripe's cells.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <new>

#include "engine/base/memory_order.hpp"
#include "engine/base/striped_counter.hpp"
#include "tiercache/histogram.hpp"

namespace tiercache::engine {

// Aligned: a thread's cells share no line with another's, or with anything else.
class alignas(64) HistogramCells {
 public:
  // `shared`: more than one thread records here.
  void record(std::uint64_t value, bool shared) noexcept {
    std::atomic<std::uint64_t>& c = counts_[Histogram::bucket_of(value)];
    if (shared) {
      c.fetch_add(1, kRelaxed);
      sum_.fetch_add(value, kRelaxed);
    } else {
      // Single writer: a plain add is exact and spares the locked instruction.
      c.store(c.load(kRelaxed) + 1, kRelaxed);
      sum_.store(sum_.load(kRelaxed) + value, kRelaxed);
    }
  }
  void add_to(Histogram& out) const;

 private:
  std::array<std::atomic<std::uint64_t>, Histogram::kBuckets> counts_{};
  std::atomic<std::uint64_t> sum_{0};
};

template <std::size_t N>
class StripedHistograms {
 public:
  StripedHistograms() = default;
  StripedHistograms(const StripedHistograms&) = delete;
  StripedHistograms& operator=(const StripedHistograms&) = delete;
  ~StripedHistograms() {
    for (auto& stripe : cells_)
      for (auto& c : stripe) delete c.load(kRelaxed);
  }

  // Without memory for a thread's first cells, the value is not recorded.
  void record(std::size_t which, std::uint64_t value) noexcept {
    const std::size_t s = this_thread_stripe();
    HistogramCells* cells = cells_[s][which].load(kAcquire);
    if (cells == nullptr) [[unlikely]] {
      cells = install(cells_[s][which]);
      if (cells == nullptr) return;
    }
    cells->record(value, s == kOwnedStripes);
  }

  Histogram snapshot(std::size_t which) const {
    Histogram out;
    for (const auto& stripe : cells_)
      if (const HistogramCells* c = stripe[which].load(kAcquire)) c->add_to(out);
    return out;
  }

 private:
  // The cells of one (stripe, histogram), made by the first record there. Only the shared
  // stripe can race on it; the loser's allocation is freed.
  static HistogramCells* install(std::atomic<HistogramCells*>& slot) noexcept {
    std::unique_ptr<HistogramCells> made(new (std::nothrow) HistogramCells());
    if (!made) return nullptr;
    HistogramCells* expected = nullptr;
    if (slot.compare_exchange_strong(expected, made.get(), kAcqRel, kAcquire))
      return made.release();
    return expected;
  }

  std::array<std::array<std::atomic<HistogramCells*>, N>, kOwnedStripes + 1> cells_{};
};

}  // namespace tiercache::engine
