// adapters/redis/redis_backend.hpp — the Backend on Redis: one I/O thread, two connections.
//
// Reads and writes use separate connections, so a get never queues behind a large write
// pipeline. A read batch is one script call (read_reply.hpp says what and why); a write batch is
// SET ... [PX] [NX] (NX: a fill) / UNLINK per write (a "no such key" marker: a script,
// absent_marker.hpp), pipelined on the write connection, which
// fences the connections it replaces (redis_connection.hpp). Commands are formatted on the calling
// thread. Keys get Options.redis.key_prefix in front. Only this directory includes hiredis.
//
// Invalidation (Options.redis.invalidation): a third connection subscribes to Redis's
// invalidation channel, and one data connection turns CLIENT TRACKING on with REDIRECT to it:
// the write connection in bcast mode (BCAST PREFIX key_prefix NOLOOP: every write under the
// prefix is heard, this cache's own are not echoed), the read connection in tracked mode (the
// keys it reads are remembered). Changes are heard, and BackendEvents::coherence_restored()
// said, only while the subscriber is up AND tracking on the data connection points at its
// current CLIENT ID; either side lost or reconnected says coherence_lost() at once, and
// tracking is turned off and on again (REDIRECT cannot be changed in place).
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "adapters/redis/cluster_redirect.hpp"
#include "adapters/redis/endpoint.hpp"
#include "adapters/redis/event_loop.hpp"
#include "adapters/redis/redis_connection.hpp"
#include "tiercache/backend.hpp"

namespace tiercache::redis {

// What a cache hears of Redis's changes in each invalidation mode (one node or a cluster).
ChangesHeard changes_heard_in(InvalidationMode mode) noexcept;

class RedisBackend final : public Backend {
 public:
  // Starts the I/O thread and both connections; returns once both are up, once one is refused
  // for good (refused()), or after endpoint.connect_timeout (the backend then keeps trying in
  // the background).
  static Result<std::unique_ptr<RedisBackend>> start(const Endpoint& endpoint,
                                                     std::string key_prefix,
                                                     std::size_t max_value_bytes,
                                                     InvalidationMode invalidation);
  // Answers whatever is still in flight with errc::closed, then stops the I/O thread.
  ~RedisBackend() override;

  void read(std::vector<std::string> keys, ReadDone done) override;
  void write(std::span<const BackendWrite> writes, WriteDone done) override;
  bool is_available() const noexcept override;
  bool accepts_writes() const noexcept override;
  bool accepts_reads() const noexcept override;
  BackendHealth health() const override;
  // Why the server turned a connection's last handshake away for good (the credentials, db or
  // ACL of the options); empty if none was.
  std::string refused() const;
  ChangesHeard changes_heard() const noexcept override;
  bool stores_absent() const noexcept override { return true; }
  void set_events(BackendEvents* events) override;

  // Cluster mode (cluster_backend.hpp) sends through these, one call per node per batch: keys
  // come prefixed, and a redirect the node answers is handed back, not followed.
  using SlotReadDone = std::function<void(Redirect, std::vector<Result<BackendValue>>)>;
  struct SlotRead {
    std::vector<std::string> keys;  // prefixed, all in one slot (one script call)
    bool asking = false;            // ASKING first: the answer to an ASK redirect
    SlotReadDone done;
  };
  void read_slots(std::vector<SlotRead> reads);
  using SlotWriteDone = std::function<void(Redirect, Result<void>)>;
  struct SlotWrite {
    std::string command;  // format_write()
    bool asking = false;
    SlotWriteDone done;
  };
  void write_slots(std::vector<SlotWrite> writes);
  // The command for `w`, its key prefixed; formatted on the caller's thread.
  static std::string format_write(const BackendWrite& w, std::string_view key_prefix);

 private:
  RedisBackend(std::unique_ptr<EventLoop> loop, std::string key_prefix, std::size_t max_value_bytes,
               InvalidationMode invalidation);
  // Loop thread, all of them.
  RedisConnection& tracking_connection() const;
  void tracking_ready_changed(bool ready);
  void subscriber_ready_changed(bool ready);
  // The subscriber's heartbeat was answered: the moment to try a refused CLIENT TRACKING again.
  void subscriber_heard();
  // Turns tracking off and on again with REDIRECT to the subscriber, if both sides are up.
  void enable_tracking();
  void update_coherence();
  void deliver(const redisReply& payload);
  std::string prefixed(const std::string& key) const { return key_prefix_ + key; }
  // Loop thread: queues the read script for `keys` (already prefixed); the caller writes it.
  void send_read(std::vector<std::string> keys, bool asking, SlotReadDone done, bool legacy);
  // Loop thread: queues one write; the caller writes it.
  void send_write(SlotWrite write);

  const std::string key_prefix_;
  const std::size_t max_value_bytes_;
  std::unique_ptr<EventLoop> loop_;
  // Created and destroyed on the loop thread.
  std::unique_ptr<RedisConnection> reads_;
  std::unique_ptr<RedisConnection> writes_;
  bool legacy_script_ = false;  // loop thread: the server refused kReadScript's flags

  const InvalidationMode invalidation_;
  std::unique_ptr<RedisConnection> subscriber_;  // with invalidation only; loop thread
  // Loop thread: what the tracking side knows.
  BackendEvents* events_ = nullptr;
  bool subscriber_ready_ = false;
  bool tracking_ready_ = false;
  long long tracking_redirect_ = 0;        // the CLIENT ID tracking now redirects to; 0: none
  std::uint64_t tracking_generation_ = 0;  // bumped when either side comes or goes
  // Redis refused CLIENT TRACKING (an ACL, a busy script): tried again at the first heartbeat
  // after tracking_retry_at_, every reconnect_backoff_max.
  bool tracking_refused_ = false;
  Clock::time_point tracking_retry_at_;
  Clock::duration tracking_retry_interval_{};
  bool coherent_ = false;
  std::atomic<bool> coherent_any_thread_{false};
};

}  // namespace tiercache::redis
