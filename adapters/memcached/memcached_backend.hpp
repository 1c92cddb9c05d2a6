// adapters/memcached/memcached_backend.hpp — the Backend on memcached: two lanes
// (memcached_lane.hpp), one for reads and one for writes, so a read never queues behind writes.
//
// read: per server, one multi-get of that server's keys (memcached_mget_by_key, then
// memcached_fetch_result), answers put back in the caller's order; a key not returned is
// not_found. TTL left is never known (memcached's text protocol cannot tell it).
// write: in order, one command each on the write lane: set → memcached_set; fill →
// memcached_add (NOTSTORED: the key holds something, the fill is done); purge →
// memcached_delete (NOTFOUND is success). TTLs in whole seconds, rounded up; over 30 days,
// memcached reads an expiration as a unix time, so those are sent as now + TTL.
// Keys: memcached_key.hpp. Values and the marker: stored_item.hpp. Failures: return_code.hpp.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "adapters/memcached/memcached_config.hpp"
#include "adapters/memcached/memcached_lane.hpp"
#include "tiercache/backend.hpp"

namespace tiercache::memcached {

class MemcachedBackend final : public Backend {
 public:
  static Result<std::unique_ptr<MemcachedBackend>> start(Config config);
  // Each lane finishes the job it runs and answers the queued ones with errc::closed.
  ~MemcachedBackend() override = default;

  void read(std::vector<std::string> keys, ReadDone done) override;
  void write(std::span<const BackendWrite> writes, WriteDone done) override;
  bool is_available() const noexcept override;
  bool accepts_writes() const noexcept override;
  bool accepts_reads() const noexcept override;
  BackendHealth health() const override;
  bool stores_absent() const noexcept override { return true; }

 private:
  // A write copied out of the caller's views.
  struct OwnedWrite {
    BackendWrite::Kind kind;
    std::string key;  // as stored
    std::string value;
    std::chrono::milliseconds ttl;
    bool absent;
  };

  MemcachedBackend(Config config, std::unique_ptr<MemcachedLane> reads,
                   std::unique_ptr<MemcachedLane> writes);
  // Read lane.
  std::vector<Result<BackendValue>> read_on(MemcachedLane& lane,
                                            const std::vector<std::string>& keys);
  Result<BackendValue> decode(const memcached_result_st& item);
  // Write lane.
  Result<void> write_on(MemcachedLane& lane, const OwnedWrite& w) const;

  const Config config_;
  // Relaxed: a statistic.
  std::atomic<std::uint64_t> unreadable_values_{0};
  // Declared last: destroyed first, so no job runs on a half-destroyed backend.
  std::unique_ptr<MemcachedLane> reads_;
  std::unique_ptr<MemcachedLane> writes_;
};

// memcached's expiration for a TTL: 0 for none, whole seconds rounded up, and past
// kMaxRelativeExpiration an absolute unix time (now_unix + seconds), at most
// kMaxAbsoluteExpiration.
inline constexpr std::int64_t kMaxRelativeExpiration = 60 * 60 * 24 * 30;
// memcached reads an expiration as a signed 32-bit number: a later time would wrap into the past
// and the item would be stored already expired, so it is cut to 2038-01-19T03:14:07Z.
inline constexpr std::int64_t kMaxAbsoluteExpiration = INT32_MAX;
std::int64_t expiration_of(std::chrono::milliseconds ttl, std::int64_t now_unix);

}  // namespace tiercache::memcached
