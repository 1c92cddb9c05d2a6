// tiercache/backend.hpp — what an L2 implements: batched, asynchronous reads and writes.
//
// The engine calls a Backend from its own threads and never blocks in it: each call hands over
// a batch and a callback, and the backend answers once, later, on a thread of its own. The Redis
// backend (Options.redis) is the one that ships; a Backend is also how a test or another store
// plugs in.
//
// Ownership: the backend owns the batches it is given; results are the callback's to keep.
// Threads:   read(), write() and is_available() may be called from any thread at once.
// Never:     calls a callback twice, or zero times (a backend being destroyed answers every
//            batch it still holds with errc::closed); throws.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "tiercache/error.hpp"

namespace tiercache {

// A value read from L2 with the time it has left there (0: it does not expire).
struct BackendValue {
  std::string value;
  std::chrono::milliseconds ttl_left{0};
};

struct BackendWrite {
  enum class Kind { set, erase };
  Kind kind = Kind::set;
  std::string key;
  std::string value;                 // set only
  std::chrono::milliseconds ttl{0};  // set only; 0: no expiry
};

class Backend {
 public:
  // One result per key, in order: a value, errc::not_found, or the failure.
  using ReadDone = std::function<void(std::vector<Result<BackendValue>>)>;
  // One result per write, in order.
  using WriteDone = std::function<void(std::vector<Result<void>>)>;

  virtual ~Backend() = default;

  // Reads every key in one round trip where the backend can.
  virtual void read(std::vector<std::string> keys, ReadDone done) = 0;
  // Applies the writes in order, in one round trip where the backend can.
  virtual void write(std::vector<BackendWrite> writes, WriteDone done) = 0;
  // False while the backend knows it cannot serve (disconnected, reconnecting): callers fail
  // fast with backend_unavailable instead of queueing behind a dead connection.
  virtual bool is_available() const noexcept = 0;
};

struct Options;

// The built-in L2 that `options` names: Redis when Options.redis.is_configured(), else null (an
// L1-only cache). Checks those options first: invalid_argument names the bad field, and nothing
// is built. Cache::open calls it; it is public so a program can wrap the built-in backend.
[[nodiscard]] Result<std::unique_ptr<Backend>> make_backend(const Options& options);

}  // namespace tiercache
