#include "adapters/redis/redis_backend.hpp"

#include <future>
#include <thread>

#include "adapters/redis/make_redis_backend.hpp"

namespace tiercache::redis {
namespace {

// How often the constructor looks whether both connections are up.
constexpr auto kConnectPollInterval = std::chrono::milliseconds(1);

Error reply_error(const redisReply* reply) {
  return Error{make_error_code(errc::backend_error), std::string(reply->str, reply->len)};
}

}  // namespace

RedisBackend::RedisBackend(Endpoint endpoint, std::string key_prefix)
    : key_prefix_(std::move(key_prefix)) {
  std::promise<void> started;
  loop_.post([&] {
    reads_ = std::make_unique<RedisConnection>(loop_, endpoint, "redis reads");
    writes_ = std::make_unique<RedisConnection>(loop_, endpoint, "redis writes");
    reads_->start();
    writes_->start();
    started.set_value();
  });
  started.get_future().wait();
  // A healthy server is ready when open() returns; an unreachable one costs open() at most
  // connect_timeout, and the cache starts degraded (L1 only) while it keeps trying.
  const auto until = Clock::now() + endpoint.connect_timeout;
  while (!is_available() && Clock::now() < until) std::this_thread::sleep_for(kConnectPollInterval);
}

RedisBackend::~RedisBackend() {
  std::promise<void> stopped;
  loop_.post([&] {
    reads_.reset();
    writes_.reset();
    stopped.set_value();
  });
  stopped.get_future().wait();
}

bool RedisBackend::is_available() const noexcept {
  return reads_->is_ready_any_thread() && writes_->is_ready_any_thread();
}

void RedisBackend::read(std::vector<std::string> keys, ReadDone done) {
  loop_.post([this, keys = std::move(keys), done = std::move(done)]() mutable {
    struct Batch {
      std::vector<Result<BackendValue>> results;
      std::size_t outstanding;
      ReadDone done;
    };
    auto batch = std::make_shared<Batch>();
    batch->results.assign(keys.size(), BackendValue{});
    batch->outstanding = 2 * keys.size();
    batch->done = std::move(done);
    if (keys.empty()) return batch->done({});
    auto settle = [batch] {
      if (--batch->outstanding == 0) batch->done(std::move(batch->results));
    };
    for (std::size_t i = 0; i < keys.size(); ++i) {
      const std::string key = prefixed(keys[i]);
      reads_->send({"GET", key}, [batch, i, settle](const redisReply* r, const Error* e) {
        Result<BackendValue>& out = batch->results[i];
        if (e != nullptr) {
          out = std::unexpected(*e);
        } else if (r->type == REDIS_REPLY_NIL) {
          out = std::unexpected(Error{make_error_code(errc::not_found), {}});
        } else if (r->type == REDIS_REPLY_STRING) {
          out->value.assign(r->str, r->len);
        } else if (r->type == REDIS_REPLY_ERROR) {
          out = std::unexpected(reply_error(r));
        } else {
          out = std::unexpected(
              Error{make_error_code(errc::backend_error), "GET: unexpected reply type"});
        }
        settle();
      });
      reads_->send({"PTTL", key}, [batch, i, settle](const redisReply* r, const Error* e) {
        Result<BackendValue>& out = batch->results[i];
        if (out && e == nullptr && r->type == REDIS_REPLY_INTEGER) {
          // -1: no expiry; -2: the key went away between GET and PTTL, which is a miss.
          if (r->integer == -2) {
            out = std::unexpected(Error{make_error_code(errc::not_found), {}});
          } else if (r->integer > 0) {
            out->ttl_left = std::chrono::milliseconds(r->integer);
          }
        } else if (out && e != nullptr) {
          out = std::unexpected(*e);
        }
        settle();
      });
    }
  });
}

void RedisBackend::write(std::vector<BackendWrite> writes, WriteDone done) {
  loop_.post([this, writes = std::move(writes), done = std::move(done)]() mutable {
    struct Batch {
      std::vector<Result<void>> results;
      std::size_t outstanding;
      WriteDone done;
    };
    auto batch = std::make_shared<Batch>();
    batch->results.assign(writes.size(), Result<void>{});
    batch->outstanding = writes.size();
    batch->done = std::move(done);
    if (writes.empty()) return batch->done({});
    for (std::size_t i = 0; i < writes.size(); ++i) {
      const BackendWrite& w = writes[i];
      const std::string key = prefixed(w.key);
      auto on_reply = [batch, i](const redisReply* r, const Error* e) {
        if (e != nullptr) {
          batch->results[i] = std::unexpected(*e);
        } else if (r->type == REDIS_REPLY_ERROR) {
          batch->results[i] = std::unexpected(reply_error(r));
        }
        if (--batch->outstanding == 0) batch->done(std::move(batch->results));
      };
      if (w.kind == BackendWrite::Kind::erase) {
        writes_->send({"UNLINK", key}, std::move(on_reply));
      } else if (w.ttl.count() > 0) {
        const std::string px = std::to_string(w.ttl.count());
        writes_->send({"SET", key, w.value, "PX", px}, std::move(on_reply));
      } else {
        writes_->send({"SET", key, w.value}, std::move(on_reply));
      }
    }
  });
}

Result<std::unique_ptr<Backend>> make_redis_backend(const RedisOptions& options) {
  Result<Endpoint> endpoint = make_endpoint(options);
  if (!endpoint) return std::unexpected(std::move(endpoint.error()));
  return std::make_unique<RedisBackend>(std::move(*endpoint), options.key_prefix);
}

}  // namespace tiercache::redis
