// fuzz/file_record_fuzz.cpp — whatever a file store's file holds, parse_record never reads past
// the bytes, answers ok only for a record whose lengths add up and whose checksum matches, and a
// record it accepts is exactly what encode_header plus the key and value would write.
//
// Input: byte 0 picks max_value_bytes (0..255, scaled by 64); the rest is the file's bytes.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "adapters/file/record.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::size_t max_value_bytes = std::size_t{data[0]} * 64;
  const std::string_view bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  const tiercache::file::ParsedRecord r = tiercache::file::parse_record(bytes, max_value_bytes);
  if (r.check != tiercache::file::RecordCheck::ok) return 0;
  if (r.value.size() > max_value_bytes || r.key.empty()) std::abort();
  const std::string rebuilt =
      tiercache::file::encode_header(r.key, r.value, r.header.is_absent(), r.header.expires_at_ms) +
      std::string(r.key) + std::string(r.value);
  // Flags this build does not know are carried, not rebuilt.
  if ((r.header.flags & ~tiercache::file::kFlagAbsent) == 0 && rebuilt != bytes) std::abort();
  return 0;
}
