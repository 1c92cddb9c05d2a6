#include "adapters/file/record.hpp"

// XXH3_state_t on the stack: its layout is public only under this macro (libxxhash.a is
// linked statically, from the same version as the header).
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>

#include <algorithm>
#include <iterator>

namespace tiercache::file {
namespace {

constexpr char kMagic[4] = {'T', 'C', 'F', 'S'};

void put_le(char* out, std::uint64_t v, std::size_t bytes) noexcept {
  for (std::size_t i = 0; i < bytes; ++i) out[i] = static_cast<char>((v >> (8 * i)) & 0xff);
}

std::uint64_t get_le(const char* in, std::size_t bytes) noexcept {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < bytes; ++i)
    v |= static_cast<std::uint64_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  return v;
}

std::uint64_t checksum(std::string_view header, std::string_view key,
                       std::string_view value) noexcept {
  XXH3_state_t state;
  XXH3_64bits_reset(&state);
  XXH3_64bits_update(&state, header.data(), kChecksummedHeaderBytes);
  XXH3_64bits_update(&state, key.data(), key.size());
  XXH3_64bits_update(&state, value.data(), value.size());
  return XXH3_64bits_digest(&state);
}

}  // namespace

std::string encode_header(std::string_view key, std::string_view value, bool absent,
                          std::uint64_t expires_at_ms) {
  std::string h(kHeaderBytes, '\0');
  std::copy(std::begin(kMagic), std::end(kMagic), h.begin());
  put_le(&h[4], kFormatVersion, 2);
  put_le(&h[6], absent ? kFlagAbsent : 0, 2);
  put_le(&h[8], expires_at_ms, 8);
  put_le(&h[16], key.size(), 4);
  put_le(&h[20], value.size(), 4);
  put_le(&h[24], checksum(h, key, value), 8);
  return h;
}

const char* to_string(RecordCheck check) noexcept {
  switch (check) {
    case RecordCheck::ok:
      return "ok";
    case RecordCheck::too_short:
      return "shorter than a header";
    case RecordCheck::foreign_magic:
      return "not a tiercache file store record";
    case RecordCheck::unknown_version:
      return "unknown format version";
    case RecordCheck::bad_lengths:
      return "lengths past the bounds or not matching the file's size";
    case RecordCheck::bad_checksum:
      return "checksum mismatch";
  }
  return "?";
}

ParsedRecord parse_record(std::string_view bytes, std::size_t max_value_bytes) noexcept {
  ParsedRecord r;
  if (bytes.size() < kHeaderBytes) {
    r.check = RecordCheck::too_short;
    return r;
  }
  if (!std::equal(std::begin(kMagic), std::end(kMagic), bytes.begin())) {
    r.check = RecordCheck::foreign_magic;
    return r;
  }
  if (get_le(&bytes[4], 2) != kFormatVersion) {
    r.check = RecordCheck::unknown_version;
    return r;
  }
  r.header.flags = static_cast<std::uint16_t>(get_le(&bytes[6], 2));
  r.header.expires_at_ms = get_le(&bytes[8], 8);
  r.header.key_bytes = static_cast<std::uint32_t>(get_le(&bytes[16], 4));
  r.header.value_bytes = static_cast<std::uint32_t>(get_le(&bytes[20], 4));
  // In 64 bits: two 32-bit lengths cannot overflow their sum.
  const std::uint64_t body = std::uint64_t{r.header.key_bytes} + r.header.value_bytes;
  if (r.header.key_bytes == 0 || r.header.key_bytes > kMaxKeyBytes ||
      r.header.value_bytes > max_value_bytes || body != bytes.size() - kHeaderBytes ||
      (r.header.is_absent() && r.header.value_bytes != 0)) {
    r.check = RecordCheck::bad_lengths;
    return r;
  }
  r.key = bytes.substr(kHeaderBytes, r.header.key_bytes);
  r.value = bytes.substr(kHeaderBytes + r.header.key_bytes);
  if (checksum(bytes, r.key, r.value) != get_le(&bytes[24], 8)) r.check = RecordCheck::bad_checksum;
  return r;
}

}  // namespace tiercache::file
