// adapters/memcached/memcached_key.hpp — the key memcached stores for a cache key.
//
// memcached's text protocol takes keys of at most 250 bytes without spaces or control bytes.
// prefix + key is used as it is when it fits those rules; otherwise (and whenever the key starts
// with kHashedKeyMarker, so that no real key can look like a hashed one) the stored key is
// prefix + kHashedKeyMarker + 32 lower-case hex digits of the key's XXH3-128 hash. Pure: no I/O.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace tiercache::memcached {

// memcached's longest key, in bytes (KEY_MAX_LENGTH).
inline constexpr std::size_t kMaxKeyBytes = 250;
// First byte of a hashed key after the prefix.
inline constexpr char kHashedKeyMarker = '#';
// Hex digits of the hash in a hashed key (128 bits).
inline constexpr std::size_t kHashHexDigits = 32;

// Whether memcached's text protocol takes `byte` inside a key.
constexpr bool is_key_byte(unsigned char byte) {
  return byte > 0x20 && byte != 0x7f;
}

// The key stored in memcached for `key` under `prefix` (which the caller checked: valid bytes,
// short enough for a hashed key to fit).
std::string stored_key(std::string_view prefix, std::string_view key);

}  // namespace tiercache::memcached
