// adapters/file/key_file.hpp — where a key lives in the store's directory, and which lock guards
// it.
//
//   <directory>/data/<ab>/<ab...32 hex digits...ef>         one key's record (record.hpp)
//   <directory>/data/<ab>/<...32 hex...>.tmp.<pid>.<id>.<n>  a write on its way in
//   <directory>/locks/<ef>                                   one of kLockCount lock files
// The name is the key's XXH3-128 in hex (a key may hold any byte; a name may not); its first two
// digits pick one of kFanout subdirectories, so none grows past a few thousand entries at the
// default sizes; its last two pick the lock. Both can be read back from a file's name alone.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace tiercache::file {

// Subdirectories of data/: one per value of a name's first byte.
inline constexpr std::size_t kFanout = 256;
// Lock files under locks/: one per value of a name's last byte. Writes to keys that share one
// are serialized across processes; 256 keeps that rare at a few KiB of descriptors.
inline constexpr std::size_t kLockCount = 256;
// Hex digits of a record's name (128 bits).
inline constexpr std::size_t kNameDigits = 32;

struct KeyFile {
  std::string name;        // kNameDigits hex digits
  std::size_t fanout = 0;  // which data/ subdirectory
  std::size_t lock = 0;    // which lock file
};

KeyFile key_file(std::string_view key);

// The KeyFile a record's file name stands for, or nothing if `name` is not one (a temporary file,
// anything else someone put there).
std::optional<KeyFile> key_file_of_name(std::string_view name);

// Whether `name` is a temporary file of a write (finished or abandoned).
bool is_temp_name(std::string_view name);

// Two hex digits for i < 256: the names of data/ subdirectories and lock files.
std::string byte_hex(std::size_t i);

}  // namespace tiercache::file
