// examples/catalog/coherence_check.hpp — run_coherence_check: shows that two service instances on
// one Redis agree. Each probe reads a hot product through the reader instance (so its L1 holds
// the old value), PUTs new fields through the writer instance, and from the moment the PUT's
// answer arrives reads the product through the reader again, back to back, until it answers the
// new version. The time from the PUT's answer to that read's answer is the figure: how long a
// client could still see the old value elsewhere after its write was acknowledged.
//
// Probes use ids 1..probe_ids only (the hottest, under the demo's Zipf load), which the load
// generator never PUTs (LoadOptions.reserved_ids), so that each version a probe waits for is its
// own.
#pragma once

#include <chrono>
#include <cstdint>
#include <stop_token>
#include <string>
#include <vector>

namespace catalog {

struct CoherenceOptions {
  std::uint16_t writer_port = 0;
  std::uint16_t reader_port = 0;
  std::int64_t probe_ids = 16;
  unsigned probes = 40;
  // When the first probe starts (so that the load has warmed both L1s) and the gap between
  // probes' starts.
  std::chrono::milliseconds start_after{3000};
  std::chrono::milliseconds interval{400};
  // A probe whose new value the reader has not answered by then counts as not seen.
  std::chrono::milliseconds give_up{2000};
  std::chrono::milliseconds request_timeout{5000};
};

struct CoherenceResult {
  // Per probe that saw its value: from the PUT's answer to the reader's first answer with it.
  std::vector<std::chrono::nanoseconds> seen_after;
  // Reads through the reader, after a PUT's answer, that still answered the older version.
  std::uint64_t stale_reads = 0;
  unsigned not_seen = 0;
  // Answers that were not what a probe expected (an error status, a bad body), first few.
  std::vector<std::string> failures;
  unsigned failure_count = 0;

  unsigned probes_run() const { return static_cast<unsigned>(seen_after.size()) + not_seen; }
  // The p-quantile of seen_after (0 when empty).
  std::chrono::nanoseconds quantile(double p) const;
};

// Runs options.probes probes, or fewer if `stop` is requested first (it ends the waits too).
CoherenceResult run_coherence_check(const CoherenceOptions& options, std::stop_token stop);

}  // namespace catalog
