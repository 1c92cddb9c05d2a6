#include "adapters/memcached/memcached_key.hpp"

#include <xxhash.h>

#include <algorithm>

namespace tiercache::memcached {

std::string stored_key(std::string_view prefix, std::string_view key) {
  const bool as_is = prefix.size() + key.size() <= kMaxKeyBytes && !key.empty() &&
                     key.front() != kHashedKeyMarker &&
                     std::all_of(key.begin(), key.end(),
                                 [](char c) { return is_key_byte(static_cast<unsigned char>(c)); });
  if (as_is) {
    std::string out;
    out.reserve(prefix.size() + key.size());
    out.append(prefix).append(key);
    return out;
  }
  const XXH128_hash_t h = XXH3_128bits(key.data(), key.size());
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(prefix.size() + 1 + kHashHexDigits);
  out.append(prefix).push_back(kHashedKeyMarker);
  for (const unsigned long long half : {h.high64, h.low64})
    for (int shift = 60; shift >= 0; shift -= 4) out.push_back(kHex[(half >> shift) & 0xf]);
  return out;
}

}  // namespace tiercache::memcached
