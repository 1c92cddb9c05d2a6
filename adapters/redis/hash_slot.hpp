// adapters/redis/hash_slot.hpp — which of Redis Cluster's 16384 slots a key lives in.
//
// As the cluster specification defines it: CRC16 (XMODEM: polynomial 0x1021, initial 0, no
// reflection) of the key modulo 16384; if the key holds a "{...}" with at least one byte
// between the first '{' and the first '}' after it, only those bytes are hashed (a hash tag), so
// keys sharing a tag share a slot. The key is the one Redis sees: key_prefix included.
#pragma once

#include <cstdint>
#include <string_view>

namespace tiercache::redis {

// Slots in a Redis Cluster, fixed by its specification.
inline constexpr std::uint16_t kSlotCount = 16384;

// CRC16-XMODEM of `bytes`; crc16("123456789") is 0x31C3.
std::uint16_t crc16(std::string_view bytes) noexcept;
// The slot of `key`, hash tags honoured: in [0, kSlotCount).
std::uint16_t hash_slot(std::string_view key) noexcept;

}  // namespace tiercache::redis
