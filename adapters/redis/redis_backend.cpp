#include "adapters/redis/redis_backend.hpp"

#include <future>
#include <thread>

#include "adapters/redis/make_redis_backend.hpp"
#include "adapters/redis/not_serving.hpp"
#include "adapters/redis/read_reply.hpp"
#include "adapters/redis/resp.hpp"

namespace tiercache::redis {
namespace {

// How often start() looks whether both connections are up.
constexpr auto kConnectPollInterval = std::chrono::milliseconds(1);
// Bytes a reply may carry beyond the values in it: framing, TTLs, an error text.
constexpr std::size_t kReplySlackBytes = std::size_t{64} << 10;
// What a read's reply may cost per key beyond its value (ReplyBounds): the value's element and
// its TTL's.
constexpr std::size_t kReadCostPerKey = 256;
// What one invalidation message may cost: it names every key a write (of this or another
// client) changed, or in bcast mode every key of a prefix changed in one turn of Redis's loop.
// About half a million keys of 64 bytes; larger, the stream drops and is resubscribed, which
// untrusts L1 rather than miss a change.
constexpr std::size_t kMaxMessageBytes = std::size_t{64} << 20;

}  // namespace

RedisBackend::RedisBackend(std::unique_ptr<EventLoop> loop, std::string key_prefix,
                           std::size_t max_value_bytes, InvalidationMode invalidation)
    : key_prefix_(std::move(key_prefix)),
      max_value_bytes_(max_value_bytes),
      loop_(std::move(loop)),
      invalidation_(invalidation) {}

Result<std::unique_ptr<RedisBackend>> RedisBackend::start(const Endpoint& endpoint,
                                                          std::string key_prefix,
                                                          std::size_t max_value_bytes,
                                                          InvalidationMode invalidation) {
  Result<std::unique_ptr<EventLoop>> loop = EventLoop::start();
  if (!loop) return std::unexpected(std::move(loop.error()));
  std::unique_ptr<RedisBackend> b(
      new RedisBackend(std::move(*loop), std::move(key_prefix), max_value_bytes, invalidation));
  RedisBackend* self = b.get();
  b->tracking_retry_interval_ = endpoint.backoff_max;
  std::promise<void> started;
  b->loop_->post([&] {
    // A read's own bound, by its key count, is set per command (send_read).
    self->reads_ = std::make_unique<RedisConnection>(
        *self->loop_, endpoint, "redis reads", RedisConnection::Role::reads,
        ReplyBounds{max_value_bytes + kReplySlackBytes, kMaxReplyElements,
                    max_value_bytes + kReplySlackBytes});
    self->writes_ = std::make_unique<RedisConnection>(
        *self->loop_, endpoint, "redis writes", RedisConnection::Role::writes,
        ReplyBounds{kReplySlackBytes, kMaxReplyElements, kReplySlackBytes});
    if (invalidation != InvalidationMode::off) {
      // A message names up to every key of a write: its strings bounded like a value, the whole
      // message by kMaxMessageBytes.
      self->subscriber_ = std::make_unique<RedisConnection>(
          *self->loop_, endpoint, "redis invalidations", RedisConnection::Role::subscriber,
          ReplyBounds{max_value_bytes + kReplySlackBytes, kMaxReplyElements,
                      kMaxMessageBytes + max_value_bytes});
      self->subscriber_->on_push([self](const redisReply& payload) { self->deliver(payload); });
      self->subscriber_->on_ready_change(
          [self](bool ready) { self->subscriber_ready_changed(ready); });
      self->subscriber_->on_heartbeat([self] { self->subscriber_heard(); });
      self->tracking_connection().on_ready_change(
          [self](bool ready) { self->tracking_ready_changed(ready); });
      self->subscriber_->start();
    }
    self->reads_->start();
    self->writes_->start();
    started.set_value();
  });
  started.get_future().wait();
  // A healthy server is ready, and heard, on return; an unreachable one costs at most
  // connect_timeout, and the cache starts degraded (L1 only) while it keeps trying. stats()
  // says why.
  const auto until = Clock::now() + endpoint.connect_timeout;
  auto up = [&] {
    return b->is_available() &&
           (invalidation == InvalidationMode::off || b->coherent_any_thread_.load());
  };
  while (!up() && b->refused().empty() && Clock::now() < until)
    std::this_thread::sleep_for(kConnectPollInterval);
  return b;
}

RedisBackend::~RedisBackend() {
  std::promise<void> stopped;
  loop_->post([&] {
    events_ = nullptr;
    subscriber_.reset();
    reads_.reset();
    writes_.reset();
    stopped.set_value();
  });
  stopped.get_future().wait();
}

RedisConnection& RedisBackend::tracking_connection() const {
  return invalidation_ == InvalidationMode::bcast ? *writes_ : *reads_;
}

void RedisBackend::set_events(BackendEvents* events) {
  std::promise<void> done;
  loop_->post([&] {
    events_ = events;
    if (events_ != nullptr && coherent_) events_->coherence_restored();
    done.set_value();
  });
  done.get_future().wait();
}

void RedisBackend::subscriber_ready_changed(bool ready) {
  subscriber_ready_ = ready;
  ++tracking_generation_;
  // A new subscriber has a new CLIENT ID: tracking must redirect to it.
  enable_tracking();
  update_coherence();
}

void RedisBackend::tracking_ready_changed(bool ready) {
  tracking_ready_ = ready;
  ++tracking_generation_;
  // A new connection tracks nothing yet.
  tracking_redirect_ = 0;
  enable_tracking();
  update_coherence();
}

void RedisBackend::subscriber_heard() {
  if (!tracking_refused_ || Clock::now() < tracking_retry_at_) return;
  enable_tracking();
}

void RedisBackend::enable_tracking() {
  tracking_refused_ = false;
  if (!subscriber_ready_ || !tracking_ready_) return;
  const long long subscriber_id = subscriber_->client_id();
  if (subscriber_id == 0) return;  // the server did not say its CLIENT ID: nothing to redirect to
  RedisConnection& tracking = tracking_connection();
  const std::string redirect = std::to_string(subscriber_id);
  std::vector<std::string_view> argv = {"CLIENT", "TRACKING", "on", "REDIRECT", redirect};
  if (invalidation_ == InvalidationMode::bcast) {
    argv.push_back("BCAST");
    if (!key_prefix_.empty()) argv.insert(argv.end(), {"PREFIX", key_prefix_});
  }
  argv.push_back("NOLOOP");
  // Off first: an existing REDIRECT (or BCAST prefix) cannot be changed in place.
  tracking.send(format_command({"CLIENT", "TRACKING", "off"}),
                [](const redisReply*, const Error*) {});
  tracking.send(format_command(argv), [this, generation = tracking_generation_, subscriber_id](
                                          const redisReply* r, const Error* e) {
    if (e != nullptr || generation != tracking_generation_) return;
    if (r->type == REDIS_REPLY_ERROR) {
      // Without tracking nothing is heard: L1 values are never trusted (Options.redis.
      // invalidation = off is the choice for a server or user that cannot track).
      tracking_connection().note_error("CLIENT TRACKING refused: " + std::string(r->str, r->len) +
                                       " (Options.redis.invalidation = off to run without it)");
      tracking_refused_ = true;
      tracking_retry_at_ = Clock::now() + tracking_retry_interval_;
      return;
    }
    tracking_redirect_ = subscriber_id;
    update_coherence();
  });
  tracking.write_now();
}

void RedisBackend::update_coherence() {
  const bool now = subscriber_ready_ && tracking_ready_ && tracking_redirect_ != 0 &&
                   tracking_redirect_ == subscriber_->client_id();
  if (now == coherent_) return;
  coherent_ = now;
  coherent_any_thread_.store(now);
  if (events_ == nullptr) return;
  if (now) {
    events_->coherence_restored();
  } else {
    events_->coherence_lost();
  }
}

void RedisBackend::deliver(const redisReply& payload) {
  if (events_ == nullptr) return;
  if (payload.type == REDIS_REPLY_NIL) {
    events_->all_changed();
    return;
  }
  if (payload.type != REDIS_REPLY_ARRAY) return;
  std::vector<std::string_view> keys;
  keys.reserve(payload.elements);
  for (std::size_t i = 0; i < payload.elements; ++i) {
    const redisReply* k = payload.element[i];
    if (k == nullptr || k->type != REDIS_REPLY_STRING) continue;
    const std::string_view key(k->str, k->len);
    // Keys outside this cache's namespace are not its; its own carry the prefix.
    if (!key.starts_with(key_prefix_)) continue;
    keys.push_back(key.substr(key_prefix_.size()));
  }
  if (!keys.empty()) events_->keys_changed(keys);
}

bool RedisBackend::is_available() const noexcept {
  return reads_->is_ready_any_thread() && writes_->is_ready_any_thread();
}

bool RedisBackend::accepts_writes() const noexcept {
  return writes_->is_ready_any_thread();
}

bool RedisBackend::accepts_reads() const noexcept {
  return reads_->is_ready_any_thread();
}

ChangesHeard changes_heard_in(InvalidationMode mode) noexcept {
  switch (mode) {
    case InvalidationMode::off:
      return ChangesHeard::none;
    case InvalidationMode::bcast:
      return ChangesHeard::every_key;
    case InvalidationMode::tracked:
      return ChangesHeard::keys_read;
  }
  return ChangesHeard::none;
}

ChangesHeard RedisBackend::changes_heard() const noexcept {
  return changes_heard_in(invalidation_);
}

BackendHealth RedisBackend::health() const {
  RedisConnection::Health r = reads_->health_any_thread();
  RedisConnection::Health w = writes_->health_any_thread();
  std::uint64_t invalidation_reconnects = 0;
  if (subscriber_ != nullptr) {
    RedisConnection::Health s = subscriber_->health_any_thread();
    w.reconnects += s.reconnects;
    invalidation_reconnects = s.reconnects;
    // The invalidation stream down is worth saying before anything else.
    if (!s.ready && !s.last_error.empty() && w.ready && r.ready) w.last_error = s.last_error;
  }
  BackendHealth h;
  h.available = r.ready && w.ready;
  // A connection that is down says why; if both are up, the last failure either one saw.
  if (!w.ready && !w.last_error.empty()) {
    h.last_error = std::move(w.last_error);
  } else if (!r.ready && !r.last_error.empty()) {
    h.last_error = std::move(r.last_error);
  } else {
    h.last_error = w.last_error.empty() ? std::move(r.last_error) : std::move(w.last_error);
  }
  h.reconnects = r.reconnects + w.reconnects;
  h.invalidation_reconnects = invalidation_reconnects;
  return h;
}

std::string RedisBackend::refused() const {
  for (const RedisConnection* c : {reads_.get(), writes_.get(), subscriber_.get()})
    if (c != nullptr)
      if (std::string why = c->health_any_thread().refused; !why.empty()) return why;
  return {};
}

void RedisBackend::read(std::vector<std::string> keys, ReadDone done) {
  if (keys.empty()) return done({});
  for (std::string& key : keys) key = prefixed(key);
  loop_->post([this, keys = std::move(keys), done = std::move(done)]() mutable {
    send_read(
        std::move(keys), false,
        [done = std::move(done)](Redirect, std::vector<Result<BackendValue>> results) {
          done(std::move(results));
        },
        legacy_script_);
    reads_->write_now();
  });
}

void RedisBackend::read_slots(std::vector<SlotRead> reads) {
  loop_->post([this, reads = std::move(reads)]() mutable {
    for (SlotRead& r : reads)
      send_read(std::move(r.keys), r.asking, std::move(r.done), legacy_script_);
    reads_->write_now();
  });
}

void RedisBackend::send_read(std::vector<std::string> keys, bool asking, SlotReadDone done,
                             bool legacy) {
  // ASKING holds for the next command on the connection only: the script right behind it.
  if (asking) reads_->send(format_command({"ASKING"}), [](const redisReply*, const Error*) {});
  // EVAL script numkeys key... max: the script's text rides along (a few hundred bytes) rather
  // than EVALSHA, so a server that lost its script cache (restart, failover) needs no reload.
  std::vector<std::string_view> argv = {"EVAL", legacy ? read_script_legacy() : kReadScript};
  const std::string numkeys = std::to_string(keys.size());
  const std::string end = std::to_string(max_value_bytes_);
  argv.push_back(numkeys);
  for (const std::string& key : keys) argv.push_back(key);
  argv.push_back(end);
  std::string command = format_command(argv);
  const std::size_t max_reply_bytes =
      keys.size() * (max_value_bytes_ + kReadCostPerKey) + kReplySlackBytes;
  reads_->send(
      std::move(command),
      [this, keys = std::move(keys), done = std::move(done), legacy, asking](
          const redisReply* r, const Error* e) mutable {
        const std::size_t count = keys.size();
        if (e != nullptr)
          return done({}, std::vector<Result<BackendValue>>(count, std::unexpected(*e)));
        if (r->type == REDIS_REPLY_ERROR) {
          const std::string_view text(r->str, r->len);
          if (!legacy && is_script_flags_unsupported(text)) {
            // A server before Redis 7: from now on, the script without its flags.
            legacy_script_ = true;
            send_read(std::move(keys), asking, std::move(done), true);
            reads_->write_now();
            return;
          }
          Redirect redirect = parse_redirect(text);
          if (redirect.kind != Redirect::Kind::none)
            return done(std::move(redirect), parse_script_reply(*r, count, max_value_bytes_));
        }
        done({}, parse_script_reply(*r, count, max_value_bytes_));
      },
      max_reply_bytes);
}

std::string RedisBackend::format_write(const BackendWrite& w, std::string_view key_prefix) {
  std::string k(key_prefix);
  k += w.key;
  if (w.kind == BackendWrite::Kind::purge) return format_command({"UNLINK", k});
  const std::string px = std::to_string(w.ttl.count());
  if (w.absent)
    return format_command(
        {"EVAL", kWriteAbsentScript, "1", k, px, w.kind == BackendWrite::Kind::fill ? "nx" : ""});
  // SET answers +OK, or nil when NX found the key taken: both are success for a fill.
  std::vector<std::string_view> argv = {"SET", k, w.value};
  if (w.ttl.count() > 0) argv.insert(argv.end(), {"PX", px});
  if (w.kind == BackendWrite::Kind::fill) argv.push_back("NX");
  return format_command(argv);
}

void RedisBackend::write(std::span<const BackendWrite> writes, WriteDone done) {
  if (writes.empty()) return done({});
  struct Batch {
    std::vector<Result<void>> results;
    std::size_t outstanding;
    WriteDone done;
  };
  auto batch = std::make_shared<Batch>();
  batch->results.assign(writes.size(), Result<void>{});
  batch->outstanding = writes.size();
  batch->done = std::move(done);
  std::vector<SlotWrite> commands;
  commands.reserve(writes.size());
  for (std::size_t i = 0; i < writes.size(); ++i)
    commands.push_back(
        {format_write(writes[i], key_prefix_), false, [batch, i](Redirect, Result<void> result) {
           batch->results[i] = std::move(result);
           if (--batch->outstanding == 0) batch->done(std::move(batch->results));
         }});
  write_slots(std::move(commands));
}

void RedisBackend::write_slots(std::vector<SlotWrite> writes) {
  loop_->post([this, writes = std::move(writes)]() mutable {
    for (SlotWrite& w : writes) send_write(std::move(w));
    writes_->write_now();
  });
}

void RedisBackend::send_write(SlotWrite write) {
  if (write.asking)
    writes_->send(format_command({"ASKING"}), [](const redisReply*, const Error*) {});
  writes_->send(std::move(write.command), [this, done = std::move(write.done)](const redisReply* r,
                                                                               const Error* e) {
    if (e != nullptr) return done({}, std::unexpected(*e));
    if (r->type != REDIS_REPLY_ERROR) return done({}, Result<void>{});
    const std::string_view text(r->str, r->len);
    // Not run, and safe to send again (not_serving.hpp); any other error is final. The
    // connection stays up through a refusal (but READONLY), so only its last_error says why
    // the writes are sent again.
    const bool refused = is_not_serving(text);
    if (refused) writes_->note_error("write refused for now: " + std::string(text));
    done(parse_redirect(text), fail(refused ? errc::overloaded : errc::backend_error, text));
  });
}

Result<std::unique_ptr<Backend>> make_redis_backend(const RedisOptions& options,
                                                    std::size_t max_value_bytes) {
  Result<Endpoint> endpoint = make_endpoint(options);
  if (!endpoint) return std::unexpected(std::move(endpoint.error()));
  Result<std::unique_ptr<RedisBackend>> backend =
      RedisBackend::start(*endpoint, options.key_prefix, max_value_bytes, options.invalidation);
  if (!backend) return std::unexpected(std::move(backend.error()));
  // A wrong password or db would leave the cache degraded for good: say so now instead.
  if (std::string why = (*backend)->refused(); !why.empty())
    return fail(errc::invalid_argument, "Options.redis: ", why,
                "; check the password, user, db and the user's ACL");
  return std::unique_ptr<Backend>(std::move(*backend));
}

}  // namespace tiercache::redis
