#include "adapters/redis/redis_backend.hpp"

#include <future>
#include <thread>

#include "adapters/redis/make_redis_backend.hpp"
#include "adapters/redis/read_reply.hpp"
#include "adapters/redis/resp.hpp"

namespace tiercache::redis {
namespace {

// How often start() looks whether both connections are up.
constexpr auto kConnectPollInterval = std::chrono::milliseconds(1);
// Bytes a reply may carry beyond the values in it: framing, TTLs, an error text.
constexpr std::size_t kReplySlackBytes = std::size_t{64} << 10;

}  // namespace

RedisBackend::RedisBackend(std::unique_ptr<EventLoop> loop, std::string key_prefix,
                           std::size_t max_value_bytes)
    : key_prefix_(std::move(key_prefix)),
      max_value_bytes_(max_value_bytes),
      loop_(std::move(loop)) {}

Result<std::unique_ptr<RedisBackend>> RedisBackend::start(const Endpoint& endpoint,
                                                          std::string key_prefix,
                                                          std::size_t max_value_bytes) {
  Result<std::unique_ptr<EventLoop>> loop = EventLoop::start();
  if (!loop) return std::unexpected(std::move(loop.error()));
  std::unique_ptr<RedisBackend> b(
      new RedisBackend(std::move(*loop), std::move(key_prefix), max_value_bytes));
  std::promise<void> started;
  b->loop_->post([&] {
    b->reads_ = std::make_unique<RedisConnection>(*b->loop_, endpoint, "redis reads",
                                                  RedisConnection::Role::reads,
                                                  max_value_bytes + kReplySlackBytes);
    b->writes_ = std::make_unique<RedisConnection>(*b->loop_, endpoint, "redis writes",
                                                   RedisConnection::Role::writes, kReplySlackBytes);
    b->reads_->start();
    b->writes_->start();
    started.set_value();
  });
  started.get_future().wait();
  // A healthy server is ready on return; an unreachable one costs at most connect_timeout, and
  // the cache starts degraded (L1 only) while it keeps trying. stats() says why.
  const auto until = Clock::now() + endpoint.connect_timeout;
  while (!b->is_available() && Clock::now() < until)
    std::this_thread::sleep_for(kConnectPollInterval);
  return b;
}

RedisBackend::~RedisBackend() {
  std::promise<void> stopped;
  loop_->post([&] {
    reads_.reset();
    writes_.reset();
    stopped.set_value();
  });
  stopped.get_future().wait();
}

bool RedisBackend::is_available() const noexcept {
  return reads_->is_ready_any_thread() && writes_->is_ready_any_thread();
}

bool RedisBackend::accepts_writes() const noexcept {
  return writes_->is_ready_any_thread();
}

BackendHealth RedisBackend::health() const {
  RedisConnection::Health r = reads_->health_any_thread();
  RedisConnection::Health w = writes_->health_any_thread();
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
  return h;
}

void RedisBackend::read(std::vector<std::string> keys, ReadDone done) {
  if (keys.empty()) return done({});
  for (std::string& key : keys) key = prefixed(key);
  loop_->post([this, keys = std::move(keys), done = std::move(done)]() mutable {
    send_read(std::move(keys), std::move(done), legacy_script_);
  });
}

void RedisBackend::send_read(std::vector<std::string> keys, ReadDone done, bool legacy) {
  // EVAL script numkeys key... max: the script's text rides along (a few hundred bytes) rather
  // than EVALSHA, so a server that lost its script cache (restart, failover) needs no reload.
  std::vector<std::string_view> argv = {"EVAL", legacy ? read_script_legacy() : kReadScript};
  const std::string numkeys = std::to_string(keys.size());
  const std::string end = std::to_string(max_value_bytes_);
  argv.push_back(numkeys);
  for (const std::string& key : keys) argv.push_back(key);
  argv.push_back(end);
  std::string command = format_command(argv);
  reads_->send(std::move(command), [this, keys = std::move(keys), done = std::move(done), legacy](
                                       const redisReply* r, const Error* e) mutable {
    const std::size_t count = keys.size();
    if (e != nullptr) return done(std::vector<Result<BackendValue>>(count, std::unexpected(*e)));
    if (!legacy && r->type == REDIS_REPLY_ERROR &&
        is_script_flags_unsupported(std::string_view(r->str, r->len))) {
      // A server before Redis 7: from now on, the script without its flags.
      legacy_script_ = true;
      return send_read(std::move(keys), std::move(done), true);
    }
    done(parse_script_reply(*r, count, max_value_bytes_));
  });
  reads_->write_now();
}

void RedisBackend::write(std::span<const BackendWrite> writes, WriteDone done) {
  if (writes.empty()) return done({});
  std::vector<std::string> commands;
  commands.reserve(writes.size());
  for (const BackendWrite& w : writes) {
    const std::string k = prefixed(std::string(w.key));
    if (w.kind == BackendWrite::Kind::purge) {
      commands.push_back(format_command({"UNLINK", k}));
      continue;
    }
    // SET answers +OK, or nil when NX found the key taken: both are success for a fill.
    std::vector<std::string_view> argv = {"SET", k, w.value};
    const std::string px = std::to_string(w.ttl.count());
    if (w.ttl.count() > 0) argv.insert(argv.end(), {"PX", px});
    if (w.kind == BackendWrite::Kind::fill) argv.push_back("NX");
    commands.push_back(format_command(argv));
  }
  loop_->post([this, commands = std::move(commands), done = std::move(done)]() mutable {
    struct Batch {
      std::vector<Result<void>> results;
      std::size_t outstanding;
      WriteDone done;
    };
    auto batch = std::make_shared<Batch>();
    batch->results.assign(commands.size(), Result<void>{});
    batch->outstanding = commands.size();
    batch->done = std::move(done);
    for (std::size_t i = 0; i < commands.size(); ++i) {
      writes_->send(std::move(commands[i]), [batch, i](const redisReply* r, const Error* e) {
        if (e != nullptr) {
          batch->results[i] = std::unexpected(*e);
        } else if (r->type == REDIS_REPLY_ERROR) {
          batch->results[i] = fail(errc::backend_error, std::string_view(r->str, r->len));
        }
        if (--batch->outstanding == 0) batch->done(std::move(batch->results));
      });
    }
    writes_->write_now();
  });
}

Result<std::unique_ptr<Backend>> make_redis_backend(const RedisOptions& options,
                                                    std::size_t max_value_bytes) {
  Result<Endpoint> endpoint = make_endpoint(options);
  if (!endpoint) return std::unexpected(std::move(endpoint.error()));
  Result<std::unique_ptr<RedisBackend>> backend =
      RedisBackend::start(*endpoint, options.key_prefix, max_value_bytes);
  if (!backend) return std::unexpected(std::move(backend.error()));
  return std::unique_ptr<Backend>(std::move(*backend));
}

}  // namespace tiercache::redis
