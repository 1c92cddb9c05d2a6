// tiercache/backend.hpp — what an L2 implements: batched, asynchronous reads and writes.
//
// The engine calls a Backend from its own threads and never blocks in it: each call hands over
// a batch and a callback, and the backend answers once, later, on a thread of its own. Redis
// (Options.redis), Memcached (make_memcached_backend) and the file store (make_file_store) ship;
// a Backend is also how a test or another store plugs in.
//
// Ownership: a read batch is the backend's; a write batch is only lent for the call (copy what
//            outlives it); results are the callback's to keep.
// Threads:   read(), write(), is_available() and health() may be called from any thread at once.
// Waiting:   every batch is answered in the end (Redis: a connection that makes no progress for
//            command_timeout is dropped, failing what is on it); the engine still bounds its
//            own wait (Options.writer.batch_timeout) so a backend that breaks this cannot
//            hang it.
// Never:     calls a callback twice, or zero times (a backend being destroyed answers every
//            batch it still holds with errc::closed); throws.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "tiercache/error.hpp"

namespace tiercache {

// How long a value read from L2 has left there. "Expires now" (after 0 ms), "never expires" and
// "the backend cannot tell" are three different answers: L1 must never keep a value past its
// L2 copy, so only `never` lets L1 fall back to Options.default_ttl unbounded by L2, and
// `unknown` bounds it by default_ttl too (a backend without a TTL query, such as memcached).
struct TtlLeft {
  enum class Kind : std::uint8_t { never, after, unknown };
  Kind kind = Kind::never;
  std::chrono::milliseconds left{0};  // Kind::after only; 0 means it expires now

  static TtlLeft never_expires() noexcept { return {Kind::never, {}}; }
  static TtlLeft expires_after(std::chrono::milliseconds left) noexcept {
    return {Kind::after, left};
  }
  static TtlLeft not_known() noexcept { return {Kind::unknown, {}}; }
};

// A value read from L2 with the time it has left there.
struct BackendValue {
  std::string value;
  TtlLeft ttl_left;
  // The key holds the marker a write with BackendWrite::absent left: the origin has no such
  // key (negative caching in L2). `value` is then empty.
  bool absent = false;
};

// One write of a batch. The views point into the writer's own copy of the write, valid until
// Backend::write returns: a backend copies what it keeps (Redis formats its commands at once),
// so a large value is not copied once more just to be handed over.
struct BackendWrite {
  enum class Kind : std::uint8_t {
    set,    // store the value
    fill,   // store the value only if the key holds nothing: a value a loader produced must not
            // replace one another writer stored meanwhile (Redis: SET ... NX)
    purge,  // remove the key
  };
  Kind kind = Kind::set;
  std::string_view key;
  std::string_view value;            // set, fill
  std::chrono::milliseconds ttl{0};  // set, fill; 0: no expiry
  // set, fill: store the marker "the origin has no such key" instead of `value`, where no value
  // can be mistaken for it; a read of the key then answers BackendValue::absent. Sent only to a
  // backend whose stores_absent() is true.
  bool absent = false;
};

// What a backend can say about itself, for CacheStats.
struct BackendHealth {
  bool available = true;
  std::string last_error;        // the latest connection or handshake failure, "" if none
  std::uint64_t reconnects = 0;  // connections re-established after a loss
  std::uint64_t invalidation_reconnects = 0;  // ... of them, the one changes are heard on
  // Stored values that could not be read back (torn, truncated or foreign): each was answered
  // as errc::not_found, not as an error, so that the cache loads the key again.
  std::uint64_t unreadable_values = 0;
  // Redis Cluster's routing (0 for any other backend): what the cluster asked the client to do.
  std::uint64_t moved_redirects = 0;     // MOVED followed: a slot had moved, sent to its new master
  std::uint64_t ask_redirects = 0;       // ASK followed: a key mid-migration, sent once elsewhere
  std::uint64_t cluster_retries = 0;     // TRYAGAIN / CLUSTERDOWN: sent again after a backoff
  std::uint64_t topology_refreshes = 0;  // slot maps fetched: each second, after MOVED or a loss
};

// What a backend tells the cache about L2 changing under it (Redis: server-assisted
// invalidation). Called on a thread of the backend's, one call at a time; each returns quickly.
class BackendEvents {
 public:
  // These keys (as the cache names them: without the backend's key prefix) changed in L2.
  virtual void keys_changed(std::span<const std::string_view> keys) = 0;
  // Every key may have changed (FLUSHALL, FLUSHDB).
  virtual void all_changed() = 0;
  // From now until coherence_restored(), a change in L2 may go unheard.
  virtual void coherence_lost() = 0;
  // Changes are heard again, for everything read from L2 from now on.
  virtual void coherence_restored() = 0;

 protected:
  ~BackendEvents() = default;
};

// Which changes to L2 a backend hears, and so which L1 values the cache may trust.
enum class ChangesHeard : std::uint8_t {
  none,       // no change is heard: L1's TTL is the only bound on staleness
  every_key,  // every change to every key of the cache (Redis: bcast mode)
  keys_read,  // changes to the keys the cache read from L2, each until its next change is told
              // (Redis: tracked mode): a value the cache wrote, or loaded without an answer
              // from L2, is trusted only once it is read from L2 again
};

class Backend {
 public:
  // One result per key, in order: a value, errc::not_found, or the failure.
  using ReadDone = std::function<void(std::vector<Result<BackendValue>>)>;
  // One result per write, in order. errc::backend_unavailable and errc::timeout mean the write
  // may or may not have been applied (not sent, or its answer lost) and it is safe to send it
  // again; errc::overloaded, that the store refused it for now (busy, loading, read-only) and
  // it is safe to send again. Any other failure is final for that write. The writer sends
  // such writes again, giving one up only when its connection was lost under it
  // (backend_unavailable) 10 times in a row; timeouts and refusals never count. While batches
  // land nothing and the backend still takes writes, it paces its sends (10 ms doubling to 1 s).
  using WriteDone = std::function<void(std::vector<Result<void>>)>;

  virtual ~Backend() = default;

  // Reads every key in one round trip where the backend can.
  virtual void read(std::vector<std::string> keys, ReadDone done) = 0;
  // Applies the writes in order, in one round trip where the backend can. A write still in
  // doubt from an earlier batch must never be applied after a write to the same key that a later
  // batch sent (Redis: a new write connection first kills the one it replaces). `writes` is
  // valid only until this returns.
  virtual void write(std::span<const BackendWrite> writes, WriteDone done) = 0;
  // False while the backend knows it cannot serve (disconnected, reconnecting). The default
  // accepts_writes() and health() use it. Called often: must be cheap.
  virtual bool is_available() const noexcept = 0;
  // Whether write() would be tried now; the writer holds its writes while it is false. A
  // backend whose reads and writes fail apart (Redis: two connections) says so here, so that
  // a read connection coming back does not hold the writes up.
  virtual bool accepts_writes() const noexcept { return is_available(); }
  // Whether read() would be tried now; for Redis, the read connection is up.
  virtual bool accepts_reads() const noexcept { return is_available(); }
  virtual BackendHealth health() const { return {is_available(), {}, 0, 0, 0}; }
  // Whether the backend can store the "no such key" marker (BackendWrite::absent), which
  // Options.negative_in_l2 needs. Redis: yes.
  virtual bool stores_absent() const noexcept { return false; }

  // Which changes made to L2 by others the backend hears (and tells set_events' events about).
  virtual ChangesHeard changes_heard() const noexcept { return ChangesHeard::none; }
  // Starts (events not null) or stops (null) telling `events` about changes in L2. Calls
  // events->coherence_restored() before it returns if changes are heard already. After a call
  // with null returns, no event is delivered any more.
  virtual void set_events(BackendEvents* /*events*/) {}
};

struct Options;

// The built-in L2 that `options` names: Redis when Options.redis.is_configured(), else null (an
// L1-only cache). Checks those options first: invalid_argument names the bad field, and nothing
// is built. Cache::open calls it; it is public so a program can wrap the built-in backend.
[[nodiscard]] Result<std::unique_ptr<Backend>> make_backend(const Options& options);

}  // namespace tiercache
