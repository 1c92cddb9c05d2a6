// adapters/redis/absent_marker.hpp — how Redis holds "the origin has no such key"
// (Options.negative_in_l2), where no value can be mistaken for it.
//
// tiercache stores every value as a Redis string, so the marker is another type: a hash with one
// field, kAbsentField. Any bytes may be a value, but no value is a hash. The read script
// (read_reply.hpp) answers such a key with the status ABSENT; a SET of the key replaces the
// marker (SET ignores the old type), UNLINK removes it, and it expires like a value. Another
// client's GET of it gets WRONGTYPE.
#pragma once

namespace tiercache::redis {

// The marker's one field.
inline constexpr const char* kAbsentField = "tiercache:absent";

// KEYS[1]: the key; ARGV[1]: PX in ms ("0": no expiry); ARGV[2]: "nx" to write only where the
// key holds nothing (a fill). Answers 1 if it wrote the marker, 0 if NX found the key taken.
inline constexpr const char* kWriteAbsentScript =
    "if ARGV[2] == 'nx' and redis.call('EXISTS', KEYS[1]) == 1 then return 0 end\n"
    "redis.call('UNLINK', KEYS[1])\n"
    "redis.call('HSET', KEYS[1], 'tiercache:absent', '1')\n"
    "if ARGV[1] ~= '0' then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end\n"
    "return 1\n";

}  // namespace tiercache::redis
