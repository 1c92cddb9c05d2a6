// examples/catalog/catalog_client.cpp — CatalogClient on httplib::Client. Compiled with
// `pkg-config --cflags cpp-httplib` (the Makefile's rule for examples/catalog/), which Debian's
// build of libcpp-httplib.so needs its users to share.
#include "examples/catalog/catalog_client.hpp"

#include <httplib.h>

#include <utility>

namespace catalog {
namespace {

constexpr const char* kJsonContentType = "application/json";

HttpAnswer answer_of(httplib::Result result) {
  if (!result) return HttpAnswer{.error = httplib::to_string(result.error())};
  return HttpAnswer{.status = result->status, .body = std::move(result->body)};
}

}  // namespace

struct CatalogClient::Impl {
  Impl(const std::string& host, std::uint16_t port) : client(host, port) {}
  httplib::Client client;
};

CatalogClient::CatalogClient(const std::string& host, std::uint16_t port,
                             std::chrono::milliseconds timeout)
    : impl_(std::make_unique<Impl>(host, port)) {
  impl_->client.set_keep_alive(true);
  // Small requests and answers: sent at once rather than held back to fill a segment.
  impl_->client.set_tcp_nodelay(true);
  impl_->client.set_connection_timeout(timeout);
  impl_->client.set_read_timeout(timeout);
  impl_->client.set_write_timeout(timeout);
}

CatalogClient::~CatalogClient() = default;

HttpAnswer CatalogClient::get(const std::string& path) {
  return answer_of(impl_->client.Get(path));
}

HttpAnswer CatalogClient::put(const std::string& path, std::string_view json) {
  return answer_of(impl_->client.Put(path, json.data(), json.size(), kJsonContentType));
}

HttpAnswer CatalogClient::request(const std::string& method, const std::string& path,
                                  std::string_view body) {
  httplib::Request req;
  req.method = method;
  req.path = path;
  req.body = std::string(body);
  if (!body.empty()) req.set_header("Content-Type", kJsonContentType);
  return answer_of(impl_->client.send(req));
}

}  // namespace catalog
