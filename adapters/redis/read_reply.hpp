// adapters/redis/read_reply.hpp — how keys are read from Redis, and what the answer means.
//
// A read is one script, kReadScript: per key its length, then its value if it is no longer than
// the cache takes (else only the length), then its PTTL. A script runs atomically (a key
// rewritten between a GET and a PTTL cannot pair one value with another's TTL), and an
// oversized value is refused without being transferred. Flagged no-writes, it runs while the server
// is out of memory or its writes are paused (CLIENT PAUSE WRITE, a failover), where MULTI/EXEC
// would be refused or held. Servers before Redis 7 do not know the flag: kReadScriptLegacy is the
// same script without it (held by a write pause, which those servers do not have). Parsing is kept
// apart from I/O so that a fuzz target can feed it any reply.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

#include <hiredis/hiredis.h>

#include "adapters/redis/absent_marker.hpp"
#include "tiercache/backend.hpp"

namespace tiercache::redis {

// KEYS: the keys; ARGV[1]: max_value_bytes. Answers, per key in turn, the value ("" if absent)
// or, if it is longer than ARGV[1], its length as an integer, or the status ABSENT for the "no
// such key" marker (absent_marker.hpp), or the error of a key of another type (that key's
// alone); then its PTTL.
inline constexpr const char* kReadScript =
    "#!lua flags=no-writes\n"
    "local max = tonumber(ARGV[1])\n"
    "local out = {}\n"
    "for i, k in ipairs(KEYS) do\n"
    "  local n = redis.pcall('STRLEN', k)\n"
    "  if type(n) == 'table' then\n"
    "    if redis.call('TYPE', k)['ok'] == 'hash' and "
    "redis.call('HEXISTS', k, 'tiercache:absent') == 1 then\n"
    "      out[2 * i - 1] = {ok = 'ABSENT'}\n"
    "    else\n"
    "      out[2 * i - 1] = n\n"
    "    end\n"
    "  elseif n > max then out[2 * i - 1] = n else out[2 * i - 1] = redis.call('GETRANGE', k, 0, "
    "max) end\n"
    "  out[2 * i] = redis.call('PTTL', k)\n"
    "end\n"
    "return out\n";
static_assert(std::string_view(kReadScript).find(kAbsentField) != std::string_view::npos &&
                  std::string_view(kWriteAbsentScript).find(kAbsentField) != std::string_view::npos,
              "both scripts name the marker's field");
// kReadScript without its first line.
const char* read_script_legacy();
// Whether an error reply says the server could not compile kReadScript (Redis < 7).
bool is_script_flags_unsupported(std::string_view error);

// The result for one key from its two script reply elements: the value (or the length of one
// too long: serialization; or the marker: BackendValue::absent) and the PTTL. Anything not shaped
// like those is backend_error, quoting what came.
Result<BackendValue> parse_read_reply(const redisReply& range, const redisReply& pttl,
                                      std::size_t max_value_bytes);

// The results for `keys` keys from the script's reply (2 elements per key). An error reply
// fails every key with its text.
std::vector<Result<BackendValue>> parse_script_reply(const redisReply& reply, std::size_t keys,
                                                     std::size_t max_value_bytes);

}  // namespace tiercache::redis
