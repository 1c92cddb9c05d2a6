#include "bench/peers/hiredis_client.hpp"

#include <hiredis/hiredis.h>
#include <sys/time.h>

#include <algorithm>
#include <chrono>

namespace tiercache::bench {
namespace {

// A local server answers at once; this only bounds a broken one.
constexpr auto kConnectTimeout = std::chrono::seconds(2);

// Frees a reply at scope exit.
struct ReplyGuard {
  redisReply* reply;
  ~ReplyGuard() {
    if (reply != nullptr) freeReplyObject(reply);
  }
};

}  // namespace

HiredisClient::HiredisClient(const std::string& host, std::uint16_t port) {
  const timeval timeout{.tv_sec = kConnectTimeout.count(), .tv_usec = 0};
  context_ = redisConnectWithTimeout(host.c_str(), port, timeout);
  if (context_ == nullptr) {
    error_ = "redisConnect: out of memory";
  } else if (context_->err) {
    error_ = std::string("redisConnect: ") + context_->errstr;
  }
}

HiredisClient::~HiredisClient() {
  if (context_ != nullptr) redisFree(context_);
}

bool HiredisClient::is_connected() const {
  return context_ != nullptr && context_->err == 0;
}

bool HiredisClient::set(std::string_view key, std::string_view value) {
  const ReplyGuard r{static_cast<redisReply*>(
      redisCommand(context_, "SET %b %b", key.data(), key.size(), value.data(), value.size()))};
  if (r.reply != nullptr && r.reply->type == REDIS_REPLY_STATUS) return true;
  error_ = r.reply == nullptr ? context_->errstr : "SET: unexpected reply";
  return false;
}

std::int64_t HiredisClient::get(std::string_view key) {
  const ReplyGuard r{
      static_cast<redisReply*>(redisCommand(context_, "GET %b", key.data(), key.size()))};
  if (r.reply != nullptr && r.reply->type == REDIS_REPLY_STRING)
    return static_cast<std::int64_t>(r.reply->len);
  error_ = r.reply == nullptr ? context_->errstr : "GET: not a bulk string";
  return -1;
}

std::int64_t HiredisClient::mget(const std::vector<std::string_view>& keys) {
  std::vector<const char*> argv = {"MGET"};
  std::vector<std::size_t> lengths = {4};
  for (std::string_view k : keys) {
    argv.push_back(k.data());
    lengths.push_back(k.size());
  }
  const ReplyGuard r{static_cast<redisReply*>(
      redisCommandArgv(context_, static_cast<int>(argv.size()), argv.data(), lengths.data()))};
  if (r.reply == nullptr || r.reply->type != REDIS_REPLY_ARRAY) {
    error_ = r.reply == nullptr ? context_->errstr : "MGET: not an array";
    return -1;
  }
  std::int64_t found = 0;
  for (std::size_t i = 0; i < r.reply->elements; ++i)
    found += r.reply->element[i]->type == REDIS_REPLY_STRING;
  return found;
}

bool HiredisClient::set_pipelined(const std::vector<std::string>& keys, std::string_view value,
                                  std::size_t depth) {
  for (std::size_t start = 0; start < keys.size(); start += depth) {
    const std::size_t end = std::min(keys.size(), start + depth);
    for (std::size_t i = start; i < end; ++i)
      redisAppendCommand(context_, "SET %b %b", keys[i].data(), keys[i].size(), value.data(),
                         value.size());
    for (std::size_t i = start; i < end; ++i) {
      void* reply = nullptr;
      if (redisGetReply(context_, &reply) != REDIS_OK) {
        error_ = context_->errstr;
        return false;
      }
      const ReplyGuard r{static_cast<redisReply*>(reply)};
      if (r.reply->type != REDIS_REPLY_STATUS) {
        error_ = "SET: unexpected reply";
        return false;
      }
    }
  }
  return true;
}

}  // namespace tiercache::bench
