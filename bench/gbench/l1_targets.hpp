// bench/gbench/l1_targets.hpp — the L1 targets behind one interface the benchmark bodies are
// templated on (no virtual call in the timed loop): tiercache (L1 only) and the bench/peers maps.
// Each has a name, a ThreadScope a worker holds for the run, get (copies the value out, true on a
// hit) and set; tiercache also get_into, purge and get_or_load. open() builds an empty target for
// a StoreShape; the caller pre-populates it.
#pragma once

#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "bench/peers/libcds_map.hpp"
#include "bench/peers/mutex_lru.hpp"
#include "bench/peers/tbb_map.hpp"
#include "tiercache/cache.hpp"
#include "tiercache/context.hpp"

namespace tiercache::gbench {

struct StoreShape {
  std::uint32_t keys = 0;
  std::size_t key_bytes = 0;  // longest key
  std::size_t value_bytes = 0;
  // Entries the target may hold; 0: all `keys` (with room to spare). Bounded targets only.
  std::size_t capacity_entries = 0;
};

class TiercacheL1 {
 public:
  static constexpr std::string_view kName = "tiercache";
  static constexpr bool kBounded = true;
  struct ThreadScope {};  // the engine attaches each calling thread itself

  static std::shared_ptr<TiercacheL1> open(const StoreShape& shape);
  explicit TiercacheL1(Cache cache) : cache_(std::move(cache)) {}

  bool get(const std::string& key) {
    Result<std::string> value = cache_.get(ctx_, key);
    benchmark::DoNotOptimize(value);
    return value.has_value();
  }
  bool get_into(const std::string& key, std::span<char> out) {
    const Result<std::size_t> size = cache_.get_into(ctx_, key, out);
    benchmark::DoNotOptimize(size);
    return size.has_value();
  }
  bool set(const std::string& key, std::string_view value) {
    return cache_.set(ctx_, key, value).has_value();
  }
  bool purge(const std::string& key) { return cache_.purge(ctx_, key).has_value(); }
  // True if served, from L1 or by `loader`.
  bool get_or_load(const std::string& key, const Loader& loader) {
    Result<std::string> value = cache_.get_or_load(ctx_, key, loader);
    benchmark::DoNotOptimize(value);
    return value.has_value();
  }
  CacheStats stats() const { return cache_.stats(); }

 private:
  Cache cache_;
  const Context ctx_ = Context::background();
};

// Wraps a bench/peers map: get copies the value out, as Cache::get does.
template <class Map, bool Bounded>
class PeerL1 {
 public:
  static constexpr bool kBounded = Bounded;
  using ThreadScope = typename Map::ThreadScope;

  explicit PeerL1(std::size_t size) : map_(size) {}

  bool get(const std::string& key) {
    std::optional<std::string> value = map_.get(key);
    benchmark::DoNotOptimize(value);
    return value.has_value();
  }
  bool set(const std::string& key, std::string_view value) { return map_.set(key, value); }

 private:
  Map map_;
};

class LibcdsL1 : public PeerL1<bench::LibcdsMap, false> {
 public:
  static constexpr std::string_view kName = "libcds_raw";
  using PeerL1::PeerL1;
  static std::shared_ptr<LibcdsL1> open(const StoreShape& shape) {
    return std::make_shared<LibcdsL1>(shape.keys);
  }
};

class TbbL1 : public PeerL1<bench::TbbMap, false> {
 public:
  static constexpr std::string_view kName = "tbb_concurrent_hash_map";
  using PeerL1::PeerL1;
  static std::shared_ptr<TbbL1> open(const StoreShape& shape) {
    return std::make_shared<TbbL1>(shape.keys);
  }
};

class MutexLruL1 : public PeerL1<bench::MutexLru, true> {
 public:
  static constexpr std::string_view kName = "mutex_lru";
  // Room beyond `keys` when everything must fit: 64 shards of keys/64 each, and a key set
  // hashes a few standard deviations unevenly over them.
  static constexpr double kFitSlack = 1.5;
  using PeerL1::PeerL1;
  static std::shared_ptr<MutexLruL1> open(const StoreShape& shape) {
    const std::size_t capacity = shape.capacity_entries != 0
                                     ? shape.capacity_entries
                                     : static_cast<std::size_t>(shape.keys * kFitSlack) + 1024;
    return std::make_shared<MutexLruL1>(capacity);
  }
};

}  // namespace tiercache::gbench
