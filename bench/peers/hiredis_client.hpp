// bench/peers/hiredis_client.hpp — HiredisClient: one blocking hiredis connection, the client
// people write when they call Redis directly. set() and get() are one round trip per call, the
// peer tiercache's L2 paths are judged against; set_pipelined() fills a server fast for a read
// figure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

struct redisContext;

namespace tiercache::bench {

class HiredisClient {
 public:
  // Connects to host:port; is_connected() says whether that worked, error() why not.
  HiredisClient(const std::string& host, std::uint16_t port);
  ~HiredisClient();
  HiredisClient(const HiredisClient&) = delete;
  HiredisClient& operator=(const HiredisClient&) = delete;

  bool is_connected() const;
  // The connection's last error, or the reply that was not the expected one.
  const std::string& error() const { return error_; }

  // SET key value; true on +OK.
  bool set(std::string_view key, std::string_view value);
  // GET key; the value's size, or -1 (with error()) on anything but a bulk string.
  std::int64_t get(std::string_view key);
  // MGET keys; how many of them had a value, or -1 (with error()) on an unexpected reply.
  std::int64_t mget(const std::vector<std::string_view>& keys);
  // SET every key to `value`, `depth` commands per round trip; true if every reply was +OK.
  bool set_pipelined(const std::vector<std::string>& keys, std::string_view value,
                     std::size_t depth);

 private:
  redisContext* context_ = nullptr;
  std::string error_;
};

}  // namespace tiercache::bench
