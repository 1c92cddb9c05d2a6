// bench/tiercache_target.hpp — TiercacheTarget: a tiercache::Cache behind the interface the L1
// figures drive every target through (ThreadScope, get, set), plus get_into for its own figure.
#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "tiercache/cache.hpp"
#include "tiercache/context.hpp"

namespace tiercache::bench {

class TiercacheTarget {
 public:
  // Room for any value the L1 figures store.
  static constexpr std::size_t kIntoBufferBytes = 4096;

  // The engine attaches each calling thread itself.
  struct ThreadScope {};

  explicit TiercacheTarget(Cache& cache) : cache_(cache) {}

  Result<std::string> get(const std::string& key) { return cache_.get(ctx_, key); }
  // Copies into this thread's buffer, not a new string; the view is valid until its next call.
  std::optional<std::string_view> get_into(const std::string& key) {
    thread_local std::array<char, kIntoBufferBytes> buffer;
    const auto size = cache_.get_into(ctx_, key, buffer);
    if (!size) return std::nullopt;
    return std::string_view(buffer.data(), *size);
  }
  bool set(const std::string& key, std::string_view value) {
    return cache_.set(ctx_, key, value).has_value();
  }

 private:
  Cache& cache_;
  const Context ctx_ = Context::background();
};

}  // namespace tiercache::bench
