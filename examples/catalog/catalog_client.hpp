// examples/catalog/catalog_client.hpp — CatalogClient: HTTP requests to one catalog service over
// one keep-alive connection (Debian's cpp-httplib, kept out of this header so that only the
// files that need its macros see it).
//
// Threads:  one at a time; the load generator gives each of its threads its own client.
// Waiting:  every request ends within the timeout given at construction (connect, send, read).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace catalog {

struct HttpAnswer {
  int status = 0;  // 0: no answer; `error` says why (refused, timed out, ...)
  std::string body;
  std::string error;

  bool answered() const { return status != 0; }
};

class CatalogClient {
 public:
  // Connects at the first request, and again at the next one after the connection was lost.
  CatalogClient(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout);
  ~CatalogClient();
  CatalogClient(const CatalogClient&) = delete;
  CatalogClient& operator=(const CatalogClient&) = delete;

  HttpAnswer get(const std::string& path);
  // PUT with a JSON body.
  HttpAnswer put(const std::string& path, std::string_view json);
  // Any other method ("POST", "DELETE", ...), with an optional body.
  HttpAnswer request(const std::string& method, const std::string& path, std::string_view body);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace catalog
