// adapters/file/record.hpp — the bytes of one stored key: a fixed header, the key, the value.
//
//   offset  size  field
//        0     4  magic "TCFS"
//        4     2  format version (kFormatVersion)
//        6     2  flags (kFlagAbsent: the "no such key" marker; no value then)
//        8     8  expiry, wall-clock ms since the Unix epoch (0: never), so it survives restarts
//       16     4  key length (1..kMaxKeyBytes)
//       20     4  value length (at most the store's max_value_bytes)
//       24     8  XXH3-64 over bytes 0..23, the key and the value
//       32        the key, then the value; the file ends there
// Every integer little-endian, written byte by byte (no struct is copied to disk). The key is kept
// so that two keys whose names hash alike are told apart. Parsing never touches a file: it takes
// bytes, so it can be fuzzed, and never trusts a length before checking it against the bounds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace tiercache::file {

inline constexpr std::size_t kHeaderBytes = 32;
// The header's bytes the checksum covers (all but the checksum itself).
inline constexpr std::size_t kChecksummedHeaderBytes = 24;
inline constexpr std::uint16_t kFormatVersion = 1;
inline constexpr std::uint16_t kFlagAbsent = 1;
// Longest key a record holds: the cache's own bound (Options.l1.max_key_bytes) is at most this.
inline constexpr std::size_t kMaxKeyBytes = 65535;

struct RecordHeader {
  std::uint16_t flags = 0;
  std::uint64_t expires_at_ms = 0;  // wall clock; 0: never
  std::uint32_t key_bytes = 0;
  std::uint32_t value_bytes = 0;
  bool is_absent() const noexcept { return (flags & kFlagAbsent) != 0; }
};

// The header for `key` and `value` (empty for an absent marker), its checksum included.
// Preconditions: key.size() <= kMaxKeyBytes, value.size() fits in 32 bits.
std::string encode_header(std::string_view key, std::string_view value, bool absent,
                          std::uint64_t expires_at_ms);

// Why a file's bytes are not a record; ok when they are.
enum class RecordCheck : std::uint8_t {
  ok,
  too_short,        // fewer bytes than a header
  foreign_magic,    // not written by this store
  unknown_version,  // a format this build does not know
  bad_lengths,      // lengths past the bounds or not adding up to the file's size
  bad_checksum,     // torn or changed after it was written
};
const char* to_string(RecordCheck check) noexcept;

// The largest file a record may be: more is bad_lengths whatever its header says.
inline constexpr std::uint64_t record_bytes_limit(std::size_t max_value_bytes) noexcept {
  return kHeaderBytes + kMaxKeyBytes + max_value_bytes;
}

struct ParsedRecord {
  RecordCheck check = RecordCheck::ok;
  RecordHeader header;
  std::string_view key;    // into the bytes given to parse_record; valid while they are
  std::string_view value;  // same
};

// Checks and splits a whole file's bytes. Never reads past `bytes`; a value longer than
// max_value_bytes is bad_lengths. The caller bounds how many bytes it reads by
// kHeaderBytes + kMaxKeyBytes + max_value_bytes (record_bytes_limit) before it reads them.
ParsedRecord parse_record(std::string_view bytes, std::size_t max_value_bytes) noexcept;

}  // namespace tiercache::file
