// A cluster seed that breaks the protocol while it gives the topology: a CLUSTER SHARDS reply that
// names a string of a gigabyte and then streams it fast, or trickles it a byte at a time. The
// topology is fetched over a blocking hiredis context (at open, and on the refresh thread, which
// the backend's destructor joins), whose redisCommandArgv buffered every byte of an unfinished
// reply and waited for its end however long it took. Each must only fail the fetch, soon and
// without allocating what the peer names, and say why. The peer is a test::FakeRedisPeer (a real
// Redis never sends these).
#include <algorithm>
#include <atomic>
#include <chrono>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/support/fake_redis_peer.hpp"
#include "tests/support/redis_cache.hpp"
#include "tests/support/resident_memory.hpp"
#include "tiercache/backend.hpp"

using tiercache::errc;
using namespace std::chrono_literals;

namespace {

using test::send_all;
using Command = test::RespCommand;
using FakeSeed = test::FakeRedisPeer;

bool is_cluster(const Command& command, std::string_view sub) {
  return command.size() == 2 && command[0] == "cluster" && command[1] == sub;
}

tiercache::Options options_for(const FakeSeed& seed) {
  tiercache::Options o;
  o.redis.cluster_nodes = {seed.address()};
  o.redis.invalidation = tiercache::InvalidationMode::off;
  return o;
}

// A bulk string header naming ~1 GB: a reply hiredis would buffer whole before any guard sees it.
constexpr std::string_view kGigabyteString = "$1000000000\r\n";

}  // namespace

TEST_CASE("a topology reply streaming a huge string fails the fetch within its memory bound",
          "[redis][cluster][broken_peer]") {
  // 80 MiB as fast as the client takes them, past the 64 MiB a whole topology reply may cost, in
  // 1 MiB sends built before RSS is first read. RSS is sampled as it goes (when the fetch fails,
  // the buffer is freed and RSS says nothing more).
  const std::string mebibyte(std::size_t{1} << 20, 'x');
  constexpr long kStreamMiB = 80;
  std::atomic<long> sent_mib{0};
  std::atomic<long> peak_kib{0};
  FakeSeed seed([&](const Command& command, int fd, const std::atomic<bool>& stop) {
    if (!is_cluster(command, "shards") && !is_cluster(command, "slots"))
      return send_all(fd, "+OK\r\n");
    if (!send_all(fd, kGigabyteString)) return false;
    for (long i = 0; i < kStreamMiB && !stop; ++i) {
      if (!send_all(fd, mebibyte)) return false;
      ++sent_mib;
      peak_kib = std::max(peak_kib.load(), test::resident_kib());
    }
    return false;
  });
  tiercache::Options o = options_for(seed);
  // Far above what the stream takes to arrive, also under a sanitizer: the fetch must end on the
  // bound, not on a timeout.
  o.redis.command_timeout = 10s;
  const long before = test::resident_kib();
  peak_kib = before;
  auto backend = tiercache::make_backend(o);
  const long grown_kib = peak_kib.load() - before;
  INFO("the peer sent " << sent_mib.load() << " MiB; RSS grew by " << grown_kib << " KiB");
  REQUIRE_FALSE(backend);
  CHECK(backend.error() == errc::backend_unavailable);
  CHECK_THAT(backend.error().detail, Catch::Contains(seed.address()));
  CHECK_THAT(backend.error().detail, Catch::Contains("over the bound of"));
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
  // ~1 MiB buffered at most (2 as hiredis grows its buffer); unbounded, the whole 80 MiB.
  // (Under a sanitizer, quarantine and shadow memory make RSS say little: the error above shows
  // the bound was applied.)
  CHECK(grown_kib < 16 * 1024);
#endif
}

TEST_CASE("a topology reply trickling in fails the fetch soon after command_timeout",
          "[redis][cluster][broken_peer]") {
  // A byte every 50 ms: each recv well within command_timeout, the reply never finished. Given
  // up after 15 s, so that a fetch that waits for its end (the bug) still ends.
  FakeSeed seed([](const Command& command, int fd, const std::atomic<bool>& stop) {
    if (!is_cluster(command, "shards") && !is_cluster(command, "slots"))
      return send_all(fd, "+OK\r\n");
    if (!send_all(fd, kGigabyteString)) return false;
    const auto give_up = std::chrono::steady_clock::now() + 15s;
    while (!stop && std::chrono::steady_clock::now() < give_up) {
      if (!send_all(fd, "x")) return false;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  });
  tiercache::Options o = options_for(seed);
  o.redis.command_timeout = 200ms;
  const auto start = std::chrono::steady_clock::now();
  auto backend = tiercache::make_backend(o);
  const auto took = std::chrono::steady_clock::now() - start;
  INFO("make_backend took " << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
                            << " ms");
  REQUIRE_FALSE(backend);
  CHECK(backend.error() == errc::backend_unavailable);
  CHECK_THAT(backend.error().detail, Catch::Contains(seed.address()));
  CHECK_THAT(backend.error().detail, Catch::Contains("did not finish"));
  // command_timeout + 1 s, and a recv's command_timeout past that; loosely, for loaded machines.
  CHECK(took < 10s);
}

TEST_CASE("the topology fetch authenticates, and falls back to CLUSTER SLOTS before Redis 7",
          "[redis][cluster][broken_peer]") {
  // A Redis 6 node with a password: CLUSTER SHARDS is unknown. It owns every slot itself, and
  // answers the node connections' other commands "+OK".
  const std::string password = "s3cret";
  // How AUTH with the right password is answered: "+OK" unless a section says otherwise.
  std::atomic<const char*> auth_answer{"+OK\r\n"};
  std::atomic<std::uint16_t> port{0};
  FakeSeed seed([&](const Command& command, int fd, const std::atomic<bool>&) {
    if (command.at(0) == "auth")
      return send_all(fd, command.size() == 2 && command[1] == password
                              ? auth_answer.load()
                              : "-WRONGPASS invalid username-password pair\r\n");
    if (is_cluster(command, "shards"))
      return send_all(fd, "-ERR unknown subcommand 'shards'. Try CLUSTER HELP.\r\n");
    if (is_cluster(command, "slots"))
      return send_all(fd, "*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n$9\r\n127.0.0.1\r\n:" +
                              std::to_string(port.load()) + "\r\n");
    return send_all(fd, "+OK\r\n");
  });
  port = seed.port();
  tiercache::Options o = options_for(seed);
  o.redis.cluster_nodes = {"redis://:" + password + "@" + seed.address()};

  SECTION("the topology is taken from CLUSTER SLOTS") {
    auto backend = tiercache::make_backend(o);
    REQUIRE(backend);
    const std::vector<Command> received = seed.received();
    REQUIRE(received.size() >= 3);
    CHECK(received[0] == Command{"auth", password});
    CHECK(received[1] == Command{"cluster", "shards"});
    CHECK(received[2] == Command{"cluster", "slots"});
  }
  SECTION("a refused AUTH fails the fetch, naming the node") {
    // A wrong password: the options are wrong, no retry helps.
    o.redis.cluster_nodes = {"redis://:wrong@" + seed.address()};
    auto backend = tiercache::make_backend(o);
    REQUIRE_FALSE(backend);
    CHECK(backend.error() == errc::invalid_argument);
    CHECK_THAT(backend.error().detail, Catch::Contains("refused AUTH"));
    CHECK_THAT(backend.error().detail, Catch::Contains(seed.address()));
    CHECK(seed.received().size() == 1);
  }
  SECTION("an AUTH turned away for now fails the fetch as unavailable") {
    // A server at maxclients answers any first command so before it closes.
    auth_answer = "-ERR max number of clients reached\r\n";
    auto backend = tiercache::make_backend(o);
    REQUIRE_FALSE(backend);
    CHECK(backend.error() == errc::backend_unavailable);
    CHECK_THAT(backend.error().detail, Catch::Contains("max number of clients"));
  }
}

TEST_CASE("a seed that wants a password none was given for fails open with invalid_argument",
          "[redis][cluster][broken_peer]") {
  FakeSeed seed([&](const Command&, int fd, const std::atomic<bool>&) {
    return send_all(fd, "-NOAUTH Authentication required.\r\n");
  });
  auto backend = tiercache::make_backend(options_for(seed));
  REQUIRE_FALSE(backend);
  CHECK(backend.error() == errc::invalid_argument);
  CHECK_THAT(backend.error().detail, Catch::Contains("NOAUTH"));
  CHECK_THAT(backend.error().detail, Catch::Contains(seed.address()));
}
