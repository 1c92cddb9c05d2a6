#include "bench/peers/mutex_lru.hpp"

#include <functional>
#include <list>
#include <mutex>
#include <unordered_map>
#include <utility>

namespace tiercache::bench {
namespace {

// What a hand-written cache typically picks; 2 threads rarely meet on one lock.
constexpr std::size_t kShards = 64;
// Each shard on its own line, so a lock taken on one does not evict its neighbour's.
constexpr std::size_t kCacheLineBytes = 64;

}  // namespace

struct alignas(kCacheLineBytes) MutexLru::Shard {
  using Order = std::list<std::pair<std::string, std::string>>;
  std::mutex mutex;
  Order order;  // most recent first
  std::unordered_map<std::string, Order::iterator> index;
};

MutexLru::MutexLru(std::size_t capacity)
    : shards_(std::make_unique<Shard[]>(kShards)),
      shard_capacity_((capacity + kShards - 1) / kShards) {
  for (std::size_t i = 0; i < kShards; ++i) shards_[i].index.reserve(shard_capacity_);
}

MutexLru::~MutexLru() = default;

MutexLru::Shard& MutexLru::shard_for(const std::string& key) {
  return shards_[std::hash<std::string>{}(key) % kShards];
}

std::optional<std::string> MutexLru::get(const std::string& key) {
  Shard& shard = shard_for(key);
  const std::lock_guard lock(shard.mutex);
  const auto found = shard.index.find(key);
  if (found == shard.index.end()) return std::nullopt;
  shard.order.splice(shard.order.begin(), shard.order, found->second);
  return found->second->second;
}

bool MutexLru::set(const std::string& key, std::string_view value) {
  Shard& shard = shard_for(key);
  const std::lock_guard lock(shard.mutex);
  if (const auto found = shard.index.find(key); found != shard.index.end()) {
    found->second->second.assign(value);
    shard.order.splice(shard.order.begin(), shard.order, found->second);
    return true;
  }
  shard.order.emplace_front(key, std::string(value));
  shard.index.emplace(key, shard.order.begin());
  if (shard.order.size() > shard_capacity_) {
    shard.index.erase(shard.order.back().first);
    shard.order.pop_back();
  }
  return true;
}

}  // namespace tiercache::bench
