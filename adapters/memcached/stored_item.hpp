// adapters/memcached/stored_item.hpp — how a value and the "no such key" marker are held in
// memcached, told apart by the item's 32-bit client flags.
//
// A value is its bytes with flags 0, as any client stores plain bytes, so a value written by
// another program with flags 0 reads back. The marker (BackendWrite::absent) is an empty item
// with kAbsentFlags. Anything else (other flags: another client's serialized or compressed
// data; the marker's flags on a non-empty item) is unreadable: answered as not_found, so that
// the cache loads the key again, and counted in BackendHealth::unreadable_values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "tiercache/backend.hpp"

namespace tiercache::memcached {

// Flags of a value.
inline constexpr std::uint32_t kValueFlags = 0;
// Flags of the marker: one high bit and "tc" (0x7463), unlikely to be another client's flags.
inline constexpr std::uint32_t kAbsentFlags = 0x80007463;

enum class ItemKind { value, absent, too_long, unreadable };

// What an item read back is, for a cache that takes values of at most max_value_bytes.
ItemKind classify_item(std::uint32_t flags, std::size_t value_bytes, std::size_t max_value_bytes);

}  // namespace tiercache::memcached
