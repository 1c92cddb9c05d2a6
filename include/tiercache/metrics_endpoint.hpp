// tiercache/metrics_endpoint.hpp — a /metrics HTTP endpoint for one Cache (Prometheus scrapes).
//
//   auto endpoint = tiercache::make_metrics_endpoint({.port = 9464});   // listening now
//   if (!endpoint) ...                                                  // e.g. port in use
//   options.metrics.endpoint = *endpoint;                               // the one option
//   auto cache = tiercache::Cache::open(options);                       // served from here on
//
// The endpoint listens from make_metrics_endpoint() on (answering 503 until a Cache is
// attached) on its own thread, which renders the exposition at each request. It binds a
// loopback address unless told otherwise: metrics name keys' shapes, hosts and error details,
// so exposing them is a choice. A Cache attaches at open and detaches when destroyed; one Cache
// at a time. Built on Debian's cpp-httplib: a program that calls make_metrics_endpoint links
// -lcpp-httplib (pkg-config cpp-httplib).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "tiercache/error.hpp"
#include "tiercache/metrics.hpp"
#include "tiercache/prometheus.hpp"

namespace tiercache {

struct MetricsEndpointOptions {
  // A numeric IPv4 or IPv6 address. Anything but loopback (127.0.0.0/8, ::1) is refused with
  // invalid_argument unless allow_non_loopback is set.
  std::string address = "127.0.0.1";
  bool allow_non_loopback = false;
  // 0: a free port, which port() tells.
  std::uint16_t port = 9464;
  // The path served; every other answers 404.
  std::string path = "/metrics";
  PrometheusOptions prometheus;
};

// What a Cache publishes its metrics through. make_metrics_endpoint() gives the HTTP one; any
// other (a push to another system, say) implements the same two calls.
class MetricsEndpoint {
 public:
  using Source = std::function<Metrics()>;
  virtual ~MetricsEndpoint() = default;
  // From now on the endpoint takes its metrics from `source`; invalid_argument if another
  // source is attached. Cache::open calls it.
  [[nodiscard]] virtual Result<void> attach(Source source) = 0;
  // Drops the source, waiting for a call of it in progress. The Cache's destructor calls it.
  virtual void detach() noexcept = 0;
  // The port listened on (the one picked, for port 0); 0 if this endpoint has none.
  virtual std::uint16_t port() const noexcept { return 0; }
};

// Binds and starts listening. invalid_argument for a bad address, path or Prometheus option, or
// a non-loopback address not allowed; backend_unavailable if the address cannot be bound.
[[nodiscard]] Result<std::shared_ptr<MetricsEndpoint>> make_metrics_endpoint(
    const MetricsEndpointOptions& options);

}  // namespace tiercache
