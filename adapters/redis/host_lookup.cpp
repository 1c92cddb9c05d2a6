#include "adapters/redis/host_lookup.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <system_error>
#include <thread>

namespace tiercache::redis {
namespace {

// getaddrinfo for `host`, IPv4 preferred as hiredis prefers it; the first address, numeric.
Result<std::string> resolve(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  int rc = EAI_NONAME;
  for (const int family : {AF_INET, AF_INET6}) {
    hints.ai_family = family;
    rc = getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
    if (rc == 0) break;
  }
  if (rc != 0)
    return fail(errc::backend_unavailable, "cannot resolve ", host, ": ", gai_strerror(rc));
  char text[INET6_ADDRSTRLEN] = {};
  const void* addr =
      found->ai_family == AF_INET
          ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(found->ai_addr)->sin_addr)
          : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(found->ai_addr)->sin6_addr);
  const bool printed = inet_ntop(found->ai_family, addr, text, sizeof text) != nullptr;
  freeaddrinfo(found);
  if (!printed) return fail(errc::backend_unavailable, "cannot print the address of ", host);
  return std::string(text);
}

}  // namespace

bool HostLookup::is_numeric(const std::string& host) {
  in6_addr scratch;
  return inet_pton(AF_INET, host.c_str(), &scratch) == 1 ||
         inet_pton(AF_INET6, host.c_str(), &scratch) == 1;
}

std::shared_ptr<HostLookup> HostLookup::start(std::string host, int port, int wake_fd) {
  auto lookup = std::make_shared<HostLookup>();
  auto run = [lookup, host = std::move(host), port, wake_fd] {
    lookup->finish(resolve(host, port));
    const std::uint64_t one = 1;
    [[maybe_unused]] const ssize_t n = write(wake_fd, &one, sizeof one);
    close(wake_fd);
  };
  try {
    // Detached: a lookup can outlast its connection, and owns all it touches.
    std::thread(std::move(run)).detach();
  } catch (const std::system_error& e) {
    lookup->finish(fail(errc::backend_unavailable, "no thread to resolve a host name: ", e.what()));
    close(wake_fd);
  }
  return lookup;
}

void HostLookup::finish(Result<std::string> r) {
  std::lock_guard lock(mu_);
  result_ = std::move(r);
  done_ = true;
}

bool HostLookup::is_done() const {
  std::lock_guard lock(mu_);
  return done_;
}

Result<std::string> HostLookup::result() const {
  std::lock_guard lock(mu_);
  return result_;
}

}  // namespace tiercache::redis
