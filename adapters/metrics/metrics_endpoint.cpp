// adapters/metrics/metrics_endpoint.cpp — the HTTP /metrics endpoint, on Debian's cpp-httplib.
//
// Two threads: the listener accepts, one worker answers (httplib's task queue, a pool of 1), so a
// scrape never runs beside another and the cache is never read by more than one of them. A
// connection carries one request and the socket's reads and writes give up soon, so that a client
// which stalls holds that one worker for seconds, not forever.
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
#include <sys/socket.h>

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

// A scraper sends its request at once; a client silent this long loses the worker.
constexpr auto kReadTimeout = 1s;
// A scraper reads at once too; this bounds a stalled one.
constexpr auto kWriteTimeout = 2s;
// Bytes a request's body may have (a GET has none): anything larger is refused unread.
constexpr std::size_t kMaxRequestBodyBytes = 4096;
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
    server_.new_task_queue = [] { return new httplib::ThreadPool(1); };
    server_.set_read_timeout(kReadTimeout);
    server_.set_write_timeout(kWriteTimeout);
    server_.set_keep_alive_max_count(1);
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
  httplib::Server server_;
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
