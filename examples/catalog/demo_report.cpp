// examples/catalog/demo_report.cpp — formatting the report and judging its checks.
#include "examples/catalog/demo_report.hpp"

#include <cmath>
#include <iomanip>
#include <sstream>

namespace catalog {
namespace {

// Width of the label column, and of each phase's column in the comparison table.
constexpr int kLabelWidth = 22;
constexpr int kColumnWidth = 14;
// Characters of a row's text on one line, so the report reads in a 100-column terminal.
constexpr std::size_t kTextWidth = 76;

std::string fixed(double value, int decimals) {
  if (std::isnan(value)) return "-";
  std::ostringstream out;
  out << std::fixed << std::setprecision(decimals) << value;
  return out.str();
}

std::string ms(std::chrono::nanoseconds d) {
  return fixed(static_cast<double>(d.count()) / 1e6, d < std::chrono::milliseconds(10) ? 2 : 1) +
         " ms";
}

std::string us(double seconds) {
  return std::isnan(seconds) ? "-" : fixed(seconds * 1e6, 0) + " us";
}

std::string percent(double ratio) {
  return std::isnan(ratio) ? "-" : fixed(100 * ratio, 1) + " %";
}

double per_second(std::uint64_t count, double seconds) {
  return seconds > 0 ? static_cast<double>(count) / seconds : 0;
}

const PhaseOutcome* find_phase(const DemoReport& r, const std::string& phase) {
  for (const PhaseOutcome& p : r.phases)
    if (p.phase == phase) return &p;
  return nullptr;
}

class Writer {
 public:
  // A labelled row; text longer than kTextWidth wraps at spaces, under the text's first column.
  void row(const std::string& label, const std::string& text) {
    out_ << "  " << std::left << std::setw(kLabelWidth) << label;
    std::size_t column = 0;
    std::size_t from = 0;
    while (from < text.size()) {
      std::size_t to = text.find(' ', from);
      if (to == std::string::npos) to = text.size();
      const std::size_t word = to - from;
      if (column > 0 && column + 1 + word > kTextWidth) {
        out_ << '\n' << std::string(2 + kLabelWidth, ' ');
        column = 0;
      } else if (column > 0) {
        out_ << ' ';
        ++column;
      }
      out_ << text.substr(from, word);
      column += word;
      from = to + 1;
    }
    out_ << '\n';
  }
  // A comparison row: one column per phase, then a note.
  void columns(const std::string& label, const std::vector<std::string>& cells,
               const std::string& note = "") {
    out_ << "  " << std::left << std::setw(kLabelWidth) << label << std::right;
    for (const std::string& cell : cells) out_ << std::setw(kColumnWidth) << cell;
    if (!note.empty()) out_ << "   " << note;
    out_ << '\n';
  }
  void line(const std::string& text) { out_ << text << '\n'; }
  void check(bool held, const std::string& what) {
    ok_ = ok_ && held;
    out_ << "  " << (held ? "ok      " : "FAILED  ") << what << '\n';
  }
  bool ok() const { return ok_; }
  std::string text() const { return out_.str(); }

 private:
  std::ostringstream out_;
  bool ok_ = true;
};

void compare_phases(Writer& w, const DemoReport& r) {
  std::vector<std::string> header;
  for (const PhaseOutcome& p : r.phases) header.push_back(p.phase);
  w.columns("", header);
  const auto each = [&r](auto f) {
    std::vector<std::string> cells;
    for (const PhaseOutcome& p : r.phases) cells.push_back(f(p.load));
    return cells;
  };
  const PhaseOutcome* cached = find_phase(r, "cached");
  const PhaseOutcome* uncached = find_phase(r, "uncached");
  const bool both = cached != nullptr && uncached != nullptr;

  std::string rps_note;
  if (both && uncached->load.requests_per_second() > 0)
    rps_note = "cached = " +
               fixed(cached->load.requests_per_second() / uncached->load.requests_per_second(), 2) +
               "x uncached";
  w.columns("requests/s",
            each([](const LoadResult& l) { return fixed(l.requests_per_second(), 0); }), rps_note);
  w.columns("requests", each([](const LoadResult& l) { return std::to_string(l.gets + l.puts); }),
            "GETs and PUTs, all checked");
  w.columns("PUTs", each([](const LoadResult& l) { return std::to_string(l.puts); }));
  w.columns("GET p50", each([](const LoadResult& l) { return ms(l.get_latency.percentile(0.5)); }));
  std::string p99_note;
  if (both && uncached->load.get_latency.count() > 0) p99_note = "client side, over HTTP";
  w.columns("GET p99", each([](const LoadResult& l) { return ms(l.get_latency.percentile(0.99)); }),
            p99_note);
  w.columns("PUT p99", each([](const LoadResult& l) {
              return l.put_latency.count() == 0 ? std::string("-")
                                                : ms(l.put_latency.percentile(0.99));
            }));
  std::string origin_note;
  if (both && uncached->load.services.origin_reads > 0)
    origin_note =
        "cached = " +
        fixed(100.0 * per_second(cached->load.services.origin_reads, cached->load.seconds) /
                  per_second(uncached->load.services.origin_reads, uncached->load.seconds),
              1) +
        " % of uncached";
  w.columns("origin reads/s", each([](const LoadResult& l) {
              return fixed(per_second(l.services.origin_reads, l.seconds), 0);
            }),
            origin_note);
  w.columns("L1 hit ratio",
            each([](const LoadResult& l) { return percent(l.services.l1_hit_ratio()); }),
            "GETs the instance answered from its own memory");
  w.columns("L2 hit ratio",
            each([](const LoadResult& l) { return percent(l.services.l2_hit_ratio()); }),
            "L1 misses Redis answered (the rest: one SELECT each)");
  w.columns("origin read mean",
            each([](const LoadResult& l) { return us(l.services.origin_read_mean_seconds()); }),
            "one SELECT: the db latency, then SQLite in process");
  w.columns("Redis read mean",
            each([](const LoadResult& l) { return us(l.services.l2_read_mean_seconds()); }),
            "one L2 round trip, on the same cores");
  w.columns("failed requests",
            each([](const LoadResult& l) { return std::to_string(l.failed()); }));
}

// What the comparison says, in words, from the figures themselves: the share of the database's
// reads the cache took, what a Redis read costs beside an origin read, and so where the cached
// service's time goes.
void report_reading(Writer& w, const DemoReport& r) {
  const PhaseOutcome* cached = find_phase(r, "cached");
  const PhaseOutcome* uncached = find_phase(r, "uncached");
  if (cached == nullptr || uncached == nullptr) return;
  const LoadResult& c = cached->load;
  const LoadResult& u = uncached->load;
  const double c_reads = per_second(c.services.origin_reads, c.seconds);
  const double u_reads = per_second(u.services.origin_reads, u.seconds);
  if (u_reads <= 0) return;
  w.line("reading");
  w.row("", "The cache took " + fixed(100 * (1 - c_reads / u_reads), 1) +
                " % of the reads off the database (" + fixed(c_reads, 0) + " vs " +
                fixed(u_reads, 0) + " SELECTs/s).");
  const double select_s = u.services.origin_read_mean_seconds();
  const double redis_s = c.services.l2_read_mean_seconds();
  if (std::isnan(select_s) || std::isnan(redis_s)) return;
  if (select_s < redis_s) {
    w.row("", "Here an origin read (" + us(select_s) + ") costs less than a Redis read (" +
                  us(redis_s) +
                  ": a loopback round trip on the same busy cores), so every L1 miss pays more "
                  "than the uncached service pays per request; L1 hits are cheaper than either. "
                  "A database on another host costs a network round trip per query "
                  "(--db-latency models one): that is what the hit ratios above save.");
  } else {
    w.row("", "An L1 hit costs no round trip, a Redis read " + us(redis_s) +
                  " (loopback, on the same busy cores), an origin read " + us(select_s) +
                  ": each client waits on the database only for the share of GETs neither "
                  "tier answered, where the uncached service waits on it for every request.");
  }
}

void report_coherence(Writer& w, const DemoReport& r) {
  if (!r.coherence) return;
  const CoherenceResult& c = *r.coherence;
  w.line("coherence");
  w.row("how", r.coherence_setup);
  w.row("probes", std::to_string(c.probes_run()) + " run, " + std::to_string(c.seen_after.size()) +
                      " saw their value through the other instance, " + std::to_string(c.not_seen) +
                      " did not");
  if (!c.seen_after.empty())
    w.row("PUT answer -> seen", "p50 " + ms(c.quantile(0.5)) + ", p99 " + ms(c.quantile(0.99)) +
                                    ", max " + ms(c.quantile(1.0)) + " (bound " +
                                    std::to_string(r.coherence_bound.count()) +
                                    " ms; includes the GET's own round trip)");
  w.row("stale reads",
        std::to_string(c.stale_reads) + " answers with the old version after a PUT's answer");
  for (const std::string& f : c.failures) w.row("unexpected", f);
}

void report_instances(Writer& w, const DemoReport& r) {
  for (const InstanceOutcome& i : r.instances) {
    const tiercache::CacheStats& s = i.stats;
    w.row("instance " + i.name,
          std::to_string(s.entries) + " entries, " +
              fixed(static_cast<double>(s.bytes) / (1 << 20), 1) + " of " +
              fixed(static_cast<double>(s.max_bytes) / (1 << 20), 1) + " MiB; " +
              std::to_string(s.loads) + " loads, " + std::to_string(s.coalesced) + " coalesced, " +
              std::to_string(s.evictions) + " evictions; " + std::to_string(s.invalidated_keys) +
              " keys invalidated by the other's writes; writer " + std::to_string(s.write_batches) +
              " batches, " + std::to_string(s.writes_sent) + " writes, " +
              std::to_string(s.write_errors.total()) + " errors");
  }
}

void report_checks(Writer& w, const DemoReport& r) {
  w.line("checks");
  for (const PhaseOutcome& p : r.phases) {
    w.check(p.load.failed() == 0, p.phase + ": every request answered 200 with the product asked " +
                                      "for (a PUT: with the fields it sent)");
    for (const auto& [kind, f] : p.load.failures)
      w.line("            " + std::to_string(f.count) + " x " + kind +
             "; first: " + f.first_detail.substr(0, 200));
    w.check(p.load.metrics_error.empty(),
            p.phase + ": every /metrics reading answered" +
                (p.load.metrics_error.empty() ? "" : ": " + p.load.metrics_error));
  }
  if (r.coherence) {
    const CoherenceResult& c = *r.coherence;
    const bool within = c.not_seen == 0 && c.failure_count == 0 && !c.seen_after.empty() &&
                        c.quantile(1.0) <= r.coherence_bound;
    w.check(within,
            "coherence: every probe's PUT through one instance was answered by the other "
            "within " +
                std::to_string(r.coherence_bound.count()) + " ms");
    // A phase that ends first cuts the probes short: those not run proved nothing.
    w.check(c.probes_run() >= r.coherence_probes || !r.stopped_by.empty(),
            "coherence: " + std::to_string(c.probes_run()) + " of the " +
                std::to_string(r.coherence_probes) +
                " probes asked for ran (fewer: raise --seconds or lower --probes)");
  }
  w.check(r.plot_error.empty(), "plots drawn");
}

}  // namespace

ReportText format_report(const DemoReport& r) {
  Writer w;
  w.line("tiercache catalog demo: report" +
         (r.stopped_by.empty() ? std::string() : " (cut short by " + r.stopped_by + ")"));
  for (const auto& [label, text] : r.setup) w.row(label, text);
  w.line("phases");
  compare_phases(w, r);
  report_reading(w, r);
  report_coherence(w, r);
  if (!r.instances.empty()) w.line("caches (cached phase)");
  report_instances(w, r);
  report_checks(w, r);
  w.line("plots");
  if (r.plot_error.empty()) {
    for (const std::string& p : r.plots) w.row("", p);
  } else {
    w.row("", "none: " + r.plot_error);
  }
  ReportText out;
  out.ok = w.ok() && r.stopped_by.empty();
  out.text = w.text() + (out.ok                 ? "result: ok\n"
                         : r.stopped_by.empty() ? "result: FAILED\n"
                                                : "result: incomplete (stopped)\n");
  return out;
}

}  // namespace catalog
