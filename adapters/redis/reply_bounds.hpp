// adapters/redis/reply_bounds.hpp — which replies a hiredis reader takes, and what one may make it
// allocate.
//
// hiredis 0.14.1 sizes a string by the length the server sends and an array by its element
// count, without limit, and builds a reply's objects as its bytes arrive. Its async context also
// assert()s, aborting the process, on a reply no command waits for (unless the connection is
// subscribed) and on a pub/sub message of a shape it does not expect. A ReplyGuard's reader
// functions refuse all of these before hiredis sees them (the reader then reports out of memory
// and the connection drops), so neither a server nor a byte flipped on the way can make the
// process allocate what it names or abort. RedisConnection also bounds the bytes buffered for a
// reply still arriving, which these cannot see.
#pragma once

#include <cstddef>
#include <functional>
#include <string>

#include <hiredis/read.h>

namespace tiercache::redis {

// Elements one array may have: a read of N keys answers 2N; far above any batch we send.
inline constexpr std::size_t kMaxReplyElements = std::size_t{1} << 20;

struct ReplyBounds {
  std::size_t max_string_bytes;
  std::size_t max_array_elements;
  // What one whole reply may cost (its strings, and hiredis's object for each element at any
  // depth); 0: no bound beyond the two above. A command may set its own (NextReply).
  std::size_t max_reply_bytes = 0;
};

// What the connection expects of the reply that starts now.
struct NextReply {
  bool awaited = true;        // a command of this connection waits for it
  bool subscribed = false;    // the connection is subscribed: an unawaited reply is a message
  std::size_t max_bytes = 0;  // its bound; 0: ReplyBounds::max_reply_bytes
};

class ReplyGuard {
 public:
  explicit ReplyGuard(const ReplyBounds& bounds) : bounds_(bounds) {}
  ReplyGuard(const ReplyGuard&) = delete;
  ReplyGuard& operator=(const ReplyGuard&) = delete;

  // Asked as each reply starts; without it every reply counts as awaited, under `bounds`.
  void expect(std::function<NextReply()> next) { next_ = std::move(next); }
  // Makes `reader` refuse what the guard refuses; the guard must outlive the reader. Forgets
  // an earlier refusal.
  void attach(redisReader* reader);
  // Why the reader's last reply was refused; empty if none was since attach().
  const std::string& refusal() const noexcept { return refusal_; }
  const ReplyBounds& bounds() const noexcept { return bounds_; }

 private:
  static ReplyGuard& of(const redisReadTask* task);
  static void* create_string(const redisReadTask* task, char* str, std::size_t len);
  static void* create_array(const redisReadTask* task, int elements);
  static void* create_integer(const redisReadTask* task, long long value);
  static void* create_nil(const redisReadTask* task);
  static void free_object(void* reply);
  static const redisReplyObjectFunctions kFunctions;

  // Charges `cost` to the reply `task` belongs to (a task without a parent starts one).
  bool admit(const redisReadTask* task, std::size_t cost);
  // Whether an element fits the shape hiredis expects of a pub/sub message (true outside one).
  // `elements`: an array's count; `text`: a string's bytes.
  bool fits_message(const redisReadTask* task, int elements, const char* text, std::size_t len);
  bool refuse(std::string why);

  const ReplyBounds bounds_;
  std::function<NextReply()> next_;
  // The reply being read: its bound, what it cost so far, whether it is a pub/sub message and,
  // if so, whether an unsubscribe.
  std::size_t limit_ = 0;
  std::size_t spent_ = 0;
  bool message_ = false;
  bool unsubscribe_ = false;
  std::string refusal_;
};

}  // namespace tiercache::redis
