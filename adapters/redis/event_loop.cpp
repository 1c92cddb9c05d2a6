#include "adapters/redis/event_loop.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <system_error>

namespace tiercache::redis {
namespace {

// How long the loop rests after poll(2) itself failed (out of memory), before trying again.
constexpr auto kPollFailurePause = std::chrono::milliseconds(1);

}  // namespace

Result<std::unique_ptr<EventLoop>> EventLoop::start() {
  std::unique_ptr<EventLoop> loop(new EventLoop());
  loop->wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (loop->wake_fd_ < 0)
    return fail(errc::backend_unavailable, "redis: eventfd failed: ", std::strerror(errno));
  try {
    loop->thread_ = std::thread([raw = loop.get()] { raw->run(); });
  } catch (const std::system_error& e) {
    close(loop->wake_fd_);
    loop->wake_fd_ = -1;
    return fail(errc::backend_unavailable, "redis: no I/O thread: ", e.what());
  }
  return loop;
}

EventLoop::~EventLoop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake();
  if (thread_.joinable()) thread_.join();
  if (wake_fd_ >= 0) close(wake_fd_);
}

void EventLoop::post(std::function<void()> fn) {
  {
    std::lock_guard lock(mu_);
    posted_.push_back(std::move(fn));
  }
  wake();
}

int EventLoop::dup_wake_fd() const noexcept {
  return fcntl(wake_fd_, F_DUPFD_CLOEXEC, 0);
}

void EventLoop::wake() {
  const std::uint64_t one = 1;
  // EAGAIN means the counter is already non-zero: the loop will wake anyway.
  [[maybe_unused]] ssize_t n = write(wake_fd_, &one, sizeof one);
}

void EventLoop::attach(Source* s) {
  sources_.push_back(s);
}

void EventLoop::detach(Source* s) {
  std::erase(sources_, s);
}

void EventLoop::run() {
  // hiredis writes with write(2): on a connection the server closed, that raises SIGPIPE, whose
  // default action ends the process. The signal goes to the writing thread, so blocking it here,
  // on the only thread that writes to Redis, turns it into EPIPE without touching the process's
  // own disposition.
  sigset_t pipe_only;
  sigemptyset(&pipe_only);
  sigaddset(&pipe_only, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_only, nullptr);
  std::vector<pollfd> fds;
  std::vector<Source*> polled;
  std::vector<std::function<void()>> work;
  for (;;) {
    bool stopping;
    {
      std::lock_guard lock(mu_);
      work.swap(posted_);
      stopping = stopping_;
    }
    for (auto& fn : work) fn();
    work.clear();
    if (stopping) return;

    fds.assign(1, pollfd{wake_fd_, POLLIN, 0});
    polled.clear();
    auto deadline = Clock::time_point::max();
    for (Source* s : sources_) {
      deadline = std::min(deadline, s->next_deadline());
      const int fd = s->fd();
      if (fd < 0) continue;
      short events = (s->wants_read() ? POLLIN : 0) | (s->wants_write() ? POLLOUT : 0);
      fds.push_back(pollfd{fd, events, 0});
      polled.push_back(s);
    }
    int timeout_ms = -1;
    if (deadline != Clock::time_point::max()) {
      // A deadline already past (time_point::min() among them) is a poll that does not wait;
      // subtracting now from it could overflow.
      const auto now = Clock::now();
      const auto left = deadline <= now
                            ? std::chrono::milliseconds(0)
                            : std::chrono::ceil<std::chrono::milliseconds>(deadline - now);
      timeout_ms = static_cast<int>(std::clamp<std::int64_t>(left.count(), 0, 60'000));
    }
    const int n = poll(fds.data(), fds.size(), timeout_ms);
    // EINTR: go round again. ENOMEM, the only other failure these fds allow: back off a little
    // rather than spin; deadlines are still checked below.
    if (n < 0 && errno != EINTR) std::this_thread::sleep_for(kPollFailurePause);
    if (n > 0 && (fds[0].revents & POLLIN)) {
      std::uint64_t count;
      [[maybe_unused]] ssize_t r = read(wake_fd_, &count, sizeof count);
    }
    for (std::size_t i = 1; n > 0 && i < fds.size(); ++i) {
      const short r = fds[i].revents;
      if (r == 0) continue;
      // A source may have been detached by an earlier callback in this turn.
      if (std::find(sources_.begin(), sources_.end(), polled[i - 1]) == sources_.end()) continue;
      const bool failed = r & (POLLERR | POLLHUP | POLLNVAL);
      polled[i - 1]->on_ready((r & POLLIN) || failed, (r & POLLOUT) || failed);
    }
    const auto now = Clock::now();
    for (std::size_t i = 0; i < sources_.size(); ++i) sources_[i]->on_tick(now);
  }
}

}  // namespace tiercache::redis
