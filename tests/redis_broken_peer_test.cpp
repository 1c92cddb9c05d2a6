// A peer on the Redis port that breaks the protocol: a reply nobody asked for, a pub/sub message
// of a shape hiredis does not expect, a reply that never ends. hiredis 0.14 aborts the process on
// the first two and allocates without limit on the third; each must only drop the connection,
// which then says why. The peer is a test::FakeRedisPeer (a real Redis never sends these),
// answering "+OK" to every command but the one a test breaks.
#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "tests/support/fake_redis_peer.hpp"
#include "tests/support/redis_cache.hpp"
#include "tests/support/resident_memory.hpp"
#include "tiercache/backend.hpp"

using tiercache::errc;
using namespace std::chrono_literals;

namespace {

using test::FakeRedisPeer;
using test::RespCommand;
using test::send_all;

tiercache::Options options_for(const FakeRedisPeer& peer,
                               tiercache::InvalidationMode invalidation) {
  tiercache::Options o;
  o.redis.host = "127.0.0.1";
  o.redis.port = peer.port();
  o.redis.invalidation = invalidation;
  return o;
}

// Waits until the backend's last error names `what`.
void wait_for_error(const tiercache::Backend& backend, const std::string& what) {
  std::string last;
  test::wait_until(
      5s,
      [&] {
        last = backend.health().last_error;
        return last.find(what) != std::string::npos;
      },
      "the dropped connection says why");
  CHECK_THAT(last, Catch::Contains("the server sent"));
}

}  // namespace

TEST_CASE("a reply no command waited for drops the connection, not the process",
          "[redis][broken_peer]") {
  // A duplicated reply, stray bytes from a proxy: hiredis asserts that the connection must be
  // subscribed, and the process aborted.
  // Each connection's first command is answered twice.
  std::mutex mu;
  std::set<int> answered;
  FakeRedisPeer peer([&](const RespCommand&, int fd, const std::atomic<bool>&) {
    std::lock_guard lock(mu);
    return send_all(fd, answered.insert(fd).second ? "+OK\r\n+OK\r\n" : "+OK\r\n");
  });
  auto backend = tiercache::make_backend(options_for(peer, tiercache::InvalidationMode::off));
  REQUIRE(backend);
  wait_for_error(**backend, "a reply no command waited for");
}

TEST_CASE("a pub/sub message of an unexpected shape drops the stream, not the process",
          "[redis][broken_peer]") {
  // hiredis asserts a message has two elements at least, a string kind and channel, and an
  // unsubscribe's count an integer.
  struct Shape {
    const char* message;
    const char* refusal;
  };
  const Shape shapes[] = {
      {"*1\r\n$9\r\nsubscribe\r\n", "fewer than 2 elements"},
      {"*2\r\n:1\r\n$20\r\n__redis__:invalidate\r\n", "kind or channel is not a string"},
      {"*3\r\n$11\r\nunsubscribe\r\n$20\r\n__redis__:invalidate\r\n$1\r\nx\r\n",
       "count is not an integer"},
      {"*2\r\n$12\r\npunsubscribe\r\n$1\r\nx\r\n", "without its count"},
  };
  for (const Shape& shape : shapes) {
    INFO(shape.message);
    FakeRedisPeer peer([&](const RespCommand& command, int fd, const std::atomic<bool>&) {
      return send_all(fd, command.at(0) == "subscribe" ? shape.message : "+OK\r\n");
    });
    auto backend = tiercache::make_backend(options_for(peer, tiercache::InvalidationMode::tracked));
    REQUIRE(backend);
    wait_for_error(**backend, shape.refusal);
  }
}

TEST_CASE("one reply cannot make the cache allocate past what its command may be answered",
          "[redis][broken_peer]") {
  // A read of one key is answered an array of 2^20 arrays of 2^20 integers, never finished: each
  // array within the per-array bound, every byte within the buffered-bytes bound, yet 4 bytes on
  // the wire cost hiredis ~60 in objects, without end. The read's reply may cost one value and
  // its TTL, plus slack.
  // Built before RSS is first read and handed over whole (the peer then holds one copy, ~4 MiB),
  // so that what RSS shows is mostly what the cache allocates.
  std::string flood = "*1048576\r\n*1048576\r\n";
  while (flood.size() < (std::size_t{4} << 20)) flood += ":1\r\n";
  std::atomic<long> sent{0};
  FakeRedisPeer peer([&](const RespCommand& command, int fd, const std::atomic<bool>&) {
    if (command.at(0) != "eval") return send_all(fd, "+OK\r\n");
    sent += static_cast<long>(flood.size());
    return send_all(fd, flood);
  });
  tiercache::Options o = options_for(peer, tiercache::InvalidationMode::off);
  // Far above what the reply takes to arrive, also under a sanitizer: the read must end on the
  // bound, not on the connection's timeout.
  o.redis.command_timeout = 10s;
  auto backend = tiercache::make_backend(o);
  REQUIRE(backend);
  test::wait_until(
      5s, [&] { return (*backend)->is_available(); }, "the peer is taken for Redis");
  const long before = test::resident_kib();
  std::mutex mu;
  std::optional<tiercache::Result<tiercache::BackendValue>> answer;
  (*backend)->read({"k"}, [&](std::vector<tiercache::Result<tiercache::BackendValue>> r) {
    std::lock_guard lock(mu);
    answer = std::move(r.at(0));
  });
  test::wait_until(
      20s,
      [&] {
        std::lock_guard lock(mu);
        return answer.has_value();
      },
      "the read is answered");
  const long grown_kib = test::resident_kib() - before;
  INFO("the peer sent " << sent.load() / 1024 << " KiB; RSS grew by " << grown_kib << " KiB");
  REQUIRE_FALSE(*answer);
  CHECK(answer->error() == errc::backend_unavailable);
  CHECK_THAT(answer->error().detail, Catch::Contains("a reply of over"));
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  // ~1.1 MiB of objects at most, and the peer's copy; 4 MiB of integers unbounded cost ~70 MiB.
  // (Under a sanitizer, quarantine and shadow memory make RSS say little: the error above shows
  // the bound was applied.)
  CHECK(grown_kib < 16 * 1024);
#endif
}
