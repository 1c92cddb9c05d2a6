// tiercache/options.hpp — everything Cache::open() takes, as one aggregate.
//
// Name every choice with designated initializers; open() validates the struct before it builds
// anything (except negative_in_l2 against the backend, a backend or an endpoint already serving
// a Cache, checked once those exist) and answers errc::invalid_argument naming the field, its value
// and the rule. Each field's unit is in its type or its name; docs/configuration.md has one row per
// field.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tiercache {

class Backend;
class MetricsEndpoint;

// The longest TTL any call or option takes (about 30 years): longer ones are refused with
// invalid_argument rather than overflowing an expiry time. For "never", give no TTL.
inline constexpr std::chrono::milliseconds kMaxTtl{std::chrono::hours(24) * 365 * 30};

// The longest timeout, interval or backoff an option takes (a day): each is added to a clock's
// now() in nanoseconds, which a far larger one (milliseconds::max()) overflows into a deadline
// long past, so open() refuses it with invalid_argument.
inline constexpr std::chrono::milliseconds kMaxOptionDuration{std::chrono::hours(24)};

struct L1Options {
  // Bytes the in-process tier may hold: key + value + per-entry overhead (see
  // CacheStats::overhead_bytes_per_entry), summed over every shard. Each shard gets an equal part.
  // At most the machine's physical memory: each shard's index and CLOCK are sized from it at open.
  std::size_t max_bytes = std::size_t{64} << 20;
  // A second bound on the number of entries; 0 means "bytes only".
  std::size_t max_entries = 0;
  // Longest key accepted; longer keys get invalid_argument. At most 65535.
  std::size_t max_key_bytes = 512;
  // Longest value accepted; must fit in one shard's part of max_bytes.
  std::size_t max_value_bytes = std::size_t{1} << 20;
  // Independent parts the tier is split into (each with its own CLOCK hand and writer lock).
  // 0 picks one per 1 MiB of max_bytes, between 1 and 64; else a power of two, at most 1024.
  std::size_t shards = 0;
  // Expected key + value bytes of a typical entry. Only sizes each shard's hash index up front
  // (max_bytes / (this + overhead) entries in all; it grows past that on demand); a poor guess
  // costs memory or a rebuild, never correctness. At most 65535 + 2^32 - 1 (the largest entry).
  std::size_t expected_entry_bytes = 128;
};

// How a cache hears the changes other programs make to its keys in Redis (Redis's
// server-assisted client-side caching, in RESP2: a third connection subscribed to
// __redis__:invalidate). docs/configuration.md compares the two modes.
enum class InvalidationMode {
  off,      // nothing is heard: an L1 value lives until its TTL, whatever happens in Redis
  bcast,    // every write under key_prefix reaches every cache (CLIENT TRACKING BCAST PREFIX):
            // no server memory per key; one message per write per cache
  tracked,  // Redis remembers which keys this cache read and tells it only about those: server
            // memory per key read (tracking-table-max-keys); a cache's own write to a key it
            // read comes back once (one more L2 read of that key)
};

// Redis as L2. Enabled when url, host, unix_socket or cluster_nodes is set; otherwise the cache
// is L1 only.
struct RedisOptions {
  // redis://[[user]:password@]host[:port][/db] (an IPv6 host in brackets) or
  // unix://[[user]:password@]/path/to/redis.sock[?db=N]; says what host, port, unix_socket, user,
  // password and db would, which must then be left at their defaults.
  std::string url;
  std::string host;
  int port = 6379;
  std::string unix_socket;  // a path; instead of host and port
  std::string user;         // ACL user for AUTH; empty with a password: the default user
  std::string password;     // empty: no AUTH
  int db = 0;               // SELECT db, 0..15 on a default server
  // Redis Cluster: seed nodes, each "host:port" or "redis://[[user]:password@]host[:port]"; any
  // one that answers gives the topology (docs/operations.md, "Redis Cluster"). Non-empty selects
  // cluster mode: url, host, port, unix_socket and db must then stay at their defaults (user and
  // password apply to every node, or come from the seed URLs, which must then agree).
  std::vector<std::string> cluster_nodes;
  // Redis Cluster only: reads go to a replica of the key's master (READONLY), writes to the
  // master. Spreads read load over the replicas, at a price: a replica applies a write a
  // replication lag after its master acknowledged it, so a read may answer (and L1 keep, until
  // its TTL or the key's next change) a value that was already replaced; a replica cut off from
  // its master answers from its old data unless it runs with replica-serve-stale-data no.
  // Not with invalidation tracked (open refuses it: no master tracks a key a replica read).
  // Off: every read is answered by the master, after every write it acknowledged
  // (docs/operations.md).
  bool read_from_replicas = false;
  // Prepended to every key in Redis, so several caches can share one server.
  std::string key_prefix;
  // Longest a connect may take, host lookup and handshake included; then it fails and backs off.
  // This and the four durations below: 1 ms to kMaxOptionDuration.
  std::chrono::milliseconds connect_timeout{500};
  // Longest a connection with commands outstanding may go without progress (no byte of a reply,
  // and while the oldest command is still being sent, no byte of it reaching the server). Then
  // every command on it fails (reads: timeout; writes are sent again) and it is re-established:
  // hiredis cannot cancel one command.
  std::chrono::milliseconds command_timeout{200};
  // Wait before the first reconnect attempt; doubles per failure up to reconnect_backoff_max
  // (at most kMaxOptionDuration, like the min).
  std::chrono::milliseconds reconnect_backoff_min{10};
  std::chrono::milliseconds reconnect_backoff_max{1000};
  // A connection that carried no reply for this long is sent a PING, so one that died silently
  // (a network fault that left no RST) is found and replaced before a caller waits on it.
  std::chrono::milliseconds health_check_interval{1000};

  InvalidationMode invalidation = InvalidationMode::bcast;
  // How often the invalidation connection proves it is alive (a SUBSCRIBE that Redis confirms
  // within command_timeout). A silent loss is noticed within this plus command_timeout, and
  // until the stream is back no L1 value is served as fresh. 1 ms to kMaxOptionDuration.
  std::chrono::milliseconds invalidation_heartbeat{100};

  // Whether these options name a server (url, host, unix_socket or cluster_nodes): Redis is L2
  // only then.
  bool is_configured() const noexcept {
    return !url.empty() || !host.empty() || !unix_socket.empty() || !cluster_nodes.empty();
  }
};

enum class WriteMode {
  async,  // set() and purge() return once the write is queued
  sync,   // they return once Redis acknowledged it (still batched with other callers' writes)
};

enum class QueueFullPolicy {
  wait,         // the caller waits for room within its context
  refuse,       // the call fails with errc::overloaded
  drop_oldest,  // the oldest write never sent is dropped (its sync caller gets overloaded)
};

// What get_or_load does when L2 cannot be asked (down, or its read failed).
enum class L2DownPolicy {
  fail,  // return backend_unavailable (or the read's error): the origin sees no more load than
         // with Redis up, and misses fail while it is down
  load,  // run the loader and cache its value in L1 (and queue it for L2): misses keep working,
         // at the price of one origin load per key per outage (coalesced per key)
};

struct WriterOptions {
  WriteMode mode = WriteMode::async;
  QueueFullPolicy when_full = QueueFullPolicy::refuse;
  // Writes waiting for L2 (queued, in flight or to be retried): an exact bound. The ring
  // behind it is rounded up to a power of two; each slot costs ~100 bytes at open.
  std::size_t queue_max_ops = 16384;
  // Key + value bytes of the writes waiting for L2; a write that would pass it meets the
  // QueueFullPolicy like a full queue. At least one write of
  // l1.max_key_bytes + l1.max_value_bytes must fit.
  std::size_t queue_max_bytes = std::size_t{256} << 20;
  // Writes one pipeline carries; bounds one reply burst and one retry.
  std::size_t batch_max_ops = 1024;
  // Key + value bytes one pipeline carries (a single larger write still goes, alone).
  std::size_t batch_max_bytes = std::size_t{4} << 20;
  // Longest the writer waits for L2 to answer one pipeline before it counts the pipeline as
  // lost and retries it: the bound for a Backend that never answers. Redis drops a connection
  // that makes no progress for redis.command_timeout, but a pipeline that keeps moving over a
  // slow link has no bound of its own: keep this above the time the largest batch
  // (batch_max_bytes) takes to cross the slowest link. 1 ms to kMaxOptionDuration.
  std::chrono::milliseconds batch_timeout{60'000};
};

// What a cache measures beyond its counters (tiercache/metrics.hpp), and where it publishes.
struct MetricsOptions {
  // Latency histograms (Cache::metrics()); off, calls read no clock for them. The counters in
  // CacheStats are kept either way.
  bool latencies = true;
  // One call in this many that L1 answers alone is timed: a power of two, at most 65536; 1
  // times them all (two clock reads, ~50 ns on a VM, on every hit). Calls that go past L1 are
  // always timed.
  std::uint32_t sample_every = 64;
  // Serves the cache's metrics (make_metrics_endpoint() in tiercache/metrics_endpoint.hpp gives
  // an HTTP /metrics); null: none. One open Cache per endpoint.
  std::shared_ptr<MetricsEndpoint> endpoint;
};

struct Options {
  L1Options l1;
  RedisOptions redis;
  // Your own L2, or a built-in one made apart from Options (make_memcached_backend in
  // tiercache/memcached.hpp, make_file_store in tiercache/file_store.hpp): instead of redis, which
  // must then be left unconfigured. Null and no redis: L1 only. One Cache uses a Backend at a time
  // (open refuses one another Cache holds); the cache holds it until it is destroyed.
  // docs/backends.md says how to write one.
  std::shared_ptr<Backend> backend;
  WriterOptions writer;
  // TTL of a set() without its own, and of a value get_or_load() fills. 0: entries do not expire.
  // At most kMaxTtl, like every TTL.
  std::chrono::milliseconds default_ttl{0};
  // How long a loader's "no such key" (Loaded::absent()) is cached, so that the next callers get
  // not_found without asking the origin. 0: not cached (each miss asks again). At most kMaxTtl.
  // A set or purge of the key, or a change heard from L2, ends it early.
  std::chrono::milliseconds negative_ttl{0};
  // With an L2: a loader's "no such key" is also written there as a marker (for the same TTL),
  // so other instances answer not_found from it without running their loaders. Needs a backend
  // that can store it (Redis can); ignored without an L2, and for an answer L1 does not keep
  // (negative_ttl 0 and no Loaded::absent(ttl)). Turn it on only once every instance sharing
  // the key prefix runs a version that reads markers: an older one fails its reads of them.
  bool negative_in_l2 = false;
  // Early refresh of values get_or_load loaded (probabilistic early expiration, "XFetch",
  // VLDB 2015): a get_or_load that reads such a value shortly before it expires may draw its
  // reload, with a chance that grows as expiry nears and with how long its last load took
  // (scaled by this beta). The caller that draws it runs the loader and gets the new value;
  // every other caller keeps getting the current one, and one that comes after it expired waits
  // for that refresh rather than loading again. So a key read steadily never expires under
  // load. 0: off; 1 is XFetch's default; up to 16 (earlier refreshes, more loads).
  double early_refresh_beta = 0;
  // Early refresh with a fixed window instead of XFetch's draw: the first get_or_load that reads
  // a loaded value with less than this left refreshes it. Keep it well below the TTLs: a window
  // as long as a TTL refreshes at every read. 0: off; not with early_refresh_beta.
  std::chrono::milliseconds refresh_ahead{0};
  // Stale-while-revalidate: for this long after a loaded value expired, a get_or_load still
  // answers it at once and refreshes it (as an early refresh: one refresh, on the caller or on
  // refresh_threads); other callers get it meanwhile. A get does not take L1's expired value.
  // With an L2, loaded values are written there with this much more life, and a read from L2
  // takes them as fresh until then (docs/configuration.md). 0: off.
  std::chrono::milliseconds stale_while_revalidate{0};
  // Threads that run early refreshes in the background, so that no caller waits for one: the
  // caller that draws it gets the current value at once, and the loader runs on one of these
  // with a copy of that caller's Context (its deadline and values) and of the loader. Such a
  // loader may run after its get_or_load returned, until the cache is closed or destroyed: it
  // must not refer to anything that ends sooner, nor own the cache. 0: the caller that draws a
  // refresh runs it. At most 64; none are started unless a refresh option (early_refresh_beta,
  // refresh_ahead, stale_while_revalidate) is set.
  std::size_t refresh_threads = 0;
  // Each TTL is shortened by a random part of up to this fraction, so keys set together do not
  // expire together. 0 to 1; 0.1 spreads a 60 s TTL over 54-60 s.
  double ttl_jitter = 0;
  L2DownPolicy when_l2_down = L2DownPolicy::load;
  // While L2 cannot be reached, and so changes made there may have gone unheard, a miss that
  // finds a value L1 took before the loss answers it rather than failing (counted in
  // CacheStats::stale_served). Off: such a value is a miss like any other, and fails with
  // backend_unavailable. Matters only with Options.redis.invalidation on.
  bool stale_if_l2_down = false;
  MetricsOptions metrics;
};

// The effective options as one line of "field=value" pairs, for a log at startup: every field
// that applies (the writer's with any L2, Options.backend's or Redis's; of redis, the ones in
// use: url, host and port, unix_socket, or cluster_nodes and read_from_replicas). Passwords
// are shown as "***" (a url or cluster seed as redacted_url() shows it).
std::string to_string(const Options& options);
// A Redis URL (or cluster seed) as tiercache quotes it in errors and to_string(): whatever
// precedes its last '@' (the credentials, whatever the scheme or its spelling) as "***@"; with
// no '@', all past the host's ':' as "***" unless it reads as a port and database
// ("redis://h:6379/0"): in "redis://:secret", the host forgotten, it is a password. A password
// of digits alone reads as a port.
std::string redacted_url(std::string_view url);
// The mode's name as Options are written and printed: "off", "bcast", "tracked".
const char* to_string(InvalidationMode mode);

}  // namespace tiercache
