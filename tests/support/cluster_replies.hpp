// tests/support/cluster_replies.hpp — cluster replies written by hand, as hiredis reads them, and
// a field of an INFO reply: what the cluster tests feed the topology parsers and poll nodes with.
#pragma once

#include <memory>
#include <string>

#include <hiredis/hiredis.h>

namespace test {

// The reply hiredis reads from `resp` (RESP2 bytes); null if they hold no whole reply.
inline std::unique_ptr<redisReply, decltype(&freeReplyObject)> reply_of(const std::string& resp) {
  std::unique_ptr<redisReader, decltype(&redisReaderFree)> reader(redisReaderCreate(),
                                                                  &redisReaderFree);
  redisReaderFeed(reader.get(), resp.data(), resp.size());
  void* reply = nullptr;
  redisReaderGetReply(reader.get(), &reply);
  return {static_cast<redisReply*>(reply), &freeReplyObject};
}

// `s` as a RESP bulk string.
inline std::string bulk(const std::string& s) {
  return "$" + std::to_string(s.size()) + "\r\n" + s + "\r\n";
}

// The value of `name` in an INFO reply ("" if it has none).
inline std::string field_of(const std::string& info, const std::string& name) {
  const std::size_t at = info.find(name + ":");
  if (at == std::string::npos) return {};
  const std::size_t begin = at + name.size() + 1;
  return info.substr(begin, info.find_first_of("\r\n", begin) - begin);
}

}  // namespace test
