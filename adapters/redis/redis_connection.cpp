#include "adapters/redis/redis_connection.hpp"

#include <algorithm>
#include <string>

namespace tiercache::redis {
namespace {

Error make_error(errc code, std::string detail) {
  return Error{make_error_code(code), detail};
}

RedisConnection* self_of(const redisAsyncContext* ac) {
  return static_cast<RedisConnection*>(ac->data);
}

}  // namespace

RedisConnection::RedisConnection(EventLoop& loop, Endpoint endpoint, std::string name)
    : loop_(loop),
      endpoint_(std::move(endpoint)),
      name_(std::move(name)),
      backoff_(endpoint_.backoff_min) {
  loop_.attach(this);
}

RedisConnection::~RedisConnection() {
  drop_context(errc::closed, "the cache is closing");
  loop_.detach(this);
}

void RedisConnection::start() {
  connect_now();
}

int RedisConnection::fd() const {
  return ac_ != nullptr ? ac_->c.fd : -1;
}

void RedisConnection::set_state(State s) {
  state_ = s;
  // Release: a caller that sees ready may rely on the connect having happened.
  ready_.store(s == State::ready, std::memory_order_release);
}

void RedisConnection::connect_now() {
  reconnect_at_ = Clock::time_point::max();
  ac_ = endpoint_.unix_socket.empty() ? redisAsyncConnect(endpoint_.host.c_str(), endpoint_.port)
                                      : redisAsyncConnectUnix(endpoint_.unix_socket.c_str());
  if (ac_ == nullptr || ac_->err) {
    const std::string why = ac_ != nullptr ? ac_->errstr : "out of memory";
    if (ac_ != nullptr) redisAsyncFree(ac_);
    ac_ = nullptr;
    lost(errc::backend_unavailable, name_ + ": connect failed: " + why);
    return;
  }
  ac_->data = this;
  ac_->ev.data = this;
  ac_->ev.addRead = [](void* p) { static_cast<RedisConnection*>(p)->want_read_ = true; };
  ac_->ev.delRead = [](void* p) { static_cast<RedisConnection*>(p)->want_read_ = false; };
  ac_->ev.addWrite = [](void* p) { static_cast<RedisConnection*>(p)->want_write_ = true; };
  ac_->ev.delWrite = [](void* p) { static_cast<RedisConnection*>(p)->want_write_ = false; };
  ac_->ev.cleanup = [](void* p) {
    auto* self = static_cast<RedisConnection*>(p);
    self->want_read_ = self->want_write_ = false;
  };
  redisAsyncSetConnectCallback(ac_, &RedisConnection::on_connect);
  redisAsyncSetDisconnectCallback(ac_, &RedisConnection::on_disconnect);
  // hiredis asks for a write event to learn when the non-blocking connect finished.
  want_write_ = true;
  set_state(State::connecting);
  connect_deadline_ = Clock::now() + endpoint_.connect_timeout;
}

void RedisConnection::on_connect(const redisAsyncContext* ac, int status) {
  RedisConnection* self = self_of(ac);
  self->connect_deadline_ = Clock::time_point::max();
  if (status != REDIS_OK) {
    // hiredis frees the context after this callback.
    const std::string why = ac->errstr;
    self->ac_ = nullptr;
    self->lost(errc::backend_unavailable, self->name_ + ": connect failed: " + why);
    return;
  }
  self->handshake_error_.clear();
  self->send_handshake();
}

void RedisConnection::send_handshake() {
  handshake_left_ = (endpoint_.password.empty() ? 0 : 1) + (endpoint_.db != 0 ? 1 : 0);
  if (handshake_left_ == 0) return set_state(State::ready);
  set_state(State::handshaking);
  auto check = [this](const char* what) {
    return [this, what](const redisReply* reply, const Error* error) {
      if (error != nullptr) return;  // the connection is going; lost() says why
      if (reply->type == REDIS_REPLY_ERROR) {
        // A wrong password or database must not let commands run as someone else or elsewhere.
        handshake_error_ = name_ + ": " + what + " failed: " + std::string(reply->str, reply->len);
        drop_requested_ = true;
        drop_code_ = errc::backend_error;
        drop_detail_ = handshake_error_;
      } else if (--handshake_left_ == 0 && !drop_requested_) {
        set_state(State::ready);
      }
    };
  };
  if (!endpoint_.password.empty()) {
    if (endpoint_.user.empty()) {
      send_unchecked({"AUTH", endpoint_.password}, check("AUTH"));
    } else {
      send_unchecked({"AUTH", endpoint_.user, endpoint_.password}, check("AUTH"));
    }
  }
  if (endpoint_.db != 0) {
    const std::string db = std::to_string(endpoint_.db);
    send_unchecked({"SELECT", db}, check("SELECT"));
  }
}

void RedisConnection::on_disconnect(const redisAsyncContext* ac, int) {
  RedisConnection* self = self_of(ac);
  // hiredis frees the context after this callback (or is freeing it on our request).
  self->ac_ = nullptr;
  self->lost(self->drop_requested_ ? self->drop_code_ : errc::backend_unavailable,
             self->drop_requested_ ? self->drop_detail_ : self->name_ + ": connection lost");
}

void RedisConnection::on_reply(redisAsyncContext* ac, void* reply, void* privdata) {
  RedisConnection* self = self_of(ac);
  auto* p = static_cast<Pending*>(privdata);
  auto it = std::find(self->pending_.begin(), self->pending_.end(), p);
  if (it != self->pending_.end()) self->pending_.erase(it);
  if (reply == nullptr) {
    // The context is going away with this command unanswered.
    const Error e =
        make_error(self->drop_requested_ ? self->drop_code_ : errc::backend_unavailable,
                   self->drop_requested_ ? self->drop_detail_ : self->name_ + ": connection lost");
    p->done(nullptr, &e);
  } else {
    // Only an answer proves the server healthy: a paused server still accepts connections, so
    // resetting the backoff on connect would retry it at full rate. Until then, each failure
    // doubles the time this connection spends failing fast (the breaker's open state). A
    // refused AUTH is an answer too, but not a healthy one.
    const auto* r = static_cast<const redisReply*>(reply);
    if (r->type != REDIS_REPLY_ERROR) self->backoff_ = self->endpoint_.backoff_min;
    p->done(static_cast<const redisReply*>(reply), nullptr);
  }
  delete p;
}

void RedisConnection::send(const std::vector<std::string_view>& argv, ReplyFn done) {
  if (state_ != State::ready || ac_ == nullptr) {
    const Error e =
        make_error(errc::backend_unavailable,
                   handshake_error_.empty() ? name_ + ": not connected" : handshake_error_);
    done(nullptr, &e);
    return;
  }
  send_unchecked(argv, std::move(done));
}

void RedisConnection::send_unchecked(const std::vector<std::string_view>& argv, ReplyFn done) {
  std::vector<const char*> args;
  std::vector<size_t> lens;
  args.reserve(argv.size());
  lens.reserve(argv.size());
  for (std::string_view a : argv) {
    args.push_back(a.data());
    lens.push_back(a.size());
  }
  auto* p = new Pending{std::move(done), Clock::now() + endpoint_.command_timeout};
  if (redisAsyncCommandArgv(ac_, &RedisConnection::on_reply, p, static_cast<int>(args.size()),
                            args.data(), lens.data()) != REDIS_OK) {
    const Error e = make_error(errc::backend_unavailable, name_ + ": command not sent");
    p->done(nullptr, &e);
    delete p;
    return;
  }
  pending_.push_back(p);
}

void RedisConnection::on_ready(bool readable, bool writable) {
  if (ac_ != nullptr && readable) redisAsyncHandleRead(ac_);
  // The read may have ended the connection, which frees the context.
  if (ac_ != nullptr && writable) redisAsyncHandleWrite(ac_);
}

void RedisConnection::drop_context(errc why, const std::string& detail) {
  if (ac_ != nullptr) {
    drop_requested_ = true;
    drop_code_ = why;
    drop_detail_ = detail;
    redisAsyncContext* ac = ac_;
    const bool was_connecting = state_ == State::connecting;
    // Runs every pending callback with no reply, then on_disconnect if it was connected.
    redisAsyncFree(ac);
    if (ac_ != nullptr || was_connecting) {
      ac_ = nullptr;
      lost(why, detail);
    }
  }
  drop_requested_ = false;
}

void RedisConnection::lost(errc why, const std::string& detail) {
  set_state(State::disconnected);
  want_read_ = want_write_ = false;
  connect_deadline_ = Clock::time_point::max();
  while (!pending_.empty()) {
    Pending* p = pending_.front();
    pending_.pop_front();
    const Error e = make_error(why, detail);
    p->done(nullptr, &e);
    delete p;
  }
  if (why == errc::closed) return;
  reconnect_at_ = Clock::now() + backoff_;
  backoff_ = std::min(backoff_ * 2, endpoint_.backoff_max);
}

void RedisConnection::on_tick(Clock::time_point now) {
  if (drop_requested_ && ac_ != nullptr) {
    drop_context(drop_code_, drop_detail_);
  } else if (state_ == State::connecting && now >= connect_deadline_) {
    drop_context(errc::backend_unavailable, name_ + ": no connection within connect_timeout");
  } else if (!pending_.empty() && now >= pending_.front()->deadline) {
    drop_context(errc::timeout, name_ + ": no reply within command_timeout");
  }
  if (ac_ == nullptr && now >= reconnect_at_) connect_now();
}

Clock::time_point RedisConnection::next_deadline() const {
  auto d = std::min(connect_deadline_, reconnect_at_);
  if (!pending_.empty()) d = std::min(d, pending_.front()->deadline);
  if (drop_requested_) d = Clock::time_point::min();
  return d;
}

}  // namespace tiercache::redis
