// bench/peers/libcds_map.hpp — LibcdsMap: the "raw libcds map" peer. A FeldmanHashMap over
// gc::DHP from std::string to std::string and nothing more: no eviction, no byte budget, no TTL.
// It is the floor tiercache's L1 reads are judged against (target: >= 0.8x).
//
// FeldmanHashMap, not MichaelHashMap, because its update() swaps in a whole new node, so a set
// racing readers is safe; MichaelHashMap's update() edits the value in place under their feet.
// It compares 64-bit hashes, never keys (design.md section 9): fine for a peer, not for a cache.
// libcds headers stay in the .cpp, as tiercache keeps them out of its public headers.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace tiercache::bench {

class LibcdsMap {
 public:
  // Attaches the constructing thread to libcds until it is destroyed; one per worker thread.
  class ThreadScope {
   public:
    ThreadScope();
    ~ThreadScope();
    ThreadScope(const ThreadScope&) = delete;
    ThreadScope& operator=(const ThreadScope&) = delete;

   private:
    bool attached_here_ = false;
  };

  // Sizes the head array to about one cell per key, the map's best case for lookups.
  explicit LibcdsMap(std::size_t expected_keys);
  ~LibcdsMap();

  // Copies the value out, as Cache::get does. The calling thread must hold a ThreadScope.
  std::optional<std::string> get(const std::string& key);
  // Copies the value into `out`, reusing its storage (the non-allocating peer). False if absent.
  bool get_into(const std::string& key, std::string& out);
  // Inserts or replaces. The calling thread must hold a ThreadScope.
  bool set(const std::string& key, std::string_view value);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tiercache::bench
