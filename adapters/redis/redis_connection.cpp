#include "adapters/redis/redis_connection.hpp"

#include <hiredis/sds.h>
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <algorithm>
#include <charconv>
#include <utility>

#include "adapters/redis/handshake_refusal.hpp"
#include "adapters/redis/host_lookup.hpp"
#include "adapters/redis/not_serving.hpp"
#include "adapters/redis/resp.hpp"

namespace tiercache::redis {
namespace {

// Bytes hiredis's output buffer may hold before more commands wait in the outbox: large enough
// to keep a fast link busy, small enough that hiredis's move-down after each partial write stays
// cheap. A single larger command still goes, alone.
constexpr std::size_t kMaxUnsentBytes = std::size_t{1} << 20;
// How far apart pump()'s looks at the send queue may be: the most a later command's
// acknowledgement can move the oldest command's clock.
constexpr auto kLookGap = std::chrono::milliseconds(1);
// The channel Redis sends invalidation messages to, in RESP2 (CLIENT TRACKING ... REDIRECT).
constexpr std::string_view kInvalidationChannel = "__redis__:invalidate";
// Lost write connections remembered for fencing; more means a server that never answers a
// handshake, whose oldest connections it has long dropped.
constexpr std::size_t kMaxUnfenced = 8;

// The server process's run_id in an INFO reply ("" if absent): 40 hex characters, new with
// every start of redis-server.
std::string run_id_in(std::string_view info) {
  constexpr std::string_view kField = "run_id:";
  const std::size_t at = info.find(kField);
  if (at == std::string_view::npos) return {};
  const std::size_t begin = at + kField.size();
  const std::size_t end = info.find_first_of("\r\n", begin);
  return std::string(info.substr(begin, end == std::string_view::npos ? end : end - begin));
}

RedisConnection* self_of(const redisAsyncContext* ac) {
  return static_cast<RedisConnection*>(ac->data);
}

Error make_error(errc code, std::string detail) {
  return Error{make_error_code(code), std::move(detail)};
}

std::string reply_text(const redisReply* r) {
  return r->str != nullptr ? std::string(r->str, r->len) : std::string();
}

// An error reply that means "this command is not for you here", not "go away".
bool is_not_supported(const std::string& error) {
  return error.starts_with("NOPERM") || error.find("nknown") != std::string::npos;
}

// When the peer last acknowledged bytes on TCP socket `fd`, to the kernel's tick (a few ms);
// `now` where the socket cannot say (a Unix socket, whose queued bytes count as delivered only
// once the server read them).
Clock::time_point acknowledged_at(int fd, Clock::time_point now) {
  tcp_info info{};
  socklen_t size = sizeof info;
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &size) != 0 ||
      size < offsetof(tcp_info, tcpi_last_ack_recv) + sizeof info.tcpi_last_ack_recv)
    return now;
  return now - std::chrono::milliseconds(info.tcpi_last_ack_recv);
}

}  // namespace

RedisConnection::RedisConnection(EventLoop& loop, const Endpoint& endpoint, std::string name,
                                 Role role, const ReplyBounds& bounds)
    : loop_(loop),
      endpoint_(endpoint),
      name_(std::move(name)),
      role_(role),
      guard_(bounds),
      backoff_(endpoint_.backoff_min) {
  guard_.expect([this] {
    // hiredis hands replies to the commands sent, in order, before any pub/sub message: the
    // front of pending_ is the command this reply answers (the earlier ones' callbacks ran).
    NextReply next;
    next.awaited = !pending_.empty();
    next.subscribed = ac_ != nullptr && (ac_->c.flags & REDIS_SUBSCRIBED) != 0;
    if (next.awaited) next.max_bytes = pending_.front()->max_reply_bytes;
    return next;
  });
  loop_.attach(this);
}

RedisConnection::~RedisConnection() {
  closing_ = true;
  if (ac_ != nullptr) {
    drop_ = Drop{errc::closed, name_ + ": the cache is closing"};
    drop_now();
  }
  // Commands that never reached hiredis.
  context_gone(errc::closed, name_ + ": the cache is closing");
  loop_.detach(this);
}

RedisConnection::Health RedisConnection::health_any_thread() const {
  Health h;
  h.ready = is_ready_any_thread();
  h.reconnects = reconnects_.load(std::memory_order_relaxed);
  std::lock_guard lock(health_mu_);
  h.last_error = last_error_;
  h.refused = refused_;
  return h;
}

void RedisConnection::set_last_error(std::string detail) {
  std::lock_guard lock(health_mu_);
  last_error_ = std::move(detail);
}

void RedisConnection::start() {
  connect_now();
}

int RedisConnection::fd() const {
  return ac_ != nullptr ? ac_->c.fd : -1;
}

void RedisConnection::set_state(State s) {
  const bool was_ready = state_ == State::ready;
  state_ = s;
  // Release: a caller that sees ready may rely on the handshake having been answered.
  ready_.store(s == State::ready, std::memory_order_release);
  if (was_ready != (s == State::ready) && ready_fn_) ready_fn_(s == State::ready);
}

void RedisConnection::connect_now() {
  reconnect_at_ = Clock::time_point::max();
  // connect_timeout covers the lookup, the connect and the handshake together.
  connect_deadline_ = Clock::now() + endpoint_.connect_timeout;
  if (!endpoint_.unix_socket.empty() || HostLookup::is_numeric(endpoint_.host))
    return connect_to(endpoint_.host);
  // A name: resolved off this thread (host_lookup.hpp); on_tick() connects once it is done.
  const int wake = loop_.dup_wake_fd();
  if (wake < 0)
    return context_gone(errc::backend_unavailable,
                        name_ + ": no descriptor to resolve " + endpoint_.host + " with");
  lookup_ = HostLookup::start(endpoint_.host, endpoint_.port, wake);
  set_state(State::resolving);
}

void RedisConnection::connect_to(const std::string& address) {
  ac_ = endpoint_.unix_socket.empty() ? redisAsyncConnect(address.c_str(), endpoint_.port)
                                      : redisAsyncConnectUnix(endpoint_.unix_socket.c_str());
  if (ac_ == nullptr || ac_->err) {
    const std::string why = ac_ != nullptr ? ac_->errstr : "out of memory";
    if (ac_ != nullptr) redisAsyncFree(ac_);
    ac_ = nullptr;
    context_gone(errc::backend_unavailable,
                 name_ + ": connect to " + endpoint_.address() + " failed: " + why);
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
  guard_.attach(ac_->c.reader);
  redisAsyncSetConnectCallback(ac_, &RedisConnection::on_connect);
  redisAsyncSetDisconnectCallback(ac_, &RedisConnection::on_disconnect);
  // hiredis asks for a write event to learn when the non-blocking connect finished.
  want_write_ = true;
  pushed_bytes_ = delivered_bytes_ = 0;
  client_id_ = 0;
  set_state(State::connecting);
}

void RedisConnection::on_connect(const redisAsyncContext* ac, int status) {
  RedisConnection* self = self_of(ac);
  if (status != REDIS_OK) {
    // hiredis frees the context after this callback, without on_disconnect.
    self->context_gone(
        errc::backend_unavailable,
        self->name_ + ": connect to " + self->endpoint_.address() + " failed: " + ac->errstr);
    return;
  }
  self->send_handshake();
}

void RedisConnection::send_handshake() {
  set_state(State::handshaking);
  handshake_failed_ = false;
  handshake_left_ = 0;
  last_reply_ = last_heartbeat_ = Clock::now();
  heartbeat_outstanding_ = false;
  // A refusal of these must stop everything: commands must not run as someone else or in
  // another database.
  auto required = [this](const char* what) {
    ++handshake_left_;
    return [this, what](const redisReply* reply, const Error* error) {
      if (error != nullptr) return;  // the connection is going; context_gone says why
      // After a refused AUTH, the NOAUTH of the steps pipelined behind it says nothing more.
      if (handshake_failed_) return;
      if (reply->type == REDIS_REPLY_ERROR) {
        handshake_failed_ = true;
        const std::string text = reply_text(reply);
        if (is_refused_for_good(text)) note_refusal(std::string(what) + " refused: " + text);
        request_drop(errc::backend_error, name_ + ": " + what + " failed: " + text);
        return;
      }
      handshake_answered();
    };
  };
  // Wanted, not required: a server or ACL user without CLIENT ID / CLIENT KILL still serves; the
  // fence is then left out (docs/configuration.md says which ACL rules keep it).
  auto optional = [this](auto on_answer) {
    ++handshake_left_;
    return [this, on_answer](const redisReply* reply, const Error* error) {
      if (error != nullptr) return;
      on_answer(reply);
      handshake_answered();
    };
  };
  if (!endpoint_.password.empty()) {
    send_unchecked(endpoint_.user.empty()
                       ? format_command({"AUTH", endpoint_.password})
                       : format_command({"AUTH", endpoint_.user, endpoint_.password}),
                   required("AUTH"));
  }
  // Invalidation messages name keys of every database: a subscriber selects none.
  if (endpoint_.db != 0 && role_ != Role::subscriber) {
    send_unchecked(format_command({"SELECT", std::to_string(endpoint_.db)}), required("SELECT"));
  }
  // Without it a replica redirects every read to its master.
  if (endpoint_.readonly && role_ == Role::reads)
    send_unchecked(format_command({"READONLY"}), required("READONLY"));
  send_unchecked(format_command({"CLIENT", "ID"}), optional([this](const redisReply* r) {
                   if (r->type == REDIS_REPLY_INTEGER) client_id_ = r->integer;
                   // Not allowed or not known (an ACL user, an old server, a proxy): serve on
                   // without it. Any other refusal is the server turning the connection away,
                   // as one at maxclients does before it closes.
                   if (handshake_failed_) return;
                   if (r->type == REDIS_REPLY_ERROR && !is_not_supported(reply_text(r))) {
                     handshake_failed_ = true;
                     // No password given to a server that wants one.
                     if (is_refused_for_good(reply_text(r)))
                       note_refusal("CLIENT ID refused: " + reply_text(r));
                     request_drop(errc::backend_unavailable,
                                  name_ + ": " + endpoint_.address() +
                                      " refused the connection: " + reply_text(r));
                   }
                 }));
  // A server loading its data answers the handshake above (CLIENT ID, INFO) but no command:
  // such a connection is not ready. Another error (an ACL user without PING; MISCONF, which
  // refuses PING but serves reads) is no matter.
  if (role_ != Role::subscriber) {
    send_unchecked(format_command({"PING"}), optional([this](const redisReply* r) {
                     if (handshake_failed_ || r->type != REDIS_REPLY_ERROR ||
                         !serves_no_command(reply_text(r)))
                       return;
                     handshake_failed_ = true;
                     request_drop(errc::backend_unavailable,
                                  name_ + ": " + endpoint_.address() +
                                      " does not serve yet: " + reply_text(r));
                   }));
  }
  if (role_ == Role::writes) {
    server_run_id_.clear();
    // The fence waits for the server's run_id: sent from this reply, the kills still come
    // before any write, which waits for the whole handshake.
    send_unchecked(
        format_command({"INFO", "server"}), optional([this, optional](const redisReply* r) {
          // A handshake already refused (AUTH) goes no further; its connection is dropped.
          if (handshake_failed_) return;
          if (r->type == REDIS_REPLY_STRING) server_run_id_ = run_id_in({r->str, r->len});
          const std::vector<Unfenced> lost = unfenced_;
          for (const Unfenced& u : lost) {
            // Gone with its server process: nothing of it can run any more. Only when both
            // processes are known: an unknown one (INFO refused) may be the same.
            if (!u.run_id.empty() && !server_run_id_.empty() && u.run_id != server_run_id_) {
              std::erase_if(unfenced_, [&](const Unfenced& x) { return x.id == u.id; });
              continue;
            }
            const long long id = u.id;
            send_unchecked(format_command({"CLIENT", "KILL", "ID", std::to_string(id)}),
                           optional([this, id](const redisReply* k) {
                             // Killed or already gone (a count), or never allowed (NOPERM):
                             // done with it. A passing refusal (LOADING, BUSY) keeps it for
                             // the next handshake.
                             if (k->type == REDIS_REPLY_INTEGER ||
                                 (k->type == REDIS_REPLY_ERROR && is_not_supported(reply_text(k))))
                               std::erase_if(unfenced_,
                                             [&](const Unfenced& x) { return x.id == id; });
                           }));
          }
        }));
  }
  if (role_ == Role::subscriber) {
    // The last step: ready once Redis confirms the subscription (on_subscriber_reply).
    ++handshake_left_;
    subscribe_now();
  }
}

void RedisConnection::subscribe_now() {
  const std::string command = format_command({"SUBSCRIBE", kInvalidationChannel});
  // Not through the outbox: hiredis routes these replies by channel to subscriber_tag_, and
  // they never answer a Pending.
  if (redisAsyncFormattedCommand(ac_, &RedisConnection::on_reply, &subscriber_tag_, command.data(),
                                 command.size()) != REDIS_OK)
    return;  // the context is going
  if (pending_.empty() && pushed_bytes_ == delivered_bytes_) last_progress_ = Clock::now();
  pushed_bytes_ += command.size();
}

void RedisConnection::on_subscriber_reply(const redisReply& r) {
  if (r.type != REDIS_REPLY_ARRAY || r.elements != 3 || r.element[0]->type != REDIS_REPLY_STRING)
    return;
  const std::string_view kind(r.element[0]->str, r.element[0]->len);
  if (kind == "subscribe") {
    last_reply_ = last_progress_ = Clock::now();
    if (state_ == State::handshaking) {
      handshake_answered();
    } else {
      heartbeat_outstanding_ = false;
      if (heartbeat_fn_) heartbeat_fn_();
    }
  } else if (kind == "message") {
    // Progress, like a reply on a data connection: under a heavy stream the heartbeat's
    // answer may queue behind messages for longer than command_timeout, and the connection is
    // plainly alive.
    if (heartbeat_outstanding_)
      heartbeat_deadline_ = std::max(heartbeat_deadline_, Clock::now() + endpoint_.command_timeout);
    if (push_fn_) push_fn_(*r.element[2]);
  }
}

void RedisConnection::handshake_answered() {
  if (--handshake_left_ > 0 || handshake_failed_ || state_ != State::handshaking) return;
  connect_deadline_ = Clock::time_point::max();
  backoff_ = endpoint_.backoff_min;
  if (ever_ready_) reconnects_.fetch_add(1, std::memory_order_relaxed);
  ever_ready_ = true;
  {
    std::lock_guard lock(health_mu_);
    refused_.clear();
  }
  set_state(State::ready);
}

void RedisConnection::note_refusal(std::string what) {
  std::lock_guard lock(health_mu_);
  refused_ = endpoint_.address() + " " + std::move(what);
}

void RedisConnection::on_disconnect(const redisAsyncContext* ac, int) {
  RedisConnection* self = self_of(ac);
  std::string why = self->name_ + ": connection to " + self->endpoint_.address();
  // A reply the guard refused shows as hiredis's "out of memory": say what it was instead.
  if (!self->guard_.refusal().empty())
    why += " dropped: the server sent " + self->guard_.refusal();
  else
    why += ac->err != 0 ? std::string(" lost: ") + ac->errstr : std::string(" lost");
  self->context_gone(errc::backend_unavailable, std::move(why));
}

void RedisConnection::on_reply(redisAsyncContext* ac, void* reply, void* privdata) {
  // A null reply: the context is going away; context_gone() fails every pending command.
  if (reply == nullptr) return;
  RedisConnection* self = self_of(ac);
  if (privdata == &self->subscriber_tag_) {
    self->on_subscriber_reply(*static_cast<const redisReply*>(reply));
    return;
  }
  // hiredis answers in send order, so this is the front; anything else is a broken stream.
  if (self->pending_.empty() || self->pending_.front().get() != privdata) {
    self->request_drop(errc::backend_error, self->name_ + ": a reply arrived out of order");
    return;
  }
  std::unique_ptr<Pending> p = std::move(self->pending_.front());
  self->pending_.pop_front();
  self->last_reply_ = self->last_progress_ = Clock::now();
  const redisReply* r = static_cast<const redisReply*>(reply);
  p->done(r, nullptr);
  if (self->role_ == Role::writes && self->state_ == State::ready) self->after_write_reply(*r);
}

void RedisConnection::after_write_reply(const redisReply& r) {
  if (r.type != REDIS_REPLY_ERROR || !reply_text(&r).starts_with("READONLY ")) return;
  // The writes behind it are refused too, and sent again (overloaded: not held against them,
  // engine/l2/writer.cpp); the writer paces what it sends while Redis refuses.
  request_drop(errc::overloaded, name_ + ": " + endpoint_.address() +
                                     " is a replica now, and takes no writes: " + reply_text(&r));
}

void RedisConnection::send(std::string command, ReplyFn done, std::size_t max_reply_bytes) {
  if (state_ != State::ready) {
    const Error e = make_error(errc::backend_unavailable, not_ready_detail());
    done(nullptr, &e);
    return;
  }
  send_unchecked(std::move(command), std::move(done), max_reply_bytes);
}

std::string RedisConnection::not_ready_detail() const {
  std::string detail = name_ + ": not connected to " + endpoint_.address();
  std::lock_guard lock(health_mu_);
  if (!last_error_.empty())
    detail +=
        (state_ == State::disconnected ? " (breaker open after: " : " (reconnecting after: ") +
        last_error_ + ")";
  return detail;
}

void RedisConnection::send_unchecked(std::string command, ReplyFn done,
                                     std::size_t max_reply_bytes) {
  outbox_.push_back({std::move(command), std::move(done), max_reply_bytes});
  pump();
}

void RedisConnection::pump() {
  // Look before new bytes go out while the oldest command is on its way: once they are sent,
  // their acknowledgement is the latest, and a look after it would take its time for the oldest
  // command's delivery (note_progress), restarting that command's clock up to command_timeout
  // late. At most one look per kLookGap: a pipelined burst pays one syscall, not one a command.
  if (ac_ != nullptr && !outbox_.empty() && oldest_on_its_way()) {
    const Clock::time_point now = Clock::now();
    if (now >= last_look_ + kLookGap) note_progress(now);
  }
  while (ac_ != nullptr && !outbox_.empty() && sdslen(ac_->c.obuf) < kMaxUnsentBytes) {
    Outgoing& next = outbox_.front();
    auto p = std::make_unique<Pending>();
    if (redisAsyncFormattedCommand(ac_, &RedisConnection::on_reply, p.get(), next.command.data(),
                                   next.command.size()) != REDIS_OK)
      break;  // the context is going; context_gone() fails the outbox
    // An idle connection starts waiting now: its clock for command_timeout starts here.
    if (pending_.empty()) last_progress_ = Clock::now();
    pushed_bytes_ += next.command.size();
    p->end_byte = pushed_bytes_;
    p->done = std::move(next.done);
    p->max_reply_bytes = next.max_reply_bytes;
    pending_.push_back(std::move(p));
    outbox_.pop_front();
  }
}

void RedisConnection::write_now() {
  if (ac_ == nullptr || !want_write_ || in_hiredis_ || state_ != State::ready) return;
  in_hiredis_ = true;
  redisAsyncHandleWrite(ac_);
  in_hiredis_ = false;
  after_hiredis();
}

void RedisConnection::note_progress(Clock::time_point now) {
  if (ac_ == nullptr) return;
  last_look_ = now;
  // Bytes that reached the server: handed to hiredis, out of its buffer, and out of the
  // kernel's send queue (SIOCOUTQ: bytes not yet acknowledged by the peer).
  int in_kernel = 0;
  if (ioctl(ac_->c.fd, SIOCOUTQ, &in_kernel) != 0) in_kernel = 0;
  const std::uint64_t not_delivered = sdslen(ac_->c.obuf) + static_cast<std::uint64_t>(in_kernel);
  const std::uint64_t delivered =
      pushed_bytes_ - std::min<std::uint64_t>(pushed_bytes_, not_delivered);
  // Only a rise is progress: on a Unix socket SIOCOUTQ counts the kernel's buffers, not bytes, so
  // a new command can make `delivered` fall.
  if (delivered <= delivered_bytes_) return;
  // Our bytes count only while the oldest command is still on its way: once it is with the
  // server, only a reply shows that the server works (a paused server's kernel acknowledges
  // every command sent after it, and a steady stream of them would keep the connection up for
  // good). Timed by the acknowledgement, not by the look: a look command_timeout after the
  // send would otherwise give a paused server twice command_timeout.
  if (oldest_on_its_way())
    last_progress_ = std::max(last_progress_, acknowledged_at(ac_->c.fd, now));
  delivered_bytes_ = delivered;
}

void RedisConnection::after_hiredis() {
  if (drop_ && ac_ != nullptr) drop_now();
  if (ac_ == nullptr) return;
  note_progress(Clock::now());
  if (!outbox_.empty() && !in_hiredis_) pump();
}

void RedisConnection::on_ready(bool readable, bool writable) {
  if (ac_ != nullptr && readable) {
    in_hiredis_ = true;
    redisAsyncHandleRead(ac_);
    in_hiredis_ = false;
    // Bytes of a reply arrived (an end of stream drops the context instead): a large reply on a
    // slow link is progress, not a dead server.
    last_progress_ = Clock::now();
    // hiredis buffers a reply until it is whole: bound what it may hold for one.
    const std::size_t max_buffered = guard_.bounds().max_string_bytes;
    if (ac_ != nullptr && ac_->c.reader->len - ac_->c.reader->pos > max_buffered)
      request_drop(errc::backend_error,
                   name_ + ": a reply exceeds " + std::to_string(max_buffered) + " bytes");
  }
  // The read may have ended the connection, which frees the context.
  if (ac_ != nullptr && writable && !drop_) {
    in_hiredis_ = true;
    redisAsyncHandleWrite(ac_);
    in_hiredis_ = false;
  }
  after_hiredis();
}

void RedisConnection::request_drop(errc code, std::string detail) {
  if (!drop_) drop_ = Drop{code, std::move(detail)};
  if (!in_hiredis_ && ac_ != nullptr) drop_now();
}

void RedisConnection::drop_now() {
  redisAsyncContext* ac = ac_;
  in_hiredis_ = true;
  // Runs every pending callback with no reply, then on_disconnect if it was connected, which
  // calls context_gone() with drop_'s reason.
  redisAsyncFree(ac);
  in_hiredis_ = false;
  if (ac_ != nullptr) {
    const Drop d = drop_.value_or(Drop{errc::backend_unavailable, name_ + ": dropped"});
    context_gone(d.code, d.detail);
  }
}

void RedisConnection::context_gone(errc code, std::string detail) {
  // A drop asked for before the context went says better why it went; either way it is done.
  if (drop_) {
    code = drop_->code;
    detail = std::move(drop_->detail);
    drop_.reset();
  }
  ac_ = nullptr;
  lookup_.reset();
  want_read_ = want_write_ = false;
  connect_deadline_ = Clock::time_point::max();
  set_state(State::disconnected);
  // A write connection that got as far as CLIENT ID may hold writes the server has not read.
  if (role_ == RedisConnection::Role::writes && client_id_ != 0) {
    unfenced_.push_back({client_id_, server_run_id_});
    if (unfenced_.size() > kMaxUnfenced) unfenced_.erase(unfenced_.begin());
  }
  client_id_ = 0;
  if (code != errc::closed) set_last_error(detail);
  std::deque<std::unique_ptr<Pending>> pending = std::move(pending_);
  std::deque<Outgoing> outbox = std::move(outbox_);
  pending_.clear();
  outbox_.clear();
  // Sent or not, every command on the connection gets the same code: a sent command's outcome
  // is unknown whatever ended the connection (a timeout, a reply out of order or too large), so
  // backend_unavailable, timeout or overloaded (Redis refused a write for now, after_write_reply),
  // which a writer sends again, never a final error that would call a landed write refused; and
  // one never sent is no more to blame than the sent ones.
  const Error error =
      make_error(code == errc::closed || code == errc::timeout || code == errc::overloaded
                     ? code
                     : errc::backend_unavailable,
                 detail);
  for (auto& p : pending) p->done(nullptr, &error);
  for (auto& o : outbox) o.done(nullptr, &error);
  if (closing_) return;
  reconnect_at_ = Clock::now() + backoff_;
  backoff_ = std::min(backoff_ * 2, endpoint_.backoff_max);
}

void RedisConnection::on_tick(Clock::time_point now) {
  if (drop_ && ac_ != nullptr) drop_now();
  if (lookup_ != nullptr) {
    if (lookup_->is_done()) {
      Result<std::string> address = lookup_->result();
      lookup_.reset();
      if (!address)
        return context_gone(errc::backend_unavailable, name_ + ": " + address.error().detail);
      connect_to(*address);
    } else if (now >= connect_deadline_) {
      // The lookup goes on alone; its answer is not waited for any more.
      return context_gone(errc::backend_unavailable, name_ + ": resolving " + endpoint_.host +
                                                         " took longer than connect_timeout");
    } else {
      return;
    }
  }
  if (ac_ != nullptr) {
    if (state_ != State::ready) {
      if (now >= connect_deadline_)
        request_drop(errc::backend_unavailable,
                     name_ + ": " + endpoint_.address() +
                         (state_ == State::connecting ? " did not accept a connection"
                                                      : " did not answer the handshake") +
                         " within connect_timeout");
    } else if (!pending_.empty() && now >= last_progress_ + endpoint_.command_timeout) {
      // Look again before giving up: the kernel may have delivered bytes since the last look.
      note_progress(now);
      if (now >= last_progress_ + endpoint_.command_timeout)
        request_drop(errc::timeout, name_ + ": no progress within command_timeout (" +
                                        std::to_string(endpoint_.command_timeout.count()) +
                                        "ms): nothing delivered, nothing answered");
    } else if (role_ == Role::subscriber) {
      if (!heartbeat_outstanding_ && now >= last_heartbeat_ + endpoint_.invalidation_heartbeat) {
        last_heartbeat_ = now;
        heartbeat_outstanding_ = true;
        heartbeat_deadline_ = now + endpoint_.command_timeout;
        subscribe_now();
        write_now();
      } else if (heartbeat_outstanding_ && now >= heartbeat_deadline_) {
        request_drop(errc::timeout, name_ +
                                        ": no answer to the heartbeat within command_timeout (" +
                                        std::to_string(endpoint_.command_timeout.count()) +
                                        "ms): invalidations may be lost");
      }
    } else if (pending_.empty() && outbox_.empty() &&
               now >= last_reply_ + endpoint_.health_check_interval) {
      // The liveness check: its command_timeout drops a connection that died silently.
      last_reply_ = now;
      send_unchecked(format_command({"PING"}), [](const redisReply*, const Error*) {});
      write_now();
    }
  }
  if (ac_ == nullptr && !closing_ && now >= reconnect_at_) connect_now();
}

Clock::time_point RedisConnection::next_deadline() const {
  if (drop_) return Clock::time_point::min();
  if (lookup_ != nullptr) return connect_deadline_;
  if (ac_ == nullptr) return reconnect_at_;
  if (state_ != State::ready) return connect_deadline_;
  if (!pending_.empty()) return last_progress_ + endpoint_.command_timeout;
  if (role_ == Role::subscriber)
    return heartbeat_outstanding_ ? heartbeat_deadline_
                                  : last_heartbeat_ + endpoint_.invalidation_heartbeat;
  if (outbox_.empty()) return last_reply_ + endpoint_.health_check_interval;
  return Clock::time_point::max();
}

}  // namespace tiercache::redis
