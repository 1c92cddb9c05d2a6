// adapters/redis/redis_connection.hpp — one redisAsyncContext on the EventLoop, kept connected,
// with a circuit breaker, a liveness check and a deadline on every command.
//
//   open ──backoff elapsed──▶ half-open: [resolve] + connect + handshake ──answered──▶ closed
//    ▲                              │ refused / no answer in connect_timeout      │
//    └──── backoff doubles ◀────────┴──────── lost / command timeout ◀────────────┘
//
// Closed: commands flow. Open: every command fails at once with backend_unavailable, naming
// the last failure; the backoff runs from reconnect_backoff_min, doubling to _max. Half-open:
// the probe is a new connection whose handshake must be answered (AUTH, SELECT, CLIENT ID), so a
// server that accepts connections but answers nothing (paused, wedged) keeps the breaker open
// instead of swallowing commands; only an answered handshake resets the backoff.
//
// Deadlines: hiredis 0.14.1 has none. While commands wait, the connection must make progress:
// a byte of ours reaching the server (the kernel's send queue draining: SIOCOUTQ), or a byte of
// a reply arriving. command_timeout without either drops it. So a large pipeline or a large
// reply moving slowly over a slow link is not a dead server, and a server that stopped
// answering is found within command_timeout of its last sign of life. A connection that
// carried no reply for health_check_interval is sent a PING, so one that died silently (no
// RST) is found before a caller waits on it. A drop fails every command on the connection (a
// reply stream cannot skip one reply): a read gets timeout, a write is in doubt and the writer
// sends it again.
//
// Flow control: commands wait in an outbox and enter hiredis's output buffer only while it
// holds less than kMaxUnsentBytes: hiredis 0.14 moves the rest of that buffer down after every
// partial write, which makes a huge pipeline quadratic.
//
// Fence (Role::writes): a new write connection's handshake kills the connection it replaces
// (CLIENT KILL ID), before any write. A server that was paused may still hold the old
// connection's unread commands; once killed they can never run after the new connection's
// writes, so a write sent again cannot be overtaken by its stale copy.
//
// Subscriber (Role::subscriber): the connection Redis sends invalidation messages to. Its
// handshake ends with SUBSCRIBE __redis__:invalidate, and it is ready once Redis confirms it.
// RESP2 tells nothing when a subscriber's path dies, so a heartbeat proves it: every
// invalidation_heartbeat the same SUBSCRIBE again (a PING would not do: hiredis 0.14 keeps a
// callback per PING sent in subscribed mode that it never calls), answered by a confirmation
// within command_timeout, or the connection is dropped.
//
// The context is never freed inside one of its own callbacks: callbacks only note a drop, which
// is carried out after hiredis returns.
//
// Threads: everything here runs on the loop thread, but the *_any_thread() members.
#pragma once

#include <hiredis/async.h>

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "adapters/redis/endpoint.hpp"
#include "adapters/redis/event_loop.hpp"
#include "adapters/redis/host_lookup.hpp"
#include "adapters/redis/reply_bounds.hpp"
#include "tiercache/error.hpp"

namespace tiercache::redis {

class RedisConnection final : public EventLoop::Source {
 public:
  // The reply, valid only during the call; nullptr exactly when `error` is set.
  using ReplyFn = std::function<void(const redisReply* reply, const Error* error)>;

  enum class Role {
    reads,
    writes,      // fences the connection it replaces (see the top comment)
    subscriber,  // receives invalidation messages (see the top comment)
  };
  // Role::subscriber: the payload of a message (an array of keys, or nil for "all keys").
  using PushFn = std::function<void(const redisReply& payload)>;
  // The connection became ready (true) or stopped being ready (false). Loop thread.
  using ReadyFn = std::function<void(bool ready)>;
  // Role::subscriber: Redis answered a heartbeat (every invalidation_heartbeat). Loop thread.
  using HeartbeatFn = std::function<void()>;

  struct Health {
    bool ready = false;
    std::string last_error;
    std::uint64_t reconnects = 0;
    // Why the server last turned a handshake away for good (credentials, db or ACL, not a
    // refusal for now); empty once a handshake is answered.
    std::string refused;
  };

  // `bounds` bound every reply (ReplyGuard); their max_string_bytes also the bytes buffered for
  // a reply still arriving.
  RedisConnection(EventLoop& loop, const Endpoint& endpoint, std::string name, Role role,
                  const ReplyBounds& bounds);
  // Fails what is queued or in flight with errc::closed. Loop thread.
  ~RedisConnection() override;

  // Set before start(). Loop thread.
  void on_push(PushFn fn) { push_fn_ = std::move(fn); }
  void on_ready_change(ReadyFn fn) { ready_fn_ = std::move(fn); }
  void on_heartbeat(HeartbeatFn fn) { heartbeat_fn_ = std::move(fn); }
  // Starts connecting. Loop thread.
  void start();
  // This connection's CLIENT ID, 0 if unknown. Loop thread.
  long long client_id() const noexcept { return client_id_; }
  // Records a failure that is not the connection's own (a refused CLIENT TRACKING, a write
  // Redis refused for now), for health_any_thread().
  void note_error(std::string detail) { set_last_error(std::move(detail)); }
  bool is_ready_any_thread() const noexcept { return ready_.load(std::memory_order_acquire); }
  Health health_any_thread() const;
  // Sends one RESP command (format_command); `done` runs exactly once, on the loop thread.
  // Fails at once with backend_unavailable, naming the last failure, unless the connection is
  // ready (the breaker is closed). `max_reply_bytes`: what its reply may cost (ReplyBounds),
  // 0 for the connection's bound; a larger reply drops the connection.
  void send(std::string command, ReplyFn done, std::size_t max_reply_bytes = 0);
  // Writes what send() queued now, rather than on the loop's next turn: one poll less per round
  // trip. Call once after a batch of send()s, not after each (one write per command is slow).
  void write_now();

  int fd() const override;
  bool wants_read() const override { return want_read_; }
  bool wants_write() const override { return want_write_; }
  void on_ready(bool readable, bool writable) override;
  void on_tick(Clock::time_point now) override;
  Clock::time_point next_deadline() const override;

 private:
  enum class State { disconnected, resolving, connecting, handshaking, ready };
  struct Outgoing {
    std::string command;
    ReplyFn done;
    std::size_t max_reply_bytes;
  };
  struct Pending {
    ReplyFn done;
    std::uint64_t end_byte = 0;  // pushed_bytes_ once the command was handed to hiredis
    std::size_t max_reply_bytes = 0;
  };
  struct Drop {
    errc code;
    std::string detail;
  };

  // Role::subscriber: sends SUBSCRIBE (the handshake's last step, and the heartbeat).
  void subscribe_now();
  void on_subscriber_reply(const redisReply& reply);
  // Role::writes, ready: a write's reply, after its callback ran. READONLY drops the connection
  // (errc::overloaded for what was on it): the server became a replica, and a new connection to
  // the endpoint may reach the new master (a DNS name or address that moved with the failover).
  void after_write_reply(const redisReply& reply);

  static void on_connect(const redisAsyncContext* ac, int status);
  static void on_disconnect(const redisAsyncContext* ac, int status);
  static void on_reply(redisAsyncContext* ac, void* reply, void* privdata);

  void connect_now();
  // Starts the hiredis context for a resolved address (or the unix socket).
  void connect_to(const std::string& address);
  void send_handshake();
  void handshake_answered();
  // Queues a command whatever the state (the handshake's own, the health check).
  void send_unchecked(std::string command, ReplyFn done, std::size_t max_reply_bytes = 0);
  // Moves outbox commands into hiredis while its buffer is small.
  void pump();
  // Counts the bytes the server has received; moves last_progress_ if that grew.
  void note_progress(Clock::time_point now);
  // The oldest command waiting for its reply was not yet seen delivered (as of the last look).
  bool oldest_on_its_way() const noexcept {
    return !pending_.empty() && pending_.front()->end_byte > delivered_bytes_;
  }
  // After any call into hiredis: carry out a drop a callback asked for, keep the data moving.
  void after_hiredis();
  // Asks for the context to go: at once, or after hiredis returns if it is inside a callback.
  void request_drop(errc code, std::string detail);
  void drop_now();
  // The context is gone (freed by hiredis or by us): fail what was on it, open the breaker.
  void context_gone(errc code, std::string detail);
  void set_state(State s);
  void set_last_error(std::string detail);
  // Health::refused: `what` was refused for good (is_refused_for_good) by the server.
  void note_refusal(std::string what);
  std::string not_ready_detail() const;

  EventLoop& loop_;
  const Endpoint endpoint_;
  const std::string name_;
  const Role role_;
  ReplyGuard guard_;
  redisAsyncContext* ac_ = nullptr;
  std::shared_ptr<HostLookup> lookup_;  // a host name being resolved (State::resolving)
  State state_ = State::disconnected;
  std::atomic<bool> ready_{false};
  bool want_read_ = false;
  bool want_write_ = false;
  bool in_hiredis_ = false;   // inside redisAsyncHandleRead/Write/Free: no re-entry
  bool closing_ = false;      // the destructor runs: no reconnect
  std::optional<Drop> drop_;  // asked for inside a callback; cleared when the context goes
  int handshake_left_ = 0;    // handshake replies still awaited
  bool handshake_failed_ = false;
  bool ever_ready_ = false;
  long long client_id_ = 0;  // CLIENT ID of this connection; 0 if unknown
  // Role::writes: the run_id of the server process this connection reached ("" if INFO is
  // not allowed). Client IDs restart with the process, so a lost connection is not fenced on a
  // process known to be another: there its ID may be an unrelated client's.
  std::string server_run_id_;
  struct Unfenced {
    long long id;
    std::string run_id;
  };
  // Role::writes: lost connections that may still hold unread writes, until a CLIENT KILL of
  // theirs is answered or their server process is gone. At most kMaxUnfenced, oldest first.
  std::vector<Unfenced> unfenced_;
  std::deque<Outgoing> outbox_;                   // not yet handed to hiredis
  std::deque<std::unique_ptr<Pending>> pending_;  // handed to hiredis, in reply order
  std::uint64_t pushed_bytes_ = 0;                // handed to hiredis on this context
  std::uint64_t delivered_bytes_ = 0;             // of those, received by the server (as last seen)
  // When the connection last moved while commands waited: a byte delivered or received, or
  // the moment it started waiting. command_timeout counts from here.
  Clock::time_point last_progress_;
  Clock::time_point last_look_;   // note_progress's last look at the send queue
  Clock::time_point last_reply_;  // when the server last answered
  Clock::time_point connect_deadline_ = Clock::time_point::max();
  Clock::time_point reconnect_at_ = Clock::time_point::max();
  std::chrono::milliseconds backoff_;

  mutable std::mutex health_mu_;
  std::string last_error_;  // guarded by health_mu_
  std::string refused_;     // guarded by health_mu_; Health::refused
  PushFn push_fn_;
  ReadyFn ready_fn_;
  HeartbeatFn heartbeat_fn_;
  // The privdata of subscriber replies, which hiredis routes by channel, not by send order.
  char subscriber_tag_ = 0;
  bool heartbeat_outstanding_ = false;
  Clock::time_point last_heartbeat_;
  Clock::time_point heartbeat_deadline_;
  std::atomic<std::uint64_t> reconnects_{0};
};

}  // namespace tiercache::redis
