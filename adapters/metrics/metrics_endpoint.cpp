// adapters/metrics/metrics_endpoint.cpp — the HTTP /metrics endpoint, on Debian's cpp-httplib.
//
// Two threads: the listener accepts, one worker answers (httplib's task queue, a pool of 1), so a
// scrape never runs beside another and the cache is never read by more than one of them. A
// connection carries one request, read within one deadline and one byte budget (BoundedServer,
// BoundedSocketStream: httplib 0.11.4 has neither, only a timeout per read and a bound per header
// line), and each write gives up soon, so that a client which stalls or never stops sending holds
// that one worker for about a second and a few KiB, not forever.
//
// The source (the attached Cache's metrics()) is called under source_mutex_, so detach() waits
// for a call in progress and none starts after it: the Cache's destructor detaches before it
// destroys what metrics() reads. The text is rendered outside the lock, from the copy.
//
// This file alone includes httplib.h, compiled with the macros `pkg-config --cflags cpp-httplib`
// gives (the Makefile's rule for this object), which the declarations of Debian's build of
// libcpp-httplib.so depend on.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

#include <httplib.h>

#include "adapters/metrics/prometheus_options.hpp"
#include "tiercache/metrics_endpoint.hpp"

namespace tiercache {
namespace {

using namespace std::chrono_literals;

// A scraper sends its request at once: a request not read whole this long after its connection
// was accepted is refused, however the client spaces its bytes.
constexpr auto kReadTimeout = 1s;
// What a connection the worker takes after kReadTimeout has passed for it (it waited behind
// others) still gets to deliver a request: a scraper's is long in the socket by then, while
// each idle connection queued ahead of a scrape costs it this, not a whole kReadTimeout.
constexpr auto kLateGrace = 10ms;
// A scraper reads at once too; this bounds each write to a stalled one.
constexpr auto kWriteTimeout = 2s;
// Bytes a request's body may have (a GET has none): anything larger is refused unread.
constexpr std::size_t kMaxRequestBodyBytes = 4096;
// Bytes a request's line and headers may take together: a scrape's are a few hundred, and
// httplib bounds each line (8 KiB) but not how many there are.
constexpr std::size_t kMaxRequestHeadBytes = 16 * 1024;
// Bytes one receive takes from the socket into BoundedSocketStream's buffer.
constexpr std::size_t kReceiveChunkBytes = 4096;
// How long the destructor waits for the listener to end before it asks it to stop again:
// httplib's stop() does nothing until the listener has marked itself running.
constexpr auto kStopRetry = 10ms;
// What is answered before a Cache is attached and after it is gone.
constexpr const char* kNoCacheText = "no cache attached to this metrics endpoint\n";
constexpr const char* kTextContentType = "text/plain; charset=utf-8";

// How the address reads in a message: [v6]:port, v4:port.
std::string host_port(const std::string& address, bool is_v6, std::uint16_t port) {
  return (is_v6 ? "[" + address + "]" : address) + ":" + std::to_string(port);
}

// Milliseconds from now until `deadline` for poll(), rounded up so that it never returns early;
// 0 once it has passed.
int poll_ms_until(std::chrono::steady_clock::time_point deadline) {
  const auto left = deadline - std::chrono::steady_clock::now();
  if (left <= std::chrono::steady_clock::duration::zero()) return 0;
  return static_cast<int>(std::chrono::ceil<std::chrono::milliseconds>(left).count());
}

// Whether `sock` has `events` before `wait_ms` passes (a signal does not cut the wait short).
bool wait_for_socket(socket_t sock, short events, int wait_ms) {
  pollfd pfd{.fd = sock, .events = events, .revents = 0};
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(wait_ms);
  for (;;) {
    const int ready = ::poll(&pfd, 1, wait_ms);
    if (ready > 0) return true;
    if (ready == 0 || errno != EINTR) return false;
    wait_ms = poll_ms_until(deadline);
  }
}

// A socket address as numbers (no lookup), as httplib's own stream gives it.
void numeric_address(const sockaddr_storage& addr, socklen_t len, std::string& ip, int& port) {
  if (addr.ss_family == AF_INET)
    port = ntohs(reinterpret_cast<const sockaddr_in*>(&addr)->sin_port);
  else if (addr.ss_family == AF_INET6)
    port = ntohs(reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port);
  else
    return;
  std::array<char, NI_MAXHOST> host{};
  if (::getnameinfo(reinterpret_cast<const sockaddr*>(&addr), len, host.data(), host.size(),
                    nullptr, 0, NI_NUMERICHOST) == 0)
    ip = host.data();
}

// One accepted connection as httplib reads and writes a request on it. Reading stops for good
// (read() returns -1, which httplib takes as a failed request) once `byte_budget` bytes came in or
// `read_deadline` passed, so that a peer can make httplib neither hold more than that nor wait
// longer for it. Writes behave as httplib's own stream's: each waits up to kWriteTimeout.
class BoundedSocketStream final : public httplib::Stream {
 public:
  BoundedSocketStream(socket_t sock, std::size_t byte_budget,
                      std::chrono::steady_clock::time_point read_deadline)
      : sock_(sock), budget_left_(byte_budget), read_deadline_(read_deadline) {}

  bool is_readable() const override { return next_ < end_ || can_receive(); }

  bool is_writable() const override {
    return wait_for_socket(sock_, POLLOUT, static_cast<int>(kWriteTimeoutMs));
  }

  ssize_t read(char* ptr, size_t size) override {
    if (next_ == end_) {
      const ssize_t got = receive();
      if (got <= 0) return got;
    }
    const std::size_t n = std::min(size, end_ - next_);
    std::memcpy(ptr, buffer_.data() + next_, n);
    next_ += n;
    return static_cast<ssize_t>(n);
  }

  ssize_t write(const char* ptr, size_t size) override {
    if (!is_writable()) return -1;
    // MSG_NOSIGNAL: a client gone mid-reply fails this send instead of raising SIGPIPE in the
    // program. The socket's SO_SNDTIMEO (set_write_timeout) bounds a send that blocks.
    for (;;) {
      const ssize_t n = ::send(sock_, ptr, size, MSG_NOSIGNAL);
      if (n >= 0 || errno != EINTR) return n;
    }
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (::getpeername(sock_, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
      numeric_address(addr, len, ip, port);
  }

  void get_local_ip_and_port(std::string& ip, int& port) const override {
    sockaddr_storage addr{};
    socklen_t len = sizeof addr;
    if (::getsockname(sock_, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
      numeric_address(addr, len, ip, port);
  }

  socket_t socket() const override { return sock_; }

 private:
  static constexpr auto kWriteTimeoutMs =
      std::chrono::duration_cast<std::chrono::milliseconds>(kWriteTimeout).count();

  // Whether the socket has bytes for the request before its deadline, within its budget. Past
  // the deadline never, even with bytes waiting: else a client that keeps them coming is read on.
  bool can_receive() const {
    const int wait_ms = poll_ms_until(read_deadline_);
    return budget_left_ > 0 && wait_ms > 0 && wait_for_socket(sock_, POLLIN, wait_ms);
  }

  // Refills the empty buffer from the socket: the bytes received, 0 once the peer closed, -1
  // when the budget is spent, the deadline passed or the socket failed.
  ssize_t receive() {
    for (;;) {
      if (!can_receive()) return -1;
      const std::size_t want = std::min(buffer_.size(), budget_left_);
      const ssize_t n = ::recv(sock_, buffer_.data(), want, MSG_DONTWAIT);
      if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)) continue;
      if (n <= 0) return n;
      budget_left_ -= static_cast<std::size_t>(n);
      next_ = 0;
      end_ = static_cast<std::size_t>(n);
      return n;
    }
  }

  const socket_t sock_;
  std::size_t budget_left_;
  const std::chrono::steady_clock::time_point read_deadline_;
  std::array<char, kReceiveChunkBytes> buffer_{};
  std::size_t next_ = 0;  // buffer_[next_, end_) is received and not yet read
  std::size_t end_ = 0;
};

// When the connection the worker serves now was accepted: set by StampedPool before it runs
// BoundedServer::process_and_close_socket on the same thread.
thread_local std::chrono::steady_clock::time_point t_accepted_at;

// httplib's one worker thread, each connection stamped with when it was accepted (queued), so
// that its read deadline runs from then: otherwise N idle connections queued ahead of a scrape
// would hold it N times kReadTimeout.
class StampedPool final : public httplib::TaskQueue {
 public:
  void enqueue(std::function<void()> fn) override {
    pool_.enqueue([fn = std::move(fn), at = std::chrono::steady_clock::now()] {
      t_accepted_at = at;
      fn();
    });
  }
  void shutdown() override { pool_.shutdown(); }

 private:
  httplib::ThreadPool pool_{1};
};

// httplib::Server serving one request per connection over a BoundedSocketStream. httplib's own
// process_and_close_socket first waits keep_alive_timeout for a first byte, then reads with a
// timeout per read and no bound on the number of header lines; this replaces it (it is virtual
// for this) and keeps the rest of what it did: nothing is served once the server stops, and the
// socket is shut down and closed after.
class BoundedServer final : public httplib::Server {
 private:
  bool process_and_close_socket(socket_t sock) override {
    bool served = false;
    if (svr_sock_ != INVALID_SOCKET) {
      const auto now = std::chrono::steady_clock::now();
      BoundedSocketStream stream(sock, kMaxRequestHeadBytes + kMaxRequestBodyBytes,
                                 std::max(t_accepted_at + kReadTimeout, now + kLateGrace));
      bool connection_closed = false;
      served = process_request(stream, /*close_connection=*/true, connection_closed, nullptr);
    }
    ::shutdown(sock, SHUT_RDWR);
    ::close(sock);
    return served;
  }
};

class HttpMetricsEndpoint final : public MetricsEndpoint {
 public:
  HttpMetricsEndpoint(MetricsEndpointOptions options, bool is_v6)
      : options_(std::move(options)), is_v6_(is_v6) {}

  ~HttpMetricsEndpoint() override {
    if (!listener_.joinable()) return;
    while (listener_done_.wait_for(kStopRetry) != std::future_status::ready) server_.stop();
    listener_.join();
  }

  // Binds the checked address and starts the listener.
  Result<void> start() {
    server_.new_task_queue = [] { return new StampedPool; };
    // BoundedServer serves one request per connection and bounds its reads itself; httplib sets
    // these as each accepted socket's SO_RCVTIMEO and SO_SNDTIMEO.
    server_.set_read_timeout(kReadTimeout);
    server_.set_write_timeout(kWriteTimeout);
    server_.set_payload_max_length(kMaxRequestBodyBytes);
    // httplib's default sets SO_REUSEPORT, with which a second endpoint on a busy port would
    // bind it too and take half its scrapes; SO_REUSEADDR only lets a restart reuse the port.
    server_.set_socket_options([](socket_t sock) {
      const int yes = 1;
      ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    server_.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
      answer(req, res);
      return httplib::Server::HandlerResponse::Handled;
    });

    errno = 0;
    const int port =
        options_.port == 0
            ? server_.bind_to_any_port(options_.address, AI_NUMERICHOST)
            : (server_.bind_to_port(options_.address, options_.port, AI_NUMERICHOST) ? options_.port
                                                                                     : -1);
    if (port <= 0) {
      const int err = errno;
      return fail(errc::backend_unavailable, "metrics endpoint: cannot listen on ",
                  host_port(options_.address, is_v6_, options_.port),
                  err != 0 ? std::string(": ") + std::strerror(err) : std::string());
    }
    port_ = static_cast<std::uint16_t>(port);

    std::promise<void> done;
    listener_done_ = done.get_future();
    listener_ = std::thread([this, done = std::move(done)]() mutable {
      server_.listen_after_bind();
      done.set_value();
    });
    return {};
  }

  Result<void> attach(Source source) override {
    const std::lock_guard lock(source_mutex_);
    if (source_)
      return fail(errc::invalid_argument, "metrics endpoint on ",
                  host_port(options_.address, is_v6_, port_),
                  " already serves a Cache; one Cache per endpoint");
    source_ = std::move(source);
    return {};
  }

  void detach() noexcept override {
    const std::lock_guard lock(source_mutex_);
    source_ = nullptr;
  }

  std::uint16_t port() const noexcept override { return port_; }

 private:
  void answer(const httplib::Request& req, httplib::Response& res) {
    if (req.path != options_.path) {
      res.status = 404;
      res.set_content("not found; metrics are at " + options_.path + "\n", kTextContentType);
      return;
    }
    // HEAD is GET without the body (httplib leaves it out).
    if (req.method != "GET" && req.method != "HEAD") {
      res.status = 405;
      res.set_header("Allow", "GET, HEAD");
      res.set_content("only GET\n", kTextContentType);
      return;
    }
    // Anything thrown (bad_alloc while copying the snapshot) is a 500, not a dropped connection.
    try {
      Metrics metrics;
      {
        const std::lock_guard lock(source_mutex_);
        if (!source_) {
          res.status = 503;
          res.set_content(kNoCacheText, kTextContentType);
          return;
        }
        metrics = source_();
      }
      Result<std::string> text = to_prometheus(metrics, options_.prometheus);
      if (!text) {
        res.status = 500;
        res.set_content(text.error().detail + "\n", kTextContentType);
        return;
      }
      res.status = 200;
      res.set_content(std::move(*text), kPrometheusContentType);
    } catch (const std::exception& e) {
      res.status = 500;
      res.set_content(std::string("metrics endpoint: ") + e.what() + "\n", kTextContentType);
    }
  }

  const MetricsEndpointOptions options_;
  const bool is_v6_;
  BoundedServer server_;
  std::uint16_t port_ = 0;
  std::thread listener_;
  std::future<void> listener_done_;  // ready once listen_after_bind() returned
  std::mutex source_mutex_;
  Source source_;  // guarded by source_mutex_
};

// The address as the kernel reads it, v4 or v6 (numeric only: no lookup), or nothing.
struct ParsedAddress {
  bool ok = false;
  bool is_v6 = false;
  bool is_loopback = false;
};

ParsedAddress parse_address(const std::string& address) {
  in_addr v4{};
  if (::inet_pton(AF_INET, address.c_str(), &v4) == 1)
    return {.ok = true, .is_v6 = false, .is_loopback = (ntohl(v4.s_addr) >> 24) == 127};
  in6_addr v6{};
  if (::inet_pton(AF_INET6, address.c_str(), &v6) == 1)
    return {.ok = true, .is_v6 = true, .is_loopback = IN6_IS_ADDR_LOOPBACK(&v6) != 0};
  return {};
}

Result<void> check_path(const std::string& path) {
  if (path.empty() || path[0] != '/')
    return fail(errc::invalid_argument, "MetricsEndpointOptions.path \"", path,
                "\" must start with '/'");
  // A request's path never holds these (a query or fragment is not part of it): such a path
  // could never be served.
  for (const char c : path)
    if (static_cast<unsigned char>(c) <= ' ' || c == '?' || c == '#' || c == 0x7f)
      return fail(errc::invalid_argument, "MetricsEndpointOptions.path \"", path,
                  "\" has a space, control character, '?' or '#'");
  return {};
}

}  // namespace

Result<std::shared_ptr<MetricsEndpoint>> make_metrics_endpoint(
    const MetricsEndpointOptions& options) {
  const ParsedAddress address = parse_address(options.address);
  if (!address.ok)
    return fail(errc::invalid_argument, "MetricsEndpointOptions.address \"", options.address,
                "\" is not a numeric IPv4 or IPv6 address");
  if (!address.is_loopback && !options.allow_non_loopback)
    return fail(errc::invalid_argument, "MetricsEndpointOptions.address ", options.address,
                " is not loopback (127.0.0.0/8, ::1): metrics would be served to other hosts; "
                "set allow_non_loopback to mean it");
  if (auto checked = check_path(options.path); !checked)
    return std::unexpected(std::move(checked.error()));
  if (auto checked = metrics::check_prometheus_options(options.prometheus); !checked)
    return std::unexpected(std::move(checked.error()));

  auto endpoint = std::make_shared<HttpMetricsEndpoint>(options, address.is_v6);
  if (auto started = endpoint->start(); !started)
    return std::unexpected(std::move(started.error()));
  return endpoint;
}

}  // namespace tiercache
