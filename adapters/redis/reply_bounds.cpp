#include "adapters/redis/reply_bounds.hpp"

#include <hiredis/hiredis.h>

namespace tiercache::redis {
namespace {

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

const ReplyBounds& bounds_of(const redisReadTask* task) {
  return *static_cast<const ReplyBounds*>(task->privdata);
}

void* create_string(const redisReadTask* task, char* str, std::size_t len) {
  if (len > bounds_of(task).max_string_bytes) return nullptr;
  return defaults().createString(task, str, len);
}

void* create_array(const redisReadTask* task, int elements) {
  if (elements < 0 || static_cast<std::size_t>(elements) > bounds_of(task).max_array_elements)
    return nullptr;
  return defaults().createArray(task, elements);
}

void* create_integer(const redisReadTask* task, long long value) {
  return defaults().createInteger(task, value);
}

void* create_nil(const redisReadTask* task) {
  return defaults().createNil(task);
}

void free_object(void* reply) {
  defaults().freeObject(reply);
}

redisReplyObjectFunctions g_bounded = {create_string, create_array, create_integer, create_nil,
                                       free_object};

}  // namespace

void bound_replies(redisReader* reader, const ReplyBounds* bounds) {
  defaults();
  reader->fn = &g_bounded;
  reader->privdata = const_cast<ReplyBounds*>(bounds);
}

}  // namespace tiercache::redis
