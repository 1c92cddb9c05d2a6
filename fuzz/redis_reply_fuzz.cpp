// fuzz/redis_reply_fuzz.cpp — whatever bytes a server sends, reply handling neither crashes nor
// allocates past its bounds, and every answer is a value within max_value_bytes or an error of
// the codes a read may give (backend_unavailable only for a refusal for now: LOADING, BUSY...).
// Also: a command format_command() built parses back to its words.
//
// Input: byte 0 picks max_value_bytes (0..255) and byte 1 the keys a read expects (1..4); the
// rest is fed to a hiredis reader bounded as RedisConnection bounds its own, in chunks whose
// sizes come from the input too, and every complete reply is handed to parse_script_reply. The
// same bytes, split at NULs, are the words of a command for the round trip.
#include <hiredis/hiredis.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "adapters/redis/not_serving.hpp"
#include "adapters/redis/read_reply.hpp"
#include "adapters/redis/reply_bounds.hpp"
#include "adapters/redis/resp.hpp"
#include "fuzz/chunked_replies.hpp"

namespace {

using tiercache::errc;

// Small bounds, so that fuzzed lengths and counts reach them.
constexpr tiercache::redis::ReplyBounds kBounds{.max_string_bytes = 4096, .max_array_elements = 64};

bool is_refusal(const redisReply* r) {
  return r != nullptr && r->type == REDIS_REPLY_ERROR &&
         tiercache::redis::is_not_serving({r->str, r->len});
}

// Whether key i's answer came from an error Redis sends while it will not serve now: the whole
// reply, if it is not the script's array, else one of key i's own two elements.
bool refusal_for_now(const redisReply& reply, std::size_t keys, std::size_t i) {
  if (reply.type != REDIS_REPLY_ARRAY || reply.elements != 2 * keys) return is_refusal(&reply);
  return is_refusal(reply.element[2 * i]) || is_refusal(reply.element[2 * i + 1]);
}

void check_reply(const redisReply& reply, std::size_t keys, std::size_t max_value_bytes) {
  const auto results = tiercache::redis::parse_script_reply(reply, keys, max_value_bytes);
  if (results.size() != keys) std::abort();
  for (std::size_t i = 0; i < keys; ++i) {
    const auto& r = results[i];
    if (r) {
      if (r->value.size() > max_value_bytes) std::abort();
      // The marker carries no value.
      if (r->absent && !r->value.empty()) std::abort();
    } else if (r.error() == errc::backend_unavailable) {
      // Only an error reply the server sends while it serves nothing for now.
      if (!refusal_for_now(reply, keys, i)) std::abort();
    } else if (!(r.error() == errc::not_found || r.error() == errc::serialization ||
                 r.error() == errc::backend_error)) {
      std::abort();
    }
  }
}

void command_round_trip(std::string_view bytes) {
  std::vector<std::string_view> words;
  std::size_t from = 0;
  for (std::size_t i = 0; i <= bytes.size(); ++i) {
    if (i == bytes.size() || bytes[i] == '\0') {
      words.push_back(bytes.substr(from, i - from));
      from = i + 1;
    }
  }
  const std::string command = tiercache::redis::format_command(words);
  redisReader* reader = redisReaderCreate();
  if (redisReaderFeed(reader, command.data(), command.size()) != REDIS_OK) std::abort();
  void* reply = nullptr;
  if (redisReaderGetReply(reader, &reply) != REDIS_OK || reply == nullptr) std::abort();
  const auto* r = static_cast<redisReply*>(reply);
  if (r->type != REDIS_REPLY_ARRAY || r->elements != words.size()) std::abort();
  for (std::size_t i = 0; i < words.size(); ++i) {
    const redisReply* e = r->element[i];
    if (e->type != REDIS_REPLY_STRING || std::string_view(e->str, e->len) != words[i]) std::abort();
  }
  freeReplyObject(reply);
  redisReaderFree(reader);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  const std::size_t max_value_bytes = data[0];
  const std::size_t keys = 1 + data[1] % 4;
  const std::string_view rest(reinterpret_cast<const char*>(data) + 2, size - 2);
  fuzz::for_each_reply(rest, kBounds,
                       [&](const redisReply& r) { check_reply(r, keys, max_value_bytes); });
  command_round_trip(rest);
  return 0;
}
