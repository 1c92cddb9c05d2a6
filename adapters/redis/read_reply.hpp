// adapters/redis/read_reply.hpp — how keys are read from Redis, and what the answer means.
//
// A read is one script, kReadScript: per key GETRANGE key 0 <max> and PTTL key. A script runs
// atomically (a key rewritten between a GET and a PTTL cannot pair one value with another's
// TTL), and at most max + 1 bytes of a value cross the wire, so an oversized value is refused
// without being transferred. Flagged no-writes, it runs while the server is out of memory or
// its writes are paused (CLIENT PAUSE WRITE, a failover), where MULTI/EXEC would be refused or
// held. Servers before Redis 7 do not know the flag: kReadScriptLegacy is the same script
// without it (held by a write pause, which those servers do not have).
// Parsing is kept apart from I/O so that a fuzz target can feed it any reply.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include <hiredis/hiredis.h>

#include "tiercache/backend.hpp"

namespace tiercache::redis {

// KEYS: the keys; ARGV[1]: the last byte offset to read (max_value_bytes). Answers GETRANGE's
// and PTTL's replies for each key in turn.
inline constexpr const char* kReadScript =
    "#!lua flags=no-writes\n"
    "local out = {}\n"
    "for i, k in ipairs(KEYS) do\n"
    "  out[2 * i - 1] = redis.call('GETRANGE', k, 0, ARGV[1])\n"
    "  out[2 * i] = redis.call('PTTL', k)\n"
    "end\n"
    "return out\n";
// kReadScript without its first line.
const char* read_script_legacy();
// Whether an error reply says the server could not compile kReadScript (Redis < 7).
bool is_script_flags_unsupported(std::string_view error);

// The result for one key from its two script reply elements (GETRANGE's and PTTL's). A value longer
// than max_value_bytes is serialization; anything not shaped like those replies is
// backend_error, quoting what came.
Result<BackendValue> parse_read_reply(const redisReply& range, const redisReply& pttl,
                                      std::size_t max_value_bytes);

// The results for `keys` keys from the script's reply (2 elements per key). An error reply
// fails every key with its text.
std::vector<Result<BackendValue>> parse_script_reply(const redisReply& reply, std::size_t keys,
                                                     std::size_t max_value_bytes);

}  // namespace tiercache::redis
