// examples/catalog/load_generator.hpp — run_load: N client threads driving catalog services over
// real HTTP (one keep-alive connection each), with Zipf-skewed product ids and a share of PUTs,
// for a warm-up and then a measured time; a progress line once a second; then what happened in
// the measured time, second by second and in all.
//
// Every answer is checked: a GET must answer 200 and the product asked for, a PUT 200 and the
// fields it sent. The service side of the figures (L1 and L2 hit ratios, origin reads) is read
// from the services' /metrics, as any monitoring would read it; latencies are the clients'.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "examples/catalog/latency_histogram.hpp"
#include "examples/catalog/service_metrics.hpp"
#include "examples/catalog/stop_signals.hpp"

namespace catalog {

struct LoadOptions {
  // Names the progress lines: "cached", "uncached".
  std::string phase;
  // The services, on 127.0.0.1; client thread i drives ports[i % ports.size()], so the load
  // spreads evenly over them.
  std::vector<std::uint16_t> ports;
  unsigned threads = 4;
  // Load before the measured time: its answers are checked (a failure counts), but its requests,
  // latencies, samples and the services' counters are not in the result.
  std::chrono::seconds warmup{0};
  std::chrono::seconds duration{20};
  // Requests out of every 100 that are PUTs (of new fields) rather than GETs.
  unsigned put_percent = 5;
  // Ids 1..products are asked for, with Zipf skew `zipf_exponent` (product 1 the most).
  std::int64_t products = 100'000;
  double zipf_exponent = 0.99;
  // Ids 1..reserved_ids are read but never PUT: the coherence check's own, whose versions it
  // alone moves. A PUT drawn on one is sent as a GET.
  std::int64_t reserved_ids = 0;
  // Client thread i draws from seed + i, so runs with one seed ask for the same ids.
  std::uint64_t seed = 1;
  std::chrono::milliseconds request_timeout{5000};
};

// One second of a run. A figure that has nothing to count (no lookups: uncached) is NaN.
struct LoadSample {
  double elapsed_seconds = 0;
  double requests_per_second = 0;
  // Of the GETs that ended in this second (a PUT also waits for Redis: its own figure is in
  // LoadResult.put_latency).
  double get_p99_ms = 0;
  double l1_hit_ratio = 0;
  double l2_hit_ratio = 0;
  double origin_reads_per_second = 0;
};

struct LoadFailure {
  std::uint64_t count = 0;
  std::string first_detail;
};

// The measured time's figures; failures include the warm-up's.
struct LoadResult {
  double seconds = 0;
  std::uint64_t gets = 0;
  std::uint64_t puts = 0;
  LatencyHistogram get_latency;
  LatencyHistogram put_latency;
  // Requests that did not get the answer they should, by kind ("GET 503", "PUT no answer",
  // "GET wrong product"), with the first message of each.
  std::map<std::string, LoadFailure> failures;
  // The services' counters, from the first /metrics reading to the last.
  ServiceMetrics services;
  std::vector<LoadSample> samples;
  // The first /metrics reading that failed, if one did (its second's service figures are NaN).
  std::string metrics_error;
  // SIGINT or SIGTERM if one ended the run early, else 0.
  int stopped_by = 0;

  std::uint64_t failed() const;
  double requests_per_second() const;
};

// Runs the load on the calling thread's watch: it starts the clients, samples once a second
// (the progress line goes to stderr, rewritten in place on a terminal), and stops them after
// options.warmup + options.duration or at a stop signal, whichever comes first.
LoadResult run_load(const LoadOptions& options, StopSignals& stop);

}  // namespace catalog
