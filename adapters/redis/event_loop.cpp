#include "adapters/redis/event_loop.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <stdexcept>

namespace tiercache::redis {

EventLoop::EventLoop() {
  wake_fd_ = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  if (wake_fd_ < 0) throw std::runtime_error("tiercache: eventfd failed");
  thread_ = std::thread([this] { run(); });
}

EventLoop::~EventLoop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  wake();
  thread_.join();
  close(wake_fd_);
}

void EventLoop::post(std::function<void()> fn) {
  {
    std::lock_guard lock(mu_);
    posted_.push_back(std::move(fn));
  }
  wake();
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
      const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
      timeout_ms = static_cast<int>(std::clamp<std::int64_t>(left.count(), 0, 60'000));
    }
    const int n = poll(fds.data(), fds.size(), timeout_ms);
    if (n < 0 && errno != EINTR) throw std::runtime_error("tiercache: poll failed");
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
