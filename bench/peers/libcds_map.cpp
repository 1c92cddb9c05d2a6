#include "bench/peers/libcds_map.hpp"

#include <cds/container/feldman_hashmap_dhp.h>
#include <cds/gc/dhp.h>
#include <cds/init.h>
#include <cds/threading/model.h>

#include <algorithm>
#include <bit>
#include <functional>
#include <mutex>

namespace tiercache::bench {
namespace {

// Head arrays above this many bits cost more memory than they save hops.
constexpr std::size_t kMaxHeadBits = 24;
// FeldmanHashMap's smallest sensible head array, and its default.
constexpr std::size_t kMinHeadBits = 8;

struct Traits : cds::container::feldman_hashmap::traits {
  using hash = std::hash<std::string>;
};
using Map = cds::container::FeldmanHashMap<cds::gc::DHP, std::string, std::string, Traits>;

// The same policy as the engine's: one DHP for the whole process, never destroyed, so either side
// may come first (libcds makes both calls idempotent) and neither pulls the GC from the other.
void init_libcds_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    cds::Initialize();
    new cds::gc::DHP();
  });
}

}  // namespace

struct LibcdsMap::Impl {
  explicit Impl(std::size_t head_bits) : map(head_bits) {}
  Map map;
};

LibcdsMap::ThreadScope::ThreadScope() {
  init_libcds_once();
  if (!cds::threading::Manager::isThreadAttached()) {
    cds::threading::Manager::attachThread();
    attached_here_ = true;
  }
}

LibcdsMap::ThreadScope::~ThreadScope() {
  if (attached_here_) cds::threading::Manager::detachThread();
}

LibcdsMap::LibcdsMap(std::size_t expected_keys) {
  init_libcds_once();
  const auto head_bits =
      std::clamp<std::size_t>(std::bit_width(expected_keys), kMinHeadBits, kMaxHeadBits);
  impl_ = std::make_unique<Impl>(head_bits);
}

// Clearing the map retires every node through the GC, which wants the thread attached.
LibcdsMap::~LibcdsMap() {
  const ThreadScope scope;
  impl_.reset();
}

std::optional<std::string> LibcdsMap::get(const std::string& key) {
  std::optional<std::string> value;
  impl_->map.find(key, [&](Map::value_type& item) { value.emplace(item.second); });
  return value;
}

bool LibcdsMap::get_into(const std::string& key, std::string& out) {
  return impl_->map.find(key, [&](Map::value_type& item) { out.assign(item.second); });
}

bool LibcdsMap::set(const std::string& key, std::string_view value) {
  return impl_->map
      .update(key, [&](Map::value_type& item, Map::value_type*) { item.second.assign(value); })
      .first;
}

}  // namespace tiercache::bench
