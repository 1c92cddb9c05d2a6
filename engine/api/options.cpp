#include "engine/api/options_check.hpp"

#include <unistd.h>

#include <algorithm>
#include <bit>
#include <sstream>

#include "engine/l1/shard_table.hpp"
#include "engine/l2/write_queue.hpp"

namespace tiercache {

const char* to_string(InvalidationMode mode) {
  switch (mode) {
    case InvalidationMode::off:
      return "off";
    case InvalidationMode::bcast:
      return "bcast";
    case InvalidationMode::tracked:
      return "tracked";
  }
  return "?";
}

namespace {

// The enumerator's name, or nullptr for a value cast from an integer no enumerator has: what
// open refuses, and what to_string prints as a number.
const char* name_of(WriteMode mode) {
  switch (mode) {
    case WriteMode::async:
      return "async";
    case WriteMode::sync:
      return "sync";
  }
  return nullptr;
}

const char* name_of(QueueFullPolicy policy) {
  switch (policy) {
    case QueueFullPolicy::wait:
      return "wait";
    case QueueFullPolicy::refuse:
      return "refuse";
    case QueueFullPolicy::drop_oldest:
      return "drop_oldest";
  }
  return nullptr;
}

const char* name_of(L2DownPolicy policy) {
  switch (policy) {
    case L2DownPolicy::fail:
      return "fail";
    case L2DownPolicy::load:
      return "load";
  }
  return nullptr;
}

// The enumerator's name, or the number of a value cast to the enum that has none: open refuses
// those, but to_string takes any Options, and printing such a value as a valid one would hide it.
template <class Enum>
std::string text_of(Enum value) {
  const char* name = name_of(value);
  return name != nullptr ? name : std::to_string(static_cast<int>(value));
}

}  // namespace

std::string to_string(const Options& o) {
  std::ostringstream s;
  const RedisOptions& r = o.redis;
  s << "l1.max_bytes=" << o.l1.max_bytes << " l1.max_entries=" << o.l1.max_entries
    << " l1.max_key_bytes=" << o.l1.max_key_bytes << " l1.max_value_bytes=" << o.l1.max_value_bytes
    << " l1.shards=" << o.l1.shards << " l1.expected_entry_bytes=" << o.l1.expected_entry_bytes
    << " default_ttl=" << o.default_ttl.count() << "ms negative_ttl=" << o.negative_ttl.count()
    << "ms negative_in_l2=" << (o.negative_in_l2 ? "true" : "false")
    << " early_refresh_beta=" << o.early_refresh_beta
    << " refresh_ahead=" << o.refresh_ahead.count()
    << "ms stale_while_revalidate=" << o.stale_while_revalidate.count()
    << "ms refresh_threads=" << o.refresh_threads << " ttl_jitter=" << o.ttl_jitter
    << " when_l2_down=" << text_of(o.when_l2_down)
    << " stale_if_l2_down=" << (o.stale_if_l2_down ? "true" : "false")
    << " metrics.latencies=" << (o.metrics.latencies ? "true" : "false")
    << " metrics.sample_every=" << o.metrics.sample_every
    << " metrics.endpoint=" << (o.metrics.endpoint ? "on" : "off");
  // Without an L2 the writer's options do not apply, and are left out.
  if (!o.backend && !r.is_configured()) return std::move(s).str() + " redis=off";
  if (o.backend) {
    // An own backend: no redis.* option applies (open refuses both set), the writer's all do.
    s << " backend=own";
  } else {
    // The password is never printed. Only the fields that are in use are: a url says what host,
    // port, unix_socket, user, password and db would (they stay at their defaults), and cluster
    // seeds say the nodes instead of url, host, port, unix_socket and db.
    if (!r.cluster_nodes.empty()) {
      s << " redis.cluster_nodes=";
      for (std::size_t i = 0; i < r.cluster_nodes.size(); ++i)
        s << (i == 0 ? "" : ",") << redacted_url(r.cluster_nodes[i]);
      s << " redis.read_from_replicas=" << (r.read_from_replicas ? "true" : "false")
        << " redis.user=" << r.user << " redis.password=" << (r.password.empty() ? "" : "***");
    } else if (!r.url.empty()) {
      s << " redis.url=" << redacted_url(r.url);
    } else {
      s << " redis.host=" << r.host << " redis.port=" << r.port
        << " redis.unix_socket=" << r.unix_socket << " redis.user=" << r.user
        << " redis.password=" << (r.password.empty() ? "" : "***") << " redis.db=" << r.db;
    }
    s << " redis.key_prefix=" << r.key_prefix
      << " redis.connect_timeout=" << r.connect_timeout.count()
      << "ms redis.command_timeout=" << r.command_timeout.count()
      << "ms redis.reconnect_backoff=" << r.reconnect_backoff_min.count() << ".."
      << r.reconnect_backoff_max.count()
      << "ms redis.health_check_interval=" << r.health_check_interval.count()
      << "ms redis.invalidation=" << to_string(r.invalidation)
      << " redis.invalidation_heartbeat=" << r.invalidation_heartbeat.count() << "ms";
  }
  s << " writer.mode=" << text_of(o.writer.mode)
    << " writer.when_full=" << text_of(o.writer.when_full)
    << " writer.queue_max_ops=" << o.writer.queue_max_ops
    << " writer.queue_max_bytes=" << o.writer.queue_max_bytes
    << " writer.batch_max_ops=" << o.writer.batch_max_ops
    << " writer.batch_max_bytes=" << o.writer.batch_max_bytes
    << " writer.batch_timeout=" << o.writer.batch_timeout.count() << "ms";
  return std::move(s).str();
}

namespace engine {
namespace {

// Most shards open() picks by itself, and how many bytes of budget it gives each at least.
constexpr std::size_t kMaxAutoShards = 64;
constexpr std::size_t kAutoShardBytes = std::size_t{1} << 20;
// Most shards a caller may ask for; each costs a mutex, a ring and a hash array.
constexpr std::size_t kMaxShards = 1024;
// XFetch's beta beyond which refreshes start so early that they are mostly loads.
constexpr double kMaxEarlyRefreshBeta = 16;
// Background refresh threads a cache may start.
constexpr std::size_t kMaxRefreshThreads = 64;
// The rarest sampling of L1-only calls (Options.metrics.sample_every).
constexpr std::uint32_t kMaxSampleEvery = 65536;
// Longest key the entry header can describe (a 16-bit length).
constexpr std::size_t kMaxKeyBytesLimit = 65535;
// Longest value the entry header can describe (a 32-bit length).
constexpr std::size_t kMaxValueBytesLimit = UINT32_MAX;
// The largest entry the header can describe. An expected_entry_bytes beyond it is no typical
// entry, and near SIZE_MAX it wrapped shard_limits()'s divisor (it + kEntryOverheadBytes) to 0.
constexpr std::size_t kMaxExpectedEntryBytes = kMaxKeyBytesLimit + kMaxValueBytesLimit;
// Entries each shard's index and ring are sized for up front (8 B a ring slot, ~16 B of index);
// beyond this both grow on demand.
constexpr std::size_t kMaxExpectedEntries = std::size_t{1} << 22;

// This machine's physical memory in bytes, or 0 if the system does not say (then unbounded).
// l1.max_bytes may not pass it: each shard's index and CLOCK are sized from max_bytes at open,
// so SIZE_MAX built an empty cache of ~5 GB over a long open, and threw bad_alloc with 1024
// shards; a cache larger than the memory there is cannot be filled anyway.
std::size_t physical_memory_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES);
  const long page_bytes = sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page_bytes <= 0) return 0;
  std::size_t bytes = 0;
  if (__builtin_mul_overflow(static_cast<std::size_t>(pages), static_cast<std::size_t>(page_bytes),
                             &bytes))
    return SIZE_MAX;
  return bytes;
}

// What the largest entry is charged (ShardTable::charge): a typed one holds its value twice.
std::size_t largest_entry(const L1Options& l1, std::size_t typed_object_bytes) {
  const std::size_t bytes = l1.max_key_bytes + l1.max_value_bytes + kEntryOverheadBytes;
  return typed_object_bytes == 0 ? bytes : bytes + l1.max_value_bytes + typed_object_bytes;
}

// Most writes the queue may hold: each slot is allocated at open.
constexpr std::size_t kMaxQueueOps = std::size_t{1} << 24;

Result<void> check_writer(const WriterOptions& w, const L1Options& l1) {
  // An enum cast from any integer compiles. when_full 7 matched no case of enqueue_write's
  // switch, so a set that found the queue full went round its loop for ever, past its deadline.
  if (name_of(w.mode) == nullptr)
    return fail(errc::invalid_argument, "Options.writer.mode is ", static_cast<int>(w.mode),
                "; must be async or sync");
  if (name_of(w.when_full) == nullptr)
    return fail(errc::invalid_argument, "Options.writer.when_full is ",
                static_cast<int>(w.when_full), "; must be wait, refuse or drop_oldest");
  if (w.queue_max_ops < 2 || w.queue_max_ops > kMaxQueueOps)
    return fail(errc::invalid_argument, "Options.writer.queue_max_ops is ", w.queue_max_ops,
                "; must be in [2, ", kMaxQueueOps, "]");
  if (w.queue_max_bytes > WriteQueue::kMaxBytes)
    return fail(errc::invalid_argument, "Options.writer.queue_max_bytes is ", w.queue_max_bytes,
                "; must be <= ", WriteQueue::kMaxBytes);
  if (w.queue_max_bytes < l1.max_key_bytes + l1.max_value_bytes)
    return fail(errc::invalid_argument, "Options.writer.queue_max_bytes is ", w.queue_max_bytes,
                "; must hold at least one write of l1.max_key_bytes + l1.max_value_bytes (",
                l1.max_key_bytes + l1.max_value_bytes, ")");
  if (w.batch_max_ops == 0)
    return fail(errc::invalid_argument, "Options.writer.batch_max_ops is 0; must be > 0");
  if (w.batch_max_bytes == 0)
    return fail(errc::invalid_argument, "Options.writer.batch_max_bytes is 0; must be > 0");
  // A batch's deadline is now() + batch_timeout: milliseconds::max() overflowed it into the past,
  // so every batch was given up as soon as it was sent.
  if (w.batch_timeout.count() <= 0 || w.batch_timeout > kMaxOptionDuration)
    return fail(errc::invalid_argument, "Options.writer.batch_timeout is ", w.batch_timeout.count(),
                "ms; must be in [1, ", kMaxOptionDuration.count(), "]");
  return {};
}

}  // namespace

Result<Options> complete_options(const Options& in, std::size_t typed_object_bytes,
                                 bool l2_given_apart) {
  Options o = in;
  if (!(o.ttl_jitter >= 0 && o.ttl_jitter <= 1))
    return fail(errc::invalid_argument, "Options.ttl_jitter is ", o.ttl_jitter,
                "; must be in [0, 1]");
  // As the writer's enums (check_writer): a value cast from an integer no enumerator has.
  if (name_of(o.when_l2_down) == nullptr)
    return fail(errc::invalid_argument, "Options.when_l2_down is ",
                static_cast<int>(o.when_l2_down), "; must be fail or load");
  if (o.backend && o.redis.is_configured())
    return fail(errc::invalid_argument,
                "Options.backend and Options.redis are both set; an L2 is one or the other");
  // The writer exists only with an L2; an L1-only cache ignores its options.
  if (o.redis.is_configured() || o.backend || l2_given_apart) {
    if (auto bad = check_writer(o.writer, o.l1); !bad) return std::unexpected(bad.error());
  }
  const L1Options& l1 = o.l1;
  if (l1.max_bytes == 0)
    return fail(errc::invalid_argument, "Options.l1.max_bytes is 0; must be > 0");
  if (const std::size_t physical = physical_memory_bytes();
      physical != 0 && l1.max_bytes > physical)
    return fail(errc::invalid_argument, "Options.l1.max_bytes is ", l1.max_bytes,
                "; must be <= the machine's physical memory (", physical, " bytes)");
  if (l1.max_key_bytes == 0 || l1.max_key_bytes > kMaxKeyBytesLimit)
    return fail(errc::invalid_argument, "Options.l1.max_key_bytes is ", l1.max_key_bytes,
                "; must be in [1, ", kMaxKeyBytesLimit, "]");
  if (l1.max_value_bytes > kMaxValueBytesLimit)
    return fail(errc::invalid_argument, "Options.l1.max_value_bytes is ", l1.max_value_bytes,
                "; must be <= ", kMaxValueBytesLimit);
  if (l1.shards != 0 && (!std::has_single_bit(l1.shards) || l1.shards > kMaxShards))
    return fail(errc::invalid_argument, "Options.l1.shards is ", l1.shards,
                "; must be 0 (automatic) or a power of two <= ", kMaxShards);
  if (l1.expected_entry_bytes == 0 || l1.expected_entry_bytes > kMaxExpectedEntryBytes)
    return fail(errc::invalid_argument, "Options.l1.expected_entry_bytes is ",
                l1.expected_entry_bytes, "; must be in [1, ", kMaxExpectedEntryBytes, "]");
  if (o.default_ttl.count() < 0 || o.default_ttl > kMaxTtl)
    return fail(errc::invalid_argument, "Options.default_ttl is ", o.default_ttl.count(),
                "ms; must be in [0, ", kMaxTtl.count(), "] (0: no expiry)");
  if (!(o.early_refresh_beta >= 0 && o.early_refresh_beta <= kMaxEarlyRefreshBeta))
    return fail(errc::invalid_argument, "Options.early_refresh_beta is ", o.early_refresh_beta,
                "; must be in [0, ", kMaxEarlyRefreshBeta, "] (0: off)");
  if (o.refresh_ahead.count() < 0 || o.refresh_ahead > kMaxTtl)
    return fail(errc::invalid_argument, "Options.refresh_ahead is ", o.refresh_ahead.count(),
                "ms; must be in [0, ", kMaxTtl.count(), "] (0: off)");
  if (o.refresh_ahead.count() != 0 && o.early_refresh_beta != 0)
    return fail(errc::invalid_argument, "Options.refresh_ahead (", o.refresh_ahead.count(),
                "ms) and early_refresh_beta (", o.early_refresh_beta,
                ") are both set; early refresh takes one of them");
  if (o.stale_while_revalidate.count() < 0 || o.stale_while_revalidate > kMaxTtl)
    return fail(errc::invalid_argument, "Options.stale_while_revalidate is ",
                o.stale_while_revalidate.count(), "ms; must be in [0, ", kMaxTtl.count(),
                "] (0: off)");
  if (o.refresh_threads > kMaxRefreshThreads)
    return fail(errc::invalid_argument, "Options.refresh_threads is ", o.refresh_threads,
                "; must be <= ", kMaxRefreshThreads);
  if (!std::has_single_bit(o.metrics.sample_every) || o.metrics.sample_every > kMaxSampleEvery)
    return fail(errc::invalid_argument, "Options.metrics.sample_every is ", o.metrics.sample_every,
                "; must be a power of two in [1, ", kMaxSampleEvery, "]");
  if (o.negative_ttl.count() < 0 || o.negative_ttl > kMaxTtl)
    return fail(errc::invalid_argument, "Options.negative_ttl is ", o.negative_ttl.count(),
                "ms; must be in [0, ", kMaxTtl.count(), "] (0: not found is not cached)");
  if (largest_entry(l1, typed_object_bytes) > l1.max_bytes)
    return fail(errc::invalid_argument, "Options.l1.max_key_bytes (", l1.max_key_bytes,
                ") + max_value_bytes (", l1.max_value_bytes,
                typed_object_bytes != 0 ? ", twice in a typed cache" : "",
                ") + per-entry overhead (", kEntryOverheadBytes + typed_object_bytes,
                ") exceed Options.l1.max_bytes (", l1.max_bytes, ")");
  if (o.l1.shards == 0) {
    std::size_t n =
        std::bit_floor(std::clamp(l1.max_bytes / kAutoShardBytes, std::size_t{1}, kMaxAutoShards));
    while (n > 1 && (largest_entry(l1, typed_object_bytes) > l1.max_bytes / n ||
                     (l1.max_entries != 0 && l1.max_entries < n)))
      n /= 2;
    o.l1.shards = n;
  }
  if (largest_entry(l1, typed_object_bytes) > l1.max_bytes / o.l1.shards)
    return fail(errc::invalid_argument, "Options.l1.max_key_bytes (", l1.max_key_bytes,
                ") + max_value_bytes (", l1.max_value_bytes,
                typed_object_bytes != 0 ? ", twice in a typed cache" : "",
                ") + per-entry overhead (", kEntryOverheadBytes + typed_object_bytes,
                ") exceed one shard's part of Options.l1.max_bytes (", l1.max_bytes, " / ",
                o.l1.shards, " shards)");
  if (l1.max_entries != 0 && l1.max_entries < o.l1.shards)
    return fail(errc::invalid_argument, "Options.l1.max_entries is ", l1.max_entries,
                "; must be 0 or >= Options.l1.shards (", o.l1.shards, ")");
  return o;
}

ShardLimits shard_limits(const Options& o, std::size_t typed_object_bytes) {
  const L1Options& l1 = o.l1;
  ShardLimits limits{};
  limits.max_bytes = l1.max_bytes / l1.shards;
  limits.max_entries = l1.max_entries / l1.shards;
  limits.early_refresh_beta = o.early_refresh_beta;
  limits.refresh_ahead_ms = static_cast<std::uint64_t>(o.refresh_ahead.count());
  limits.stale_grace_ms = static_cast<std::uint64_t>(o.stale_while_revalidate.count());
  limits.typed_object_bytes = typed_object_bytes;
  std::size_t expected = limits.max_bytes / (l1.expected_entry_bytes + kEntryOverheadBytes);
  if (limits.max_entries != 0) expected = std::min(expected, limits.max_entries);
  limits.expected_entries = std::min(expected, kMaxExpectedEntries);
  return limits;
}

}  // namespace engine
}  // namespace tiercache
