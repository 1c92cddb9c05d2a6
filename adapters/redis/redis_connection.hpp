// adapters/redis/redis_connection.hpp — one redisAsyncContext on the EventLoop, kept connected.
//
//   disconnected ─▶ connecting ─connect cb─▶ handshaking ─AUTH/SELECT ok─▶ ready
//   ─error/EOF/timeout─┐
//        ▲              │ fail / connect_timeout     │ refused │ └──── backoff
//        (reconnect_backoff_min, doubling to _max) ◀──────────────────────────────────┘
//
// The backoff is the circuit breaker: while disconnected every command fails at once with
// backend_unavailable, each reconnect is the probe, and only a reply (not a connect: a paused
// server still accepts) resets the backoff to its minimum.
// On connect it sends AUTH and SELECT and accepts commands only once both said OK: a command
// pipelined behind a refused SELECT would run in database 0. hiredis has no async timeouts: every
// command carries a deadline and the first one to pass drops the connection, which fails every
// command in flight (a reply stream cannot skip one reply). The context is never freed inside one
// of its own callbacks: callbacks only mark it, on_tick() frees it after the loop's turn.
//
// Threads: everything here runs on the loop thread, but is_ready_any_thread().
#pragma once

#include <hiredis/async.h>

#include <atomic>
#include <deque>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/redis/endpoint.hpp"
#include "adapters/redis/event_loop.hpp"
#include "tiercache/error.hpp"

namespace tiercache::redis {

class RedisConnection final : public EventLoop::Source {
 public:
  // The reply, valid only during the call; nullptr exactly when `error` is set.
  using ReplyFn = std::function<void(const redisReply* reply, const Error* error)>;

  RedisConnection(EventLoop& loop, Endpoint endpoint, std::string name);
  // Fails what is in flight with errc::closed. Loop thread.
  ~RedisConnection() override;

  // Starts connecting. Loop thread.
  void start();
  bool is_ready_any_thread() const noexcept { return ready_.load(std::memory_order_acquire); }
  // Sends one command; `done` runs exactly once. Fails at once with backend_unavailable when
  // the connection is not ready.
  void send(const std::vector<std::string_view>& argv, ReplyFn done);

  int fd() const override;
  bool wants_read() const override { return want_read_; }
  bool wants_write() const override { return want_write_; }
  void on_ready(bool readable, bool writable) override;
  void on_tick(Clock::time_point now) override;
  Clock::time_point next_deadline() const override;

 private:
  enum class State { disconnected, connecting, handshaking, ready };
  struct Pending {
    ReplyFn done;
    Clock::time_point deadline;
  };

  static void on_connect(const redisAsyncContext* ac, int status);
  static void on_disconnect(const redisAsyncContext* ac, int status);
  static void on_reply(redisAsyncContext* ac, void* reply, void* privdata);

  void connect_now();
  void send_handshake();
  void send_unchecked(const std::vector<std::string_view>& argv, ReplyFn done);
  // The connection is gone: its pending commands fail with `why`, a reconnect is scheduled.
  void lost(errc why, const std::string& detail);
  void drop_context(errc why, const std::string& detail);
  void set_state(State s);

  EventLoop& loop_;
  const Endpoint endpoint_;
  const std::string name_;
  redisAsyncContext* ac_ = nullptr;
  State state_ = State::disconnected;
  std::atomic<bool> ready_{false};
  bool want_read_ = false;
  bool want_write_ = false;
  bool drop_requested_ = false;  // a callback asked for the context to go; done in on_tick
  errc drop_code_ = errc::backend_unavailable;
  std::string drop_detail_;
  std::string handshake_error_;   // an AUTH/SELECT failure, reported while disconnected
  int handshake_left_ = 0;        // AUTH/SELECT replies still awaited
  std::deque<Pending*> pending_;  // in send order; hiredis replies in the same order
  Clock::time_point connect_deadline_ = Clock::time_point::max();
  Clock::time_point reconnect_at_ = Clock::time_point::max();
  std::chrono::milliseconds backoff_;
};

}  // namespace tiercache::redis
