// adapters/redis/redis_backend.hpp — the Backend on Redis: one I/O thread, two connections.
//
// Reads and writes use separate connections, so a get never queues behind a large write
// pipeline. A read batch is one script call (read_reply.hpp says what and why); a write batch is
// SET ... [PX] [NX] (NX: a fill) / UNLINK per write, pipelined on the write connection, which
// fences the connections it replaces (redis_connection.hpp). Commands are formatted on the calling
// thread. Keys get Options.redis.key_prefix in front. Only this directory includes hiredis.
#pragma once

#include <memory>
#include <string>

#include "adapters/redis/endpoint.hpp"
#include "adapters/redis/event_loop.hpp"
#include "adapters/redis/redis_connection.hpp"
#include "tiercache/backend.hpp"

namespace tiercache::redis {

class RedisBackend final : public Backend {
 public:
  // Starts the I/O thread and both connections; returns once both are up, or after
  // endpoint.connect_timeout (the backend then keeps trying in the background).
  static Result<std::unique_ptr<RedisBackend>> start(const Endpoint& endpoint,
                                                     std::string key_prefix,
                                                     std::size_t max_value_bytes);
  // Answers whatever is still in flight with errc::closed, then stops the I/O thread.
  ~RedisBackend() override;

  void read(std::vector<std::string> keys, ReadDone done) override;
  void write(std::span<const BackendWrite> writes, WriteDone done) override;
  bool is_available() const noexcept override;
  bool accepts_writes() const noexcept override;
  BackendHealth health() const override;

 private:
  RedisBackend(std::unique_ptr<EventLoop> loop, std::string key_prefix,
               std::size_t max_value_bytes);
  std::string prefixed(const std::string& key) const { return key_prefix_ + key; }
  // Loop thread: sends the read script for `keys` (already prefixed).
  void send_read(std::vector<std::string> keys, ReadDone done, bool legacy);

  const std::string key_prefix_;
  const std::size_t max_value_bytes_;
  std::unique_ptr<EventLoop> loop_;
  // Created and destroyed on the loop thread.
  std::unique_ptr<RedisConnection> reads_;
  std::unique_ptr<RedisConnection> writes_;
  bool legacy_script_ = false;  // loop thread: the server refused kReadScript's flags
};

}  // namespace tiercache::redis
