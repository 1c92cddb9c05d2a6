// adapters/redis/event_loop.hpp — tiercache's own I/O thread: poll(2) over the sockets of the
// sources attached to it, and an eventfd that wakes it for work posted from other threads.
//
// hiredis 0.14.1 ships adapters for libevent, libev and others but none for plain poll, and a
// redisAsyncContext must only ever be touched by one thread: this loop is that thread. Each
// Source says which fd and events it wants and when it next needs a tick (command and connect
// timeouts: hiredis has no async timeouts of its own).
//
// Threads:   post() from any thread; everything else, and every Source callback, on the loop.
// Ownership: sources are owned by their creators and must detach before they are destroyed.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "tiercache/error.hpp"

namespace tiercache::redis {

using Clock = std::chrono::steady_clock;

class EventLoop {
 public:
  class Source {
   public:
    virtual ~Source() = default;
    // -1 when there is no socket now.
    virtual int fd() const = 0;
    virtual bool wants_read() const = 0;
    virtual bool wants_write() const = 0;
    virtual void on_ready(bool readable, bool writable) = 0;
    // Called on every turn of the loop, after I/O; the place for timeouts and deferred frees.
    virtual void on_tick(Clock::time_point now) = 0;
    // When the source next needs on_tick at the latest; time_point::max() if never.
    virtual Clock::time_point next_deadline() const = 0;
  };

  // A running loop, or backend_unavailable if the process is out of file descriptors or threads.
  static Result<std::unique_ptr<EventLoop>> start();
  // Stops the thread after running what was posted before.
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  void post(std::function<void()> fn);
  // A duplicate of the loop's wake descriptor, for a helper thread to write 1 to when it has
  // news for a Source (see HostLookup); the helper closes it. -1 if none could be made.
  int dup_wake_fd() const noexcept;
  // Loop thread only.
  void attach(Source* s);
  void detach(Source* s);

 private:
  EventLoop() = default;
  void run();
  void wake();

  int wake_fd_ = -1;
  std::mutex mu_;
  std::vector<std::function<void()>> posted_;  // guarded by mu_
  bool stopping_ = false;                      // guarded by mu_
  std::vector<Source*> sources_;               // loop thread only
  std::thread thread_;
};

}  // namespace tiercache::redis
