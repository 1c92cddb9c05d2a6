// adapters/redis/reply_bounds.hpp — caps on what one reply may make hiredis allocate.
//
// hiredis 0.14.1 sizes a string by the length the server sends and an array by its element
// count, without limit. These reader functions refuse a string or an array over the caps (the
// reader then reports out of memory and the connection drops), so a server, or a byte flipped on
// the way, cannot make the process allocate what it names. RedisConnection also bounds the
// bytes buffered for a reply still arriving, which these cannot see.
#pragma once

#include <cstddef>

#include <hiredis/read.h>

namespace tiercache::redis {

struct ReplyBounds {
  std::size_t max_string_bytes;
  std::size_t max_array_elements;
};

// Makes `reader` refuse replies over `bounds`, which must outlive it.
void bound_replies(redisReader* reader, const ReplyBounds* bounds);

}  // namespace tiercache::redis
