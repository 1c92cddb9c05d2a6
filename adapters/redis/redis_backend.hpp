// adapters/redis/redis_backend.hpp — the Backend on Redis: one I/O thread, two connections.
//
// Reads and writes use separate connections, so a get never queues behind a large write
// pipeline. A read batch is GET + PTTL per key, pipelined; a write batch is SET ... PX / UNLINK
// per write, pipelined. Keys get Options.redis.key_prefix in front. Only this directory includes
// hiredis.
#pragma once

#include <memory>

#include "adapters/redis/redis_connection.hpp"
#include "tiercache/backend.hpp"

namespace tiercache::redis {

class RedisBackend final : public Backend {
 public:
  // Returns once both connections are up, or after endpoint.connect_timeout.
  RedisBackend(Endpoint endpoint, std::string key_prefix);
  // Answers whatever is still in flight with errc::closed, then stops the I/O thread.
  ~RedisBackend() override;

  void read(std::vector<std::string> keys, ReadDone done) override;
  void write(std::vector<BackendWrite> writes, WriteDone done) override;
  bool is_available() const noexcept override;

 private:
  std::string prefixed(const std::string& key) const { return key_prefix_ + key; }

  const std::string key_prefix_;
  EventLoop loop_;
  // Created and destroyed on the loop thread.
  std::unique_ptr<RedisConnection> reads_;
  std::unique_ptr<RedisConnection> writes_;
};

}  // namespace tiercache::redis
