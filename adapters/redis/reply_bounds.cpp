#include "adapters/redis/reply_bounds.hpp"

#include <hiredis/hiredis.h>
#include <strings.h>

#include <cctype>
#include <cstring>
#include <string_view>

namespace tiercache::redis {
namespace {

// What hiredis allocates for one element: its redisReply and malloc's header, and the pointer
// to it in the array that holds it.
constexpr std::size_t kElementCost = sizeof(redisReply) + 16 + sizeof(void*);

// hiredis's own functions, which every reader starts with.
const redisReplyObjectFunctions& defaults() {
  static const redisReplyObjectFunctions* const fn = [] {
    redisReader* reader = redisReaderCreate();
    const redisReplyObjectFunctions* f = reader->fn;
    redisReaderFree(reader);
    return f;
  }();
  return *fn;
}

}  // namespace

const redisReplyObjectFunctions ReplyGuard::kFunctions = {
    &ReplyGuard::create_string, &ReplyGuard::create_array, &ReplyGuard::create_integer,
    &ReplyGuard::create_nil, &ReplyGuard::free_object};

void ReplyGuard::attach(redisReader* reader) {
  defaults();
  reader->fn = const_cast<redisReplyObjectFunctions*>(&kFunctions);
  reader->privdata = this;
  refusal_.clear();
}

ReplyGuard& ReplyGuard::of(const redisReadTask* task) {
  return *static_cast<ReplyGuard*>(task->privdata);
}

void* ReplyGuard::create_string(const redisReadTask* task, char* str, std::size_t len) {
  ReplyGuard& g = of(task);
  if (len > g.bounds_.max_string_bytes) {
    g.refuse("a string of " + std::to_string(len) + " bytes, over the bound of " +
             std::to_string(g.bounds_.max_string_bytes));
    return nullptr;
  }
  if (!g.admit(task, kElementCost + len) || !g.fits_message(task, 0, str, len)) return nullptr;
  return defaults().createString(task, str, len);
}

void* ReplyGuard::create_array(const redisReadTask* task, int elements) {
  ReplyGuard& g = of(task);
  if (elements < 0 || static_cast<std::size_t>(elements) > g.bounds_.max_array_elements) {
    g.refuse("an array of " + std::to_string(elements) + " elements, over the bound of " +
             std::to_string(g.bounds_.max_array_elements));
    return nullptr;
  }
  if (!g.admit(task, kElementCost + static_cast<std::size_t>(elements) * sizeof(void*)) ||
      !g.fits_message(task, elements, nullptr, 0))
    return nullptr;
  return defaults().createArray(task, elements);
}

void* ReplyGuard::create_integer(const redisReadTask* task, long long value) {
  ReplyGuard& g = of(task);
  if (!g.admit(task, kElementCost) || !g.fits_message(task, 0, nullptr, 0)) return nullptr;
  return defaults().createInteger(task, value);
}

void* ReplyGuard::create_nil(const redisReadTask* task) {
  ReplyGuard& g = of(task);
  if (!g.admit(task, kElementCost) || !g.fits_message(task, 0, nullptr, 0)) return nullptr;
  return defaults().createNil(task);
}

void ReplyGuard::free_object(void* reply) {
  defaults().freeObject(reply);
}

bool ReplyGuard::admit(const redisReadTask* task, std::size_t cost) {
  if (task->parent == nullptr) {
    const NextReply next = next_ ? next_() : NextReply{};
    // The replies of the commands sent come first, in order; anything more on a connection
    // that is not subscribed is a broken stream, on which hiredis would abort the process. It
    // handles an unawaited error itself (a server over maxclients sends one, then closes).
    if (!next.awaited && !next.subscribed && task->type != REDIS_REPLY_ERROR)
      return refuse("a reply no command waited for");
    message_ = !next.awaited && next.subscribed;
    unsubscribe_ = false;
    limit_ = next.max_bytes != 0 ? next.max_bytes : bounds_.max_reply_bytes;
    spent_ = 0;
  }
  spent_ += cost;
  if (limit_ != 0 && spent_ > limit_)
    return refuse("a reply of over " + std::to_string(limit_) + " bytes");
  return true;
}

bool ReplyGuard::fits_message(const redisReadTask* task, int elements, const char* text,
                              std::size_t len) {
  // What hiredis (__redisGetSubscribeCallback) asserts of a message that is an array: two
  // elements at least, the first two bulk strings, and an [p]unsubscribe's third an integer.
  // Deeper elements and messages that are not arrays it does not look into.
  if (!message_) return true;
  if (task->parent == nullptr)
    return task->type != REDIS_REPLY_ARRAY || elements >= 2 ||
           refuse("a pub/sub message of fewer than 2 elements");
  if (task->parent->parent != nullptr) return true;
  if (task->idx <= 1 && task->type != REDIS_REPLY_STRING)
    return refuse("a pub/sub message whose kind or channel is not a string");
  if (task->idx == 0) {
    // Read as hiredis reads it: a C string (up to its first NUL), case-insensitively.
    std::string_view kind(text, ::strnlen(text, len));
    if (!kind.empty() && std::tolower(static_cast<unsigned char>(kind[0])) == 'p')
      kind.remove_prefix(1);
    constexpr std::string_view kUnsubscribe = "unsubscribe";
    unsubscribe_ = kind.size() == kUnsubscribe.size() &&
                   ::strncasecmp(kind.data(), kUnsubscribe.data(), kUnsubscribe.size()) == 0;
    if (unsubscribe_ && task->parent->elements < 3)
      return refuse("an unsubscribe message without its count");
  }
  if (task->idx == 2 && unsubscribe_ && task->type != REDIS_REPLY_INTEGER)
    return refuse("an unsubscribe message whose count is not an integer");
  return true;
}

bool ReplyGuard::refuse(std::string why) {
  refusal_ = std::move(why);
  return false;
}

}  // namespace tiercache::redis
