// bench/peers/tbb_map.hpp — TbbMap: the tbb::concurrent_hash_map peer, std::string to
// std::string. Readers take a bucket's shared lock (const_accessor), writers its exclusive one.
// tiercache's L1 reads are judged against it (target: >= 1x).
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace tiercache::bench {

class TbbMap {
 public:
  // Nothing to attach.
  struct ThreadScope {};

  // Reserves buckets for `expected_keys`, so no rehash runs while measured.
  explicit TbbMap(std::size_t expected_keys);
  ~TbbMap();

  // Copies the value out under the shared lock, as Cache::get copies it out.
  std::optional<std::string> get(const std::string& key);
  // Inserts or replaces under the exclusive lock.
  bool set(const std::string& key, std::string_view value);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tiercache::bench
