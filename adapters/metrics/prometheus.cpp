// adapters/metrics/prometheus.cpp — Metrics as Prometheus text exposition, format 0.0.4 [1]: one
// visitor writes what visit() walks, so the names and their order are visit()'s.
//
// Each family gets # HELP and # TYPE, then its samples, the constant labels first and the
// metric's own after. A histogram's buckets are cumulative counts at powers of two of its raw
// values, where Histogram::count_at_most is exact (a power of two is always a bucket's upper
// bound), so `le` never claims a value it cannot vouch for; then le="+Inf" (every value),
// _sum in the family's unit and _count.
//
// [1] https://github.com/prometheus/docs/blob/main/content/docs/instrumenting/exposition_formats.md
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/metrics/prometheus_options.hpp"
#include "tiercache/prometheus.hpp"

namespace tiercache {
namespace metrics {
namespace {

// Bucket bounds of a histogram, as exponents of two of its raw values.
struct BucketExponents {
  unsigned first;
  unsigned last;
};
// Durations in ns: 32 ns (about what the two clock reads of a timed call take, so little is
// faster) to 2^35 ns (34 s; a slower one still counts in +Inf and _sum).
constexpr BucketExponents kDurationBuckets{5, 35};
// Counts (a family of unit 1, write_batch_size): 1 to 16384.
constexpr BucketExponents kCountBuckets{0, 14};
// The most bytes a number takes as text here (a uint64 is 20 digits, a double 24 characters).
constexpr std::size_t kNumberChars = 32;
// Labels a metric puts on its samples itself, which a constant label must not shadow.
constexpr std::string_view kOwnLabels[] = {"tier", "op", "code", "le"};

bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}
bool is_name_char(char c) {
  return is_name_start(c) || (c >= '0' && c <= '9');
}

bool is_valid_prefix(std::string_view prefix) {
  for (std::size_t i = 0; i < prefix.size(); ++i) {
    const char c = prefix[i];
    if (!(i == 0 ? is_name_start(c) : is_name_char(c)) && c != ':') return false;
  }
  return true;
}

bool is_valid_label_name(std::string_view name) {
  if (name.empty() || !is_name_start(name[0])) return false;
  for (const char c : name)
    if (!is_name_char(c)) return false;
  return true;
}

// Well-formed UTF-8 (no overlong forms, surrogates or code points past U+10FFFF), as Go's
// utf8.ValidString, which Prometheus applies to label values.
bool is_valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    const auto b = static_cast<unsigned char>(s[i]);
    std::size_t extra = 0;
    std::uint32_t cp = 0;
    if (b < 0x80) {
      ++i;
      continue;
    } else if (b >= 0xC2 && b <= 0xDF) {
      extra = 1, cp = b & 0x1F;
    } else if (b >= 0xE0 && b <= 0xEF) {
      extra = 2, cp = b & 0x0F;
    } else if (b >= 0xF0 && b <= 0xF4) {
      extra = 3, cp = b & 0x07;
    } else {
      return false;
    }
    if (s.size() - i <= extra) return false;
    for (std::size_t k = 1; k <= extra; ++k) {
      const auto c = static_cast<unsigned char>(s[i + k]);
      if ((c & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (c & 0x3F);
    }
    // The shortest form only, and no UTF-16 surrogate halves.
    if ((extra == 2 && cp < 0x800) || (extra == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      return false;
    i += extra + 1;
  }
  return true;
}

// `s` with \ and newline escaped, and " too for a label value (`quote`).
void append_escaped(std::string& out, std::string_view s, bool quote) {
  for (const char c : s) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '"' && quote) {
      out += "\\\"";
    } else {
      out += c;
    }
  }
}

std::string escaped(std::string_view s) {
  std::string out;
  append_escaped(out, s, true);
  return out;
}

void append_uint(std::string& out, std::uint64_t v) {
  char buf[kNumberChars];
  const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

// The shortest text that reads back as `v` (Go's strconv.ParseFloat reads it), and Prometheus's
// spelling of the values that are not numbers.
void append_double(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
  } else if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
  } else {
    char buf[kNumberChars];
    const auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
    out.append(buf, end);
  }
}

class TextWriter final : public MetricsVisitor {
 public:
  TextWriter(std::string& out, const PrometheusOptions& options)
      : out_(out), prefix_(options.prefix) {
    for (const auto& [name, value] : options.const_labels) {
      if (!const_labels_.empty()) const_labels_ += ',';
      const_labels_ += name;
      const_labels_ += "=\"";
      append_escaped(const_labels_, value, true);
      const_labels_ += '"';
    }
  }

  void begin_family(const MetricFamily& family) override {
    out_ += "# HELP ";
    out_ += prefix_;
    out_ += family.name;
    out_ += ' ';
    append_escaped(out_, family.help, false);
    out_ += "\n# TYPE ";
    out_ += prefix_;
    out_ += family.name;
    out_ += family.type == MetricType::counter ? " counter\n"
            : family.type == MetricType::gauge ? " gauge\n"
                                               : " histogram\n";
    if (family.type == MetricType::histogram) set_bounds(family);
  }

  void counter(const MetricFamily& family, std::span<const MetricLabel> labels,
               std::uint64_t value) override {
    begin_sample(family.name, "", labels, {});
    append_uint(out_, value);
    out_ += '\n';
  }

  void gauge(const MetricFamily& family, std::span<const MetricLabel> labels,
             double value) override {
    begin_sample(family.name, "", labels, {});
    append_double(out_, value);
    out_ += '\n';
  }

  void histogram(const MetricFamily& family, std::span<const MetricLabel> labels,
                 const Histogram& h) override {
    for (std::size_t i = 0; i < bounds_.size(); ++i) {
      begin_sample(family.name, "_bucket", labels, le_[i]);
      append_uint(out_, h.count_at_most(bounds_[i]));
      out_ += '\n';
    }
    begin_sample(family.name, "_bucket", labels, "+Inf");
    append_uint(out_, h.count());
    out_ += '\n';
    begin_sample(family.name, "_sum", labels, {});
    // A count's sum is exact as an integer. A duration's is divided by the exact 1e9 rather than
    // multiplied by the inexact 1e-9, which rounds once: 96 ns is 9.6e-08,
    // not 9.600000000000001e-08.
    if (family.unit == 1) {
      append_uint(out_, h.sum());
    } else if (family.unit < 1) {
      append_double(out_, static_cast<double>(h.sum()) / std::round(1 / family.unit));
    } else {
      append_double(out_, static_cast<double>(h.sum()) * family.unit);
    }
    out_ += '\n';
    begin_sample(family.name, "_count", labels, {});
    append_uint(out_, h.count());
    out_ += '\n';
  }

 private:
  // The bucket bounds of `family` (a family in another unit than 1 counts nanoseconds) and their
  // `le` text in its unit: %.12g writes 2^k ns, at most 11 significant digits, exactly.
  void set_bounds(const MetricFamily& family) {
    const BucketExponents e = family.unit == 1 ? kCountBuckets : kDurationBuckets;
    bounds_.clear();
    le_.clear();
    for (unsigned k = e.first; k <= e.last; ++k) {
      const std::uint64_t bound = std::uint64_t{1} << k;
      char buf[kNumberChars];
      std::snprintf(buf, sizeof buf, "%.12g", static_cast<double>(bound) * family.unit);
      bounds_.push_back(bound);
      le_.emplace_back(buf);
    }
  }

  // Writes `prefix name suffix{const labels, own labels, le="..."} ` (no braces without labels).
  void begin_sample(std::string_view name, std::string_view suffix,
                    std::span<const MetricLabel> labels, std::string_view le) {
    out_ += prefix_;
    out_ += name;
    out_ += suffix;
    if (const_labels_.empty() && labels.empty() && le.empty()) {
      out_ += ' ';
      return;
    }
    out_ += '{';
    out_ += const_labels_;
    bool first = const_labels_.empty();
    for (const MetricLabel& label : labels) {
      if (!first) out_ += ',';
      first = false;
      out_ += label.name;
      out_ += "=\"";
      append_escaped(out_, label.value, true);
      out_ += '"';
    }
    if (!le.empty()) {
      if (!first) out_ += ',';
      out_ += "le=\"";
      out_ += le;
      out_ += '"';
    }
    out_ += "} ";
  }

  std::string& out_;
  const std::string& prefix_;
  std::string const_labels_;           // rendered once: name="value",...
  std::vector<std::uint64_t> bounds_;  // the current histogram family's bucket bounds, raw
  std::vector<std::string> le_;        // ... and their le text
};

}  // namespace

Result<void> check_prometheus_options(const PrometheusOptions& options) {
  if (!is_valid_prefix(options.prefix))
    return fail(errc::invalid_argument, "PrometheusOptions.prefix \"", escaped(options.prefix),
                "\" is not a metric name prefix ([a-zA-Z_:][a-zA-Z0-9_:]*, or empty)");
  const auto& labels = options.const_labels;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const std::string& name = labels[i].first;
    if (!is_valid_label_name(name))
      return fail(errc::invalid_argument, "PrometheusOptions.const_labels: \"", escaped(name),
                  "\" is not a label name ([a-zA-Z_][a-zA-Z0-9_]*)");
    if (name.starts_with("__"))
      return fail(errc::invalid_argument, "PrometheusOptions.const_labels: \"", name,
                  "\" starts with __, which Prometheus reserves");
    for (const std::string_view own : kOwnLabels)
      if (name == own)
        return fail(errc::invalid_argument, "PrometheusOptions.const_labels: \"", name,
                    "\" is a label the metrics use themselves (tier, op, code, le)");
    for (std::size_t j = 0; j < i; ++j)
      if (labels[j].first == name)
        return fail(errc::invalid_argument, "PrometheusOptions.const_labels: \"", name,
                    "\" is given twice");
    if (!is_valid_utf8(labels[i].second))
      return fail(errc::invalid_argument, "PrometheusOptions.const_labels: the value of \"", name,
                  "\" is not valid UTF-8");
  }
  return {};
}

}  // namespace metrics

Result<std::string> to_prometheus(const Metrics& m, const PrometheusOptions& options) {
  if (auto checked = metrics::check_prometheus_options(options); !checked)
    return std::unexpected(std::move(checked.error()));
  // The exposition is ~850 lines, ~65 KB with the default prefix and no constant labels.
  constexpr std::size_t kExpectedBytes = 96 << 10;
  std::string out;
  out.reserve(kExpectedBytes);
  metrics::TextWriter writer(out, options);
  visit(m, writer);
  return out;
}

}  // namespace tiercache
