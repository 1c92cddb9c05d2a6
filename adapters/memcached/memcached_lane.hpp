// adapters/memcached/memcached_lane.hpp — one thread with one memcached_st (a memcached_st is
// not thread-safe), fed jobs through a queue, with a circuit breaker per server.
//
//   closed ──connection failure or timeout──▶ open: jobs for the server fail at once
//     ▲                                         │ backoff elapsed (from backoff_min, doubling
//     └────────── the probe is answered ◀───────┘ to backoff_max per failed probe): probe
//
// The probe is a get of a key that hashes to that server (the lane's own thread sends it, before
// the next job). libmemcached's own retry logic is kept out of the way (RETRY_TIMEOUT 0, no
// ejection, next_retry reset before each probe), so only this backoff decides when a server is
// tried again, and a failed server stays on the ketama ring (its keys never move).
//
// Fence: after a connection failure or timeout, memcached_quit() closes every connection of the
// lane before anything else is sent, so a reply that is late cannot be taken for the answer to
// a later command, and a write in doubt is never followed by another one on the same
// connection. memcached has no way to kill the old connection on the server's side: a server
// stalled longer than command_timeout may still apply a write it had already received.
//
// Threads: post(), accepts() and health_any_thread() from any thread; all else on the lane's.
#pragma once

#include <libmemcached-1.0/memcached.h>

#include "adapters/job_queue.hpp"

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "adapters/memcached/memcached_config.hpp"
#include "tiercache/error.hpp"

namespace tiercache::memcached {

class MemcachedLane {
 public:
  using Clock = std::chrono::steady_clock;

  struct Job {
    std::function<void(MemcachedLane&)> run;    // on the lane's thread
    std::function<void(const Error&)> abandon;  // instead of run, when the lane stops first
  };
  struct Health {
    std::string last_error;
    std::uint64_t reconnects = 0;  // servers answering again after a failure
  };

  // Builds the memcached_st (servers, ketama, timeouts) and starts the thread. `name` goes in
  // front of every error detail ("memcached reads").
  static Result<std::unique_ptr<MemcachedLane>> start(const Config& config, std::string name);
  // Stops the thread after the job it runs, then abandons the queued jobs with errc::closed.
  ~MemcachedLane();

  MemcachedLane(const MemcachedLane&) = delete;
  MemcachedLane& operator=(const MemcachedLane&) = delete;

  // Queues `job`; abandons it at once (closed) if the lane is stopping.
  void post(Job job);
  // No server's breaker is open.
  bool accepts() const noexcept;
  Health health_any_thread() const;

  // Lane thread only, from a job.
  memcached_st* handle() { return memc_.get(); }
  // The server (index in Config::servers order) `key` hashes to.
  std::uint32_t server_of(std::string_view key) const;
  // The failure for a command to `server` while its breaker is open; nullopt if closed.
  std::optional<Error> refusal(std::uint32_t server) const;
  // After `op` on `server` failed with `rc` (not an answer): the error to give, with the
  // lane's name, the server and libmemcached's message. A connection failure or timeout also
  // closes the lane's connections and opens the server's breaker.
  Error failed(std::uint32_t server, memcached_return_t rc, std::string_view op);

 private:
  struct Server {
    std::string name;
    std::string probe_key;  // a key that hashes to this server
    bool open = false;
    std::chrono::milliseconds backoff{0};
    Clock::time_point probe_at;
  };
  struct MemcFree {
    void operator()(memcached_st* m) const { memcached_free(m); }
  };

  MemcachedLane(const Config& config, std::string name, std::unique_ptr<memcached_st, MemcFree> m);
  void run();
  // Probes every open server whose backoff has elapsed.
  void probe_due();
  void open(Server& server, const std::string& why);
  // The earliest probe_at of an open server, if any.
  std::optional<Clock::time_point> next_probe_at() const;
  void note_error(std::string text);

  const std::string name_;
  const std::chrono::milliseconds backoff_min_;
  const std::chrono::milliseconds backoff_max_;
  std::unique_ptr<memcached_st, MemcFree> memc_;
  std::vector<Server> servers_;  // lane thread, but for its names (fixed at start)

  // Servers whose breaker is open. Relaxed: a hint for accepts(), which the writer polls; a
  // stale answer costs one batch failing at once (and being sent again) or one poll's delay.
  std::atomic<int> open_servers_{0};
  // Relaxed: a statistic.
  std::atomic<std::uint64_t> reconnects_{0};
  mutable std::mutex health_mu_;
  std::string last_error_;  // guarded by health_mu_

  adapters::JobQueue<Job> jobs_;
  std::thread thread_;
};

}  // namespace tiercache::memcached
