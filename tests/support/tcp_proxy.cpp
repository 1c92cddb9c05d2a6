// tests/support/tcp_proxy.cpp — the proxy's one thread: a poll(2) loop over the listener, a
// wake-up eventfd and both sockets of every connection, all non-blocking. The public calls only
// flip state under the mutex (and shutdown(2) sockets for sever()); the thread, which holds the
// mutex whenever it touches the table, does every read, write, accept and close. Holding the
// mutex from a poll's return to the end of that pass is what makes blackhole() exact: a byte read
// after blackhole() returned is checked against the new state before it could be forwarded.
// A rate limit lives in the same loop: a side whose token bucket is empty is not polled for
// reading, and poll() sleeps no longer than the bucket needs to hold a byte again.
// A reply replacement too: the connection that first reads server bytes after it was asked for
// holds them back until the reply's end marker, then sends the injected bytes in their place.
#include "tests/support/tcp_proxy.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "tests/support/socket.hpp"

namespace test {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Longest one poll() blocks; the eventfd wakes it sooner. Bounds how long the destructor's join
// can take if a wake-up were lost.
constexpr auto kPollBound = 100ms;
// Bytes moved per read; a side with bytes still unwritten is not read again (back-pressure).
constexpr std::size_t kChunkBytes = 16384;
// Most bytes a rate-limited direction can read at once after it idled: one read's worth.
constexpr std::size_t kBurstBytes = kChunkBytes;
// Reads that empty a socket's receive queue before it is closed, so the close sends a FIN and not
// a RST (Linux resets a socket closed with unread data). Bounds the drain against a flood.
constexpr int kMaxDrainReads = 64;
// Pending connections the listener queues before the thread accepts them.
constexpr int kListenBacklog = 64;
// pollfd slots before the first connection's: the eventfd, then the listener.
constexpr std::size_t kWakeSlot = 0;
constexpr std::size_t kListenerSlot = 1;
constexpr std::size_t kFirstConnectionSlot = 2;

[[noreturn]] void fail(const std::string& what) {
  throw std::runtime_error("test::TcpProxy: " + what);
}

// Small writes go out at once, so the proxy adds no Nagle delay the direct path would not have.
void set_no_delay(int fd) {
  const int on = 1;
  // Best effort: without it the proxy is slower, not wrong.
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

// Empties fd's receive queue (bounded), then closes it: a FIN rather than a RST for the peer.
void drain_and_close(Fd& fd) {
  if (!fd.is_open()) return;
  char scratch[kChunkBytes];
  for (int i = 0; i < kMaxDrainReads; ++i)
    if (::recv(fd.get(), scratch, sizeof scratch, MSG_DONTWAIT) <= 0) break;
  fd = Fd();
}

// Bytes per second each direction may read; 0 is unlimited.
struct Rates {
  std::size_t upload_bytes_per_second = 0;    // read from the client, for the server
  std::size_t download_bytes_per_second = 0;  // read from the server, for the client
};

// A reply to replace (TcpProxy::replace_next_reply): what goes to the client instead, and the
// bytes that end the server's reply.
struct Replacement {
  std::string injected;
  std::string reply_end;
};

// What one direction may read under a rate: tokens are bytes, refilled at the rate as time
// passes and capped at kBurstBytes, so a direction that idled cannot save up a long burst.
// Under rate 0 it answers "a full chunk" and keeps no count.
class TokenBucket {
 public:
  // Full: the first read after a limit is set goes at once.
  void reset(Clock::time_point now) {
    tokens_ = static_cast<double>(kBurstBytes);
    refilled_ = now;
  }

  // Adds what the rate earned since the last refill. Called before every look at allowance().
  void refill(Clock::time_point now, std::size_t bytes_per_second) {
    if (bytes_per_second != 0 && now > refilled_) {
      const std::chrono::duration<double> elapsed = now - refilled_;
      tokens_ = std::min(static_cast<double>(kBurstBytes),
                         tokens_ + elapsed.count() * static_cast<double>(bytes_per_second));
    }
    refilled_ = now;
  }

  // Bytes one read may take now: at most a chunk, 0 while the bucket holds less than a byte.
  std::size_t allowance(std::size_t bytes_per_second) const {
    if (bytes_per_second == 0) return kChunkBytes;
    return std::min(kChunkBytes, static_cast<std::size_t>(tokens_));
  }

  // Pays for bytes just read, which allowance() let through.
  void spend(std::size_t bytes, std::size_t bytes_per_second) {
    if (bytes_per_second != 0) tokens_ -= static_cast<double>(bytes);
  }

  // How long until allowance() is nonzero again, rounded up to poll()'s whole milliseconds so
  // that the loop never spins on a bucket still short of its byte. Only while it is 0.
  std::chrono::milliseconds until_next_byte(std::size_t bytes_per_second) const {
    const double seconds = (1.0 - tokens_) / static_cast<double>(bytes_per_second);
    const auto wait =
        std::chrono::ceil<std::chrono::milliseconds>(std::chrono::duration<double>(seconds));
    return std::max(wait, std::chrono::milliseconds(1));
  }

 private:
  double tokens_ = static_cast<double>(kBurstBytes);
  Clock::time_point refilled_{};  // set by reset() when the connection is accepted
};

// One direction's end: its socket and the bytes waiting to be written to it.
struct Side {
  Fd fd;
  std::string outbox;
  bool read_closed = false;  // its peer sent FIN (or we stopped reading it)
  bool write_shut = false;   // we sent it our FIN, after the other side's FIN was forwarded
};

enum class Step { keep, close };

// Reads up to max_bytes (1..kChunkBytes) from `from` into `to`'s outbox; close on a reset or
// other error. Never asked for 0 bytes: recv() would return 0, which reads as a FIN.
Step read_into(Side& from, Side& to, std::size_t max_bytes) {
  char chunk[kChunkBytes];
  const ssize_t n = ::recv(from.fd.get(), chunk, std::min(max_bytes, sizeof chunk), MSG_DONTWAIT);
  if (n > 0) {
    to.outbox.append(chunk, static_cast<std::size_t>(n));
  } else if (n == 0) {
    from.read_closed = true;
  } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
    return Step::close;
  }
  return Step::keep;
}

// Writes as much of `to`'s outbox as the socket takes now.
Step flush(Side& to) {
  while (!to.outbox.empty()) {
    // MSG_NOSIGNAL: a peer that went away must end the connection, not SIGPIPE the test binary.
    const ssize_t n =
        ::send(to.fd.get(), to.outbox.data(), to.outbox.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      to.outbox.erase(0, static_cast<std::size_t>(n));
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      break;
    } else {
      return Step::close;
    }
  }
  return Step::keep;
}

// Once `from` sent its FIN and everything before it reached `to`, `to` gets our FIN.
void forward_fin(const Side& from, Side& to) {
  if (from.read_closed && to.outbox.empty() && !to.write_shut) {
    ::shutdown(to.fd.get(), SHUT_WR);
    to.write_shut = true;
  }
}

}  // namespace

class TcpProxy::Loop {
 public:
  explicit Loop(std::uint16_t upstream_port) : upstream_port_(upstream_port) {
    wake_ = Fd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
    if (!wake_.is_open()) fail(errno_text("eventfd"));
    listener_ = Fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!listener_.is_open()) fail(errno_text("socket"));
    sockaddr_in addr = loopback_address(0);
    if (::bind(listener_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
      fail(errno_text("bind 127.0.0.1:0"));
    if (::listen(listener_.get(), kListenBacklog) != 0) fail(errno_text("listen"));
    socklen_t len = sizeof addr;
    if (::getsockname(listener_.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0)
      fail(errno_text("getsockname"));
    port_ = ntohs(addr.sin_port);
  }

  std::uint16_t port() const { return port_; }

  // The thread's body; returns once stop() was called. A failing poll() (ENOMEM) also ends it:
  // the proxy then forwards nothing, which the test using it sees.
  void run() {
    std::vector<pollfd> slots;
    // Acquire pairs with the release in stop(); the flag carries no other data.
    while (!stop_.load(std::memory_order_acquire)) {
      std::chrono::milliseconds poll_bound = kPollBound;
      {
        const std::lock_guard lock(mutex_);
        poll_bound = fill_slots(slots, Clock::now());
      }
      const int ready = ::poll(slots.data(), slots.size(), static_cast<int>(poll_bound.count()));
      if (ready < 0 && errno == EINTR) continue;
      if (ready < 0) break;
      const std::lock_guard lock(mutex_);
      if (slots[kWakeSlot].revents != 0) {
        std::uint64_t count = 0;
        [[maybe_unused]] const ssize_t n = ::read(wake_.get(), &count, sizeof count);
      }
      serve_connections(slots, Clock::now());
      if (slots[kListenerSlot].revents != 0) accept_all();
    }
    const std::lock_guard lock(mutex_);
    for (Connection& c : connections_) close_connection(c);
    connections_.clear();
  }

  // Makes run() return within one pass. Never throws.
  void stop() noexcept {
    stop_.store(true, std::memory_order_release);
    wake();
  }

  void blackhole() {
    {
      const std::lock_guard lock(mutex_);
      blackholed_ = true;
      for (Connection& c : connections_) {
        c.mode = Mode::dead;
        c.client.outbox.clear();
        c.upstream.outbox.clear();
      }
    }
    // A dead connection is read on both sides whatever it waited for before: re-poll.
    wake();
  }

  bool blackhole_one(std::uint16_t upstream_local_port) {
    bool found = false;
    {
      const std::lock_guard lock(mutex_);
      for (Connection& c : connections_) {
        if (c.severed || !c.upstream.fd.is_open()) continue;
        sockaddr_in addr{};
        socklen_t len = sizeof addr;
        if (::getsockname(c.upstream.fd.get(), reinterpret_cast<sockaddr*>(&addr), &len) != 0 ||
            ntohs(addr.sin_port) != upstream_local_port)
          continue;
        c.mode = Mode::dead;
        c.client.outbox.clear();
        c.upstream.outbox.clear();
        found = true;
      }
    }
    wake();
    return found;
  }

  void heal() {
    const std::lock_guard lock(mutex_);
    blackholed_ = false;
  }

  void set_rates(Rates rates) {
    {
      const std::lock_guard lock(mutex_);
      rates_ = rates;
      const Clock::time_point now = Clock::now();
      for (Connection& c : connections_) {
        c.upload.reset(now);
        c.download.reset(now);
      }
    }
    // A side left unpolled for an empty bucket, or polled under no limit, must see the new one
    // now, not after kPollBound.
    wake();
  }

  void replace_next_reply(Replacement r) {
    const std::lock_guard lock(mutex_);
    pending_ = std::move(r);
  }

  std::size_t replies_replaced() const {
    const std::lock_guard lock(mutex_);
    return replaced_;
  }

  void sever() {
    {
      const std::lock_guard lock(mutex_);
      blackholed_ = false;
      for (Connection& c : connections_) {
        // The FIN leaves now; the thread closes the descriptors on its next pass (closing one
        // that another thread's poll() watches would delay the FIN until that poll returns).
        if (c.client.fd.is_open()) ::shutdown(c.client.fd.get(), SHUT_RDWR);
        if (c.upstream.fd.is_open()) ::shutdown(c.upstream.fd.get(), SHUT_RDWR);
        c.severed = true;
      }
    }
    wake();
  }

  std::size_t connections_accepted() const {
    const std::lock_guard lock(mutex_);
    return accepted_;
  }

  enum class Mode { forwarding, dead };

  // Connections open now in `mode` (a severed one is closed as far as callers can tell).
  std::size_t count(Mode mode) const {
    const std::lock_guard lock(mutex_);
    std::size_t n = 0;
    for (const Connection& c : connections_)
      if (!c.severed && c.mode == mode) ++n;
    return n;
  }

 private:
  struct Connection {
    Side client;
    Side upstream;  // not open for a connection accepted dead, or once dead and closed upstream
    bool upstream_connecting = false;
    Mode mode = Mode::forwarding;
    bool severed = false;
    std::optional<Replacement> replacing;  // a reply being held back, to be replaced
    std::string held;      // server bytes of that reply read so far (at most reply_end's size)
    TokenBucket upload;    // meters reads from client
    TokenBucket download;  // meters reads from upstream
  };

  void wake() noexcept {
    const std::uint64_t one = 1;
    // Cannot fail short of a full counter, which would still wake the loop.
    [[maybe_unused]] const ssize_t n = ::write(wake_.get(), &one, sizeof one);
  }

  // Two slots per connection, client then upstream; a closed upstream gets fd -1 (ignored).
  // Returns how long poll() may block: kPollBound, or less if a bucket that keeps a side from
  // being read holds a byte again sooner.
  std::chrono::milliseconds fill_slots(std::vector<pollfd>& slots, Clock::time_point now) {
    std::chrono::milliseconds bound = kPollBound;
    slots.assign(kFirstConnectionSlot + 2 * connections_.size(), pollfd{});
    slots[kWakeSlot] = {wake_.get(), POLLIN, 0};
    slots[kListenerSlot] = {listener_.get(), POLLIN, 0};
    for (std::size_t i = 0; i < connections_.size(); ++i) {
      Connection& c = connections_[i];
      pollfd& client = slots[kFirstConnectionSlot + 2 * i];
      pollfd& upstream = slots[kFirstConnectionSlot + 2 * i + 1];
      client = {c.client.fd.get(), 0, 0};
      upstream = {c.upstream.fd.get(), 0, 0};
      if (c.severed) continue;
      if (c.mode == Mode::dead) {
        client.events = POLLIN;
        upstream.events = POLLIN;
        continue;
      }
      // Read a side only while the other has nothing unwritten (back-pressure, bounded memory)
      // and while its rate allows a byte; otherwise poll no longer than the bucket's refill.
      c.upload.refill(now, rates_.upload_bytes_per_second);
      c.download.refill(now, rates_.download_bytes_per_second);
      if (!c.client.read_closed && c.upstream.outbox.empty())
        want_read(client, c.upload, rates_.upload_bytes_per_second, bound);
      if (!c.client.outbox.empty()) client.events |= POLLOUT;
      if (c.upstream_connecting) {
        upstream.events = POLLOUT;
        continue;
      }
      if (!c.upstream.read_closed && c.client.outbox.empty())
        want_read(upstream, c.download, rates_.download_bytes_per_second, bound);
      if (!c.upstream.outbox.empty()) upstream.events |= POLLOUT;
    }
    return bound;
  }

  // Polls `slot` for reading if `bucket` allows a byte; else shortens `bound` to its refill.
  static void want_read(pollfd& slot, const TokenBucket& bucket, std::size_t bytes_per_second,
                        std::chrono::milliseconds& bound) {
    if (bucket.allowance(bytes_per_second) > 0) {
      slot.events |= POLLIN;
    } else {
      bound = std::min(bound, bucket.until_next_byte(bytes_per_second));
    }
  }

  void serve_connections(const std::vector<pollfd>& slots, Clock::time_point now) {
    // Only this thread adds or removes connections, so slot i still belongs to connection i.
    std::vector<Connection> kept;
    kept.reserve(connections_.size());
    for (std::size_t i = 0; i < connections_.size(); ++i) {
      Connection& c = connections_[i];
      const short client_events = slots[kFirstConnectionSlot + 2 * i].revents;
      const short upstream_events = slots[kFirstConnectionSlot + 2 * i + 1].revents;
      const Step step = c.severed              ? Step::close
                        : c.mode == Mode::dead ? discard(c, client_events, upstream_events)
                                               : forward(c, client_events, upstream_events, now);
      if (step == Step::close) {
        close_connection(c);
      } else {
        kept.push_back(std::move(c));
      }
    }
    connections_ = std::move(kept);
  }

  // A dead connection: whatever either side sends is read and dropped. The client is never
  // closed by the proxy; if it closes, the connection ends. If the server closes, only the
  // upstream socket goes: the client must not learn of it.
  static Step discard(Connection& c, short client_events, short upstream_events) {
    char scratch[kChunkBytes];
    if (client_events != 0) {
      const ssize_t n = ::recv(c.client.fd.get(), scratch, sizeof scratch, MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
        return Step::close;
    }
    if (upstream_events != 0) {
      const ssize_t n = ::recv(c.upstream.fd.get(), scratch, sizeof scratch, MSG_DONTWAIT);
      if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR))
        drain_and_close(c.upstream.fd);
    }
    return Step::keep;
  }

  // A forwarding connection: what one side sends is written to the other, FIN included, each
  // direction no faster than `rates` allows.
  Step forward(Connection& c, short client_events, short upstream_events, Clock::time_point now) {
    const Rates& rates = rates_;
    if (c.upstream_connecting && upstream_events != 0) {
      int err = 0;
      socklen_t len = sizeof err;
      // A refused upstream closes the client, as a server that hangs up at once would.
      if (::getsockopt(c.upstream.fd.get(), SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0)
        return Step::close;
      c.upstream_connecting = false;
      upstream_events = 0;
    }
    if ((client_events | upstream_events) & POLLERR) return Step::close;
    // While the upstream connects, one chunk from the client waits in its outbox.
    if ((client_events & (POLLIN | POLLHUP)) && !c.client.read_closed &&
        metered_read(c.client, c.upstream, c.upload, rates.upload_bytes_per_second, now) ==
            Step::close)
      return Step::close;
    if (c.upstream_connecting) return Step::keep;
    if ((upstream_events & (POLLIN | POLLHUP)) && !c.upstream.read_closed) {
      const std::size_t fresh = c.client.outbox.size();
      if (metered_read(c.upstream, c.client, c.download, rates.download_bytes_per_second, now) ==
          Step::close)
        return Step::close;
      replace_reply(c, fresh);
    }
    if (flush(c.upstream) == Step::close || flush(c.client) == Step::close) return Step::close;
    // POLLHUP: that socket can neither send nor receive any more; its last bytes went out above.
    if ((client_events | upstream_events) & POLLHUP) return Step::close;
    forward_fin(c.client, c.upstream);
    forward_fin(c.upstream, c.client);
    const bool done = c.client.read_closed && c.upstream.read_closed && c.client.outbox.empty() &&
                      c.upstream.outbox.empty();
    return done ? Step::close : Step::keep;
  }

  // The server bytes at `fresh` onwards in c.client.outbox were just read. Once a replacement
  // is pending, the first connection that reads any takes it: from then on its server bytes are
  // held back up to and including the first reply_end, and the injected bytes go out instead;
  // what follows reply_end is forwarded as ever. Only reply_end's size is kept while looking.
  // With no reply_end, the injected bytes go out in front of the server's, which all go on.
  void replace_reply(Connection& c, std::size_t fresh) {
    if (!c.replacing) {
      if (!pending_ || fresh == c.client.outbox.size()) return;
      c.replacing = std::move(pending_);
      pending_.reset();
    }
    if (c.replacing->reply_end.empty()) {
      c.client.outbox.insert(fresh, c.replacing->injected);
      c.replacing.reset();
      ++replaced_;
      return;
    }
    c.held.append(c.client.outbox, fresh);
    c.client.outbox.resize(fresh);
    const std::string& end_marker = c.replacing->reply_end;
    const std::size_t end = c.held.find(end_marker);
    if (end == std::string::npos) {
      // A marker split across reads is still found: keep the bytes that may start it.
      const std::size_t keep = std::min(c.held.size(), end_marker.size());
      c.held.erase(0, c.held.size() - keep);
      return;
    }
    c.client.outbox += c.replacing->injected;
    c.client.outbox.append(c.held, end + end_marker.size());
    c.held.clear();
    c.replacing.reset();
    ++replaced_;
  }

  // read_into() for as many bytes as `bucket` holds, which pays for them. An empty bucket reads
  // nothing: its side is polled again once it refills (a POLLHUP still closes the connection).
  static Step metered_read(Side& from, Side& to, TokenBucket& bucket, std::size_t bytes_per_second,
                           Clock::time_point now) {
    bucket.refill(now, bytes_per_second);
    const std::size_t allowed = bucket.allowance(bytes_per_second);
    if (allowed == 0) return Step::keep;
    const std::size_t before = to.outbox.size();
    const Step step = read_into(from, to, allowed);
    bucket.spend(to.outbox.size() - before, bytes_per_second);
    return step;
  }

  static void close_connection(Connection& c) {
    drain_and_close(c.client.fd);
    drain_and_close(c.upstream.fd);
  }

  void accept_all() {
    for (;;) {
      Fd client(::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
      if (!client.is_open()) {
        // A connection reset while queued is skipped; EAGAIN (or running out of descriptors)
        // ends this pass, and the listener is polled again.
        if (errno == ECONNABORTED || errno == EINTR) continue;
        return;
      }
      ++accepted_;
      set_no_delay(client.get());
      Connection c;
      c.client.fd = std::move(client);
      const Clock::time_point now = Clock::now();
      c.upload.reset(now);
      c.download.reset(now);
      if (blackholed_) {
        c.mode = Mode::dead;
      } else if (!connect_upstream(c)) {
        // Closing the client at once is what a refused connection looks like through a proxy.
        close_connection(c);
        continue;
      }
      connections_.push_back(std::move(c));
    }
  }

  bool connect_upstream(Connection& c) const {
    c.upstream.fd = Fd(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    if (!c.upstream.fd.is_open()) return false;
    set_no_delay(c.upstream.fd.get());
    const sockaddr_in addr = loopback_address(upstream_port_);
    if (::connect(c.upstream.fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0)
      return true;
    c.upstream_connecting = errno == EINPROGRESS;
    return c.upstream_connecting;
  }

  const std::uint16_t upstream_port_;
  std::uint16_t port_ = 0;
  Fd wake_;
  Fd listener_;
  std::atomic<bool> stop_{false};

  // Guards everything below, and the sockets of every connection against a concurrent sever().
  mutable std::mutex mutex_;
  std::vector<Connection> connections_;
  bool blackholed_ = false;
  std::size_t accepted_ = 0;
  Rates rates_;
  std::optional<Replacement> pending_;  // to be taken by the next connection the server answers
  std::size_t replaced_ = 0;
};

TcpProxy::TcpProxy(std::uint16_t upstream_port)
    : loop_(std::make_unique<Loop>(upstream_port)), port_(loop_->port()) {
  thread_ = std::thread([loop = loop_.get()] { loop->run(); });
}

TcpProxy::~TcpProxy() {
  loop_->stop();
  if (thread_.joinable()) thread_.join();
}

std::string TcpProxy::url() const {
  return "redis://127.0.0.1:" + std::to_string(port_) + "/0";
}

void TcpProxy::blackhole() {
  loop_->blackhole();
}

bool TcpProxy::blackhole_one(std::uint16_t upstream_local_port) {
  return loop_->blackhole_one(upstream_local_port);
}

void TcpProxy::heal() {
  loop_->heal();
}

void TcpProxy::sever() {
  loop_->sever();
}

void TcpProxy::limit_rate(std::size_t upload_bytes_per_second,
                          std::size_t download_bytes_per_second) {
  loop_->set_rates({.upload_bytes_per_second = upload_bytes_per_second,
                    .download_bytes_per_second = download_bytes_per_second});
}

void TcpProxy::unlimit_rate() {
  loop_->set_rates({});
}

void TcpProxy::replace_next_reply(std::string injected, std::string reply_end) {
  loop_->replace_next_reply({std::move(injected), std::move(reply_end)});
}

void TcpProxy::prepend_to_next_reply(std::string injected) {
  loop_->replace_next_reply({std::move(injected), std::string()});
}

std::size_t TcpProxy::replies_replaced() const {
  return loop_->replies_replaced();
}

std::size_t TcpProxy::connections_accepted() const {
  return loop_->connections_accepted();
}

std::size_t TcpProxy::live_connections() const {
  return loop_->count(Loop::Mode::forwarding);
}

std::size_t TcpProxy::dead_connections() const {
  return loop_->count(Loop::Mode::dead);
}

}  // namespace test
