// fuzz/chunked_replies.hpp — the replies a bounded hiredis reader makes of fuzz bytes, fed to it
// in chunks whose sizes come from the bytes themselves: replies split anywhere, as TCP splits
// them. Shared by the fuzz targets that parse replies.
#pragma once

#include <hiredis/hiredis.h>

#include <algorithm>
#include <cstddef>
#include <string_view>

#include "adapters/redis/reply_bounds.hpp"

namespace fuzz {

// Calls on_reply(const redisReply&) for each whole reply in `bytes`, until the reader fails.
template <typename OnReply>
void for_each_reply(std::string_view bytes, const tiercache::redis::ReplyBounds& bounds,
                    OnReply on_reply) {
  redisReader* reader = redisReaderCreate();
  tiercache::redis::ReplyGuard guard(bounds);
  guard.attach(reader);
  std::size_t at = 0;
  while (at < bytes.size()) {
    const std::size_t chunk = 1 + static_cast<unsigned char>(bytes[at]) % 64;
    const std::size_t n = std::min(chunk, bytes.size() - at);
    if (redisReaderFeed(reader, bytes.data() + at, n) != REDIS_OK) break;
    at += n;
    void* reply = nullptr;
    while (redisReaderGetReply(reader, &reply) == REDIS_OK && reply != nullptr) {
      on_reply(*static_cast<const redisReply*>(reply));
      freeReplyObject(reply);
      reply = nullptr;
    }
    if (reader->err != 0) break;
  }
  redisReaderFree(reader);
}

}  // namespace fuzz
