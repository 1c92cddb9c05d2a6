// bench/peers/mutex_lru.hpp — MutexLru: the LRU cache people write by hand. 64 shards, each a
// std::mutex over a std::unordered_map into a std::list kept in recency order; a get moves its
// entry to the front, so every read writes, and a set past capacity drops the back.
// tiercache's L1 reads are judged against it (target: >= 3x).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace tiercache::bench {

class MutexLru {
 public:
  // Nothing to attach.
  struct ThreadScope {};

  // Holds at most `capacity` entries, split evenly over the shards.
  explicit MutexLru(std::size_t capacity);
  ~MutexLru();

  // Copies the value out under the shard's lock and makes the entry the most recent.
  std::optional<std::string> get(const std::string& key);
  // Inserts or replaces, making the entry the most recent; may evict the shard's least recent.
  bool set(const std::string& key, std::string_view value);

 private:
  struct Shard;
  Shard& shard_for(const std::string& key);

  std::unique_ptr<Shard[]> shards_;
  std::size_t shard_capacity_;
};

}  // namespace tiercache::bench
