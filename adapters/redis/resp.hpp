// adapters/redis/resp.hpp — commands in RESP, built off the I/O thread.
//
// Formatting is pure, so the caller's thread (the writer, a reader) pays for copying a large
// value, not the I/O thread that serves every connection. Our own encoder rather than hiredis's
// redisFormatCommandArgv, whose int length overflows on a value above 2 GiB.
#pragma once

#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

namespace tiercache::redis {

// "*<n>\r\n" then "$<len>\r\n<arg>\r\n" per argument: binary-safe.
std::string format_command(std::span<const std::string_view> argv);
inline std::string format_command(std::initializer_list<std::string_view> argv) {
  return format_command(std::span<const std::string_view>(argv.begin(), argv.size()));
}

}  // namespace tiercache::redis
