// The file store backend (tiercache/file_store.hpp) on a fresh directory per test: its Backend
// contract, what it does with damaged files, its size bound, and two processes on one directory.
#include <fcntl.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "adapters/file/key_file.hpp"
#include "adapters/file/key_lock.hpp"
#include "adapters/file/record.hpp"
#include "tests/support/child_process.hpp"
#include "tests/support/file_store_hammer.hpp"
#include "tests/support/socket.hpp"
#include "tests/support/temp_dir.hpp"
#include "tests/support/test_support.hpp"
#include "tiercache/file_store.hpp"

using tiercache::Backend;
using tiercache::BackendValue;
using tiercache::BackendWrite;
using tiercache::Cache;
using tiercache::errc;
using tiercache::FileStoreOptions;
using tiercache::Result;
using tiercache::TtlLeft;
using tiercache::WriteMode;
using namespace std::chrono_literals;
using namespace std::string_literals;
namespace fs = std::filesystem;

namespace {

// Longest a test waits for one backend answer.
constexpr auto kAnswerLimit = 10s;

std::shared_ptr<Backend> open_store(const FileStoreOptions& options) {
  auto store = tiercache::make_file_store(options);
  if (!store) FAIL("make_file_store: " << store.error().detail);
  return *store;
}

std::shared_ptr<Backend> open_store(const test::TempDir& dir) {
  // fsync off: these tests are about what the store does, not about the disk.
  return open_store({.directory = dir.path(), .fsync = false});
}

// No Catch2 assertion inside: callable from a test's own threads.
std::optional<std::vector<Result<void>>> try_write_all(
    Backend& b, std::vector<BackendWrite> writes, std::chrono::milliseconds limit = kAnswerLimit) {
  auto p = std::make_shared<std::promise<std::vector<Result<void>>>>();
  auto f = p->get_future();
  b.write(writes, [p](std::vector<Result<void>> r) { p->set_value(std::move(r)); });
  if (f.wait_for(limit) != std::future_status::ready) return std::nullopt;
  return f.get();
}

std::vector<Result<void>> write_all(Backend& b, std::vector<BackendWrite> writes) {
  auto r = try_write_all(b, std::move(writes));
  if (!r) FAIL("write not answered");
  return std::move(*r);
}

Result<void> write_one(Backend& b, BackendWrite w) {
  auto r = write_all(b, {w});
  REQUIRE(r.size() == 1);
  return r.front();
}

BackendWrite set_of(std::string_view key, std::string_view value,
                    std::chrono::milliseconds ttl = 0ms) {
  return {.kind = BackendWrite::Kind::set, .key = key, .value = value, .ttl = ttl};
}

BackendWrite fill_of(std::string_view key, std::string_view value) {
  return {.kind = BackendWrite::Kind::fill, .key = key, .value = value};
}

BackendWrite purge_of(std::string_view key) {
  return {.kind = BackendWrite::Kind::purge, .key = key};
}

Result<BackendValue> read_one(Backend& b, const std::string& key) {
  auto p = std::make_shared<std::promise<std::vector<Result<BackendValue>>>>();
  auto f = p->get_future();
  b.read({key}, [p](std::vector<Result<BackendValue>> r) { p->set_value(std::move(r)); });
  if (f.wait_for(kAnswerLimit) != std::future_status::ready) FAIL("read not answered");
  auto r = f.get();
  REQUIRE(r.size() == 1);
  return std::move(r.front());
}

// A read's answer, safe to compare whatever it is (a failure reads as its code and detail).
std::string value_or_error(Result<BackendValue> r) {
  if (!r) return "<error " + r.error().code.message() + ": " + r.error().detail + ">";
  return std::move(r->value);
}

std::string value_of(Backend& b, const std::string& key) {
  return value_or_error(read_one(b, key));
}

// A read's answer if it comes within `limit`, else nothing (a late answer goes nowhere).
std::optional<Result<BackendValue>> read_within(Backend& b, const std::string& key,
                                                std::chrono::milliseconds limit) {
  auto p = std::make_shared<std::promise<std::vector<Result<BackendValue>>>>();
  auto f = p->get_future();
  b.read({key}, [p](std::vector<Result<BackendValue>> r) { p->set_value(std::move(r)); });
  if (f.wait_for(limit) != std::future_status::ready) return std::nullopt;
  auto r = f.get();
  REQUIRE(r.size() == 1);
  return std::move(r.front());
}

bool is_missing(const Result<BackendValue>& r) {
  return !r && r.error() == errc::not_found;
}

std::string file_of(const test::TempDir& dir, std::string_view key) {
  const tiercache::file::KeyFile f = tiercache::file::key_file(key);
  return dir.path() + "/data/" + tiercache::file::byte_hex(f.fanout) + "/" + f.name;
}

void write_file(const std::string& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  REQUIRE(out.good());
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// The bytes of every record file under the store, as the size bound counts them.
std::uintmax_t stored_bytes(const test::TempDir& dir) {
  std::uintmax_t total = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir.path() + "/data"))
    if (e.is_regular_file() && tiercache::file::key_file_of_name(e.path().filename().string()))
      total += e.file_size();
  return total;
}

tiercache::Options with_store(std::shared_ptr<Backend> store) {
  tiercache::Options o;
  o.backend = std::move(store);
  o.writer.mode = WriteMode::sync;
  return o;
}

// The lock a write to `key` takes, held as another process (a stopped or wedged one) would hold
// it: an flock on its own open file description, which the store's flock must wait for.
class KeyLockHolder {
 public:
  KeyLockHolder(const test::TempDir& dir, std::string_view key)
      : fd_(::open((dir.path() + "/locks/" +
                    tiercache::file::byte_hex(tiercache::file::key_file(key).lock))
                       .c_str(),
                   O_RDWR | O_CREAT | O_CLOEXEC, 0600)) {
    REQUIRE(fd_.get() >= 0);
    REQUIRE(::flock(fd_.get(), LOCK_EX | LOCK_NB) == 0);
  }
  void release() { fd_ = test::Fd(); }

 private:
  test::Fd fd_;
};

// A key whose lock is not `key`'s, so that holding one leaves the other free.
std::string key_on_another_lock(std::string_view key, std::string_view prefix) {
  const std::size_t lock = tiercache::file::key_file(key).lock;
  for (int i = 0;; ++i) {
    std::string candidate = std::string(prefix) + std::to_string(i);
    if (tiercache::file::key_file(candidate).lock != lock) return candidate;
  }
}

// Whether a write's temporary file is in the store (a write under way, or one left behind).
bool has_temp_file(const test::TempDir& dir) {
  for (const auto& e : fs::recursive_directory_iterator(dir.path() + "/data"))
    if (tiercache::file::is_temp_name(e.path().filename().string())) return true;
  return false;
}

}  // namespace

TEST_CASE("values survive closing the store and the cache: a new pair on the directory reads them",
          "[file_store]") {
  test::TempDir dir;
  {
    Cache cache = test::open_cache(with_store(open_store(dir)));
    REQUIRE(cache.set(test::ctx_with_timeout(5s), "k", "v"));
    REQUIRE(cache.set(test::ctx_with_timeout(5s), "gone", "x"));
    REQUIRE(cache.purge(test::ctx_with_timeout(5s), "gone"));
  }
  Cache cache = test::open_cache(with_store(open_store(dir)));
  CHECK(cache.get(test::ctx_with_timeout(5s), "k") == "v");
  CHECK(cache.stats().l2_hits == 1);
  CHECK(cache.get(test::ctx_with_timeout(5s), "gone").error() == errc::not_found);
}

TEST_CASE("set replaces, fill stores only where nothing live is, purge removes", "[file_store]") {
  test::TempDir dir;
  auto store = open_store(dir);
  CHECK(is_missing(read_one(*store, "k")));
  REQUIRE(write_one(*store, fill_of("k", "filled")));
  CHECK(value_of(*store, "k") == "filled");
  REQUIRE(write_one(*store, fill_of("k", "second fill")));
  CHECK(value_of(*store, "k") == "filled");
  REQUIRE(write_one(*store, set_of("k", "set")));
  CHECK(value_of(*store, "k") == "set");
  auto never = read_one(*store, "k");
  REQUIRE(never);
  CHECK(never->ttl_left.kind == TtlLeft::Kind::never);
  REQUIRE(write_one(*store, purge_of("k")));
  CHECK(is_missing(read_one(*store, "k")));
  CHECK_FALSE(fs::exists(file_of(dir, "k")));
  REQUIRE(write_one(*store, purge_of("never there")));
  // One batch, in order.
  auto results = write_all(*store, {set_of("a", "1"), purge_of("a"), fill_of("a", "2"),
                                    set_of("b", "3"), fill_of("b", "4")});
  for (const auto& r : results) CHECK(r);
  CHECK(value_of(*store, "a") == "2");
  CHECK(value_of(*store, "b") == "3");
}

TEST_CASE("a fill racing a set on another store instance never replaces the set", "[file_store]") {
  test::TempDir dir;
  // Two instances on one directory take the key's lock as two processes would.
  auto setter = open_store(dir);
  auto filler = open_store(dir);
  int fill_won = 0;
  int fill_failed = 0;
  for (int round = 0; round < 200; ++round) {
    REQUIRE(write_one(*setter, purge_of("k")));
    std::atomic<bool> go{false};
    std::optional<std::vector<Result<void>>> filled;
    std::thread t([&] {
      while (!go.load()) std::this_thread::yield();
      filled = try_write_all(*filler, {fill_of("k", "fill")});
    });
    go.store(true);
    REQUIRE(write_one(*setter, set_of("k", "set")));
    t.join();
    if (!filled || filled->size() != 1 || !filled->front()) ++fill_failed;
    if (value_of(*setter, "k") != "set") ++fill_won;
  }
  CHECK(fill_failed == 0);
  CHECK(fill_won == 0);
}

TEST_CASE("an expired value is not_found and its file is removed; a TTL survives a reopen",
          "[file_store]") {
  test::TempDir dir;
  {
    auto store = open_store(dir);
    REQUIRE(write_one(*store, set_of("long", "v", 1h)));
    REQUIRE(write_one(*store, set_of("short", "v", 50ms)));
    auto long_lived = read_one(*store, "long");
    REQUIRE(long_lived);
    const auto left = long_lived->ttl_left;
    CHECK(left.kind == TtlLeft::Kind::after);
    CHECK(left.left <= 1h);
    test::wait_until(
        5s, [&] { return is_missing(read_one(*store, "short")); }, "it expires");
    test::wait_until(
        5s, [&] { return !fs::exists(file_of(dir, "short")); }, "its file is removed");
    // A fill may take an expired key.
    REQUIRE(write_one(*store, set_of("ttl", "old", 1ms)));
    test::wait_until(
        5s, [&] { return is_missing(read_one(*store, "ttl")); }, "it expires");
    REQUIRE(write_one(*store, fill_of("ttl", "new")));
    CHECK(value_of(*store, "ttl") == "new");
  }
  auto store = open_store(dir);
  auto long_lived = read_one(*store, "long");
  REQUIRE(long_lived);
  const auto left = long_lived->ttl_left;
  CHECK(left.kind == TtlLeft::Kind::after);
  CHECK(left.left <= 1h);
  CHECK(left.left > 50min);
}

TEST_CASE("the absent marker reads back as absent, and a cache keeps negative answers in it",
          "[file_store]") {
  test::TempDir dir;
  auto store = open_store(dir);
  CHECK(store->stores_absent());
  REQUIRE(write_one(*store, {.kind = BackendWrite::Kind::set,
                             .key = "k",
                             .value = "ignored",
                             .ttl = 1h,
                             .absent = true}));
  auto r = read_one(*store, "k");
  REQUIRE(r);
  CHECK(r->absent);
  CHECK(r->value.empty());

  tiercache::Options o = with_store(store);
  o.negative_ttl = 1h;
  o.negative_in_l2 = true;
  Cache cache = test::open_cache(o);
  int loads = 0;
  auto loader = [&](const tiercache::Context&, std::string_view) -> Result<tiercache::Loaded> {
    ++loads;
    return tiercache::Loaded::absent();
  };
  CHECK(cache.get_or_load(test::ctx_with_timeout(5s), "nothing", loader).error() ==
        errc::not_found);
  REQUIRE(cache.flush(test::ctx_with_timeout(5s)));
  CHECK(loads == 1);
  auto marker = read_one(*store, "nothing");
  REQUIRE(marker);
  CHECK(marker->absent);
}

TEST_CASE("binary keys and values round-trip, a 64 KiB one too", "[file_store]") {
  test::TempDir dir;
  auto store = open_store(dir);
  const std::string key = "k\0\r\n\xff"s;
  std::string value(64 << 10, '\0');
  for (std::size_t i = 0; i < value.size(); ++i) value[i] = static_cast<char>(i * 7);
  REQUIRE(write_one(*store, set_of(key, value)));
  REQUIRE(write_one(*store, set_of("\r\n", "\0\r\n"s)));
  CHECK(value_of(*store, key) == value);
  CHECK(value_of(*store, "\r\n") == "\0\r\n"s);
  CHECK(is_missing(read_one(*store, "k")));
}

TEST_CASE("a value over max_value_bytes is refused and the key's older value goes",
          "[file_store]") {
  test::TempDir dir;
  auto store = open_store({.directory = dir.path(), .max_value_bytes = 100, .fsync = false});
  REQUIRE(write_one(*store, set_of("k", "old")));
  CHECK(write_one(*store, set_of("k", std::string(101, 'x'))).error() == errc::backend_error);
  CHECK(is_missing(read_one(*store, "k")));
  REQUIRE(write_one(*store, set_of("k", std::string(100, 'x'))));
  CHECK(write_one(*store, fill_of("f", std::string(101, 'x'))).error() == errc::backend_error);
}

TEST_CASE("a record larger than max_bytes is refused and evicts nothing", "[file_store]") {
  test::TempDir dir;
  // Values up to max_bytes are allowed, but a record is also its header and key.
  auto store = open_store(
      {.directory = dir.path(), .max_bytes = 2000, .max_value_bytes = 2000, .fsync = false});
  for (int i = 0; i < 10; ++i) REQUIRE(write_one(*store, set_of("k" + std::to_string(i), "v")));
  REQUIRE(write_one(*store, set_of("big", "old")));
  const auto refused = write_one(*store, set_of("big", std::string(1990, 'x')));
  REQUIRE_FALSE(refused);
  CHECK(refused.error() == errc::backend_error);
  CHECK(refused.error().detail.find("max_bytes") != std::string::npos);
  CHECK(is_missing(read_one(*store, "big")));  // as for a value over max_value_bytes
  for (int i = 0; i < 10; ++i) CHECK(read_one(*store, "k" + std::to_string(i)));
  CHECK(stored_bytes(dir) <= 2000);
}

TEST_CASE("a write cut off before its rename leaves the old value readable", "[file_store]") {
  test::TempDir dir;
  const std::string path = file_of(dir, "k");
  {
    auto store = open_store(dir);
    REQUIRE(write_one(*store, set_of("k", "old")));
    // What a writer that died after writing its temporary file leaves: one just written (another
    // process may still be renaming it) and one from long ago.
    write_file(path + ".tmp.999999.0", "new value, never renamed in");
    write_file(path + ".tmp.999999.1", "stale leftover");
    const auto long_ago = fs::file_time_type::clock::now() - 10min;
    fs::last_write_time(path + ".tmp.999999.1", long_ago);
    CHECK(value_of(*store, "k") == "old");
  }
  auto store = open_store(dir);
  CHECK(value_of(*store, "k") == "old");
  CHECK(fs::exists(path + ".tmp.999999.0"));
  CHECK_FALSE(fs::exists(path + ".tmp.999999.1"));
  CHECK(store->health().unreadable_values == 0);
}

TEST_CASE("truncated, foreign, corrupted and oversized files are not_found and counted",
          "[file_store]") {
  test::TempDir dir;
  auto store = open_store({.directory = dir.path(), .max_value_bytes = 1 << 16, .fsync = false});
  Cache cache = test::open_cache(with_store(store));
  const std::string value(1000, 'v');
  for (const char* key : {"truncated", "foreign", "flipped", "huge claim", "huge file", "short"})
    REQUIRE(write_one(*store, set_of(key, value)));

  const std::string truncated = file_of(dir, "truncated");
  fs::resize_file(truncated, fs::file_size(truncated) / 2);
  write_file(file_of(dir, "foreign"), std::string(4096, 'Z'));
  std::string flipped = read_file(file_of(dir, "flipped"));
  flipped[flipped.size() / 2] ^= 0x20;
  write_file(file_of(dir, "flipped"), flipped);
  // A header claiming a 4 GiB value in a small file.
  std::string claim = read_file(file_of(dir, "huge claim"));
  for (int i = 20; i < 24; ++i) claim[i] = '\xff';
  write_file(file_of(dir, "huge claim"), claim);
  // A sparse 2 GiB file: never read, its size alone rules it out.
  fs::resize_file(file_of(dir, "huge file"), std::uintmax_t{2} << 30);
  write_file(file_of(dir, "short"), "TCFS");

  const char* bad[] = {"truncated", "foreign", "flipped", "huge claim", "huge file", "short"};
  for (const char* key : bad) {
    INFO(key);
    CHECK(cache.get(test::ctx_with_timeout(5s), key).error() == errc::not_found);
  }
  CHECK(store->health().unreadable_values == std::size(bad));
  CHECK(cache.stats().l2_unreadable_values == std::size(bad));
  CHECK(cache.stats().l2_errors.total() == 0);
  // A set puts a good record in its place.
  REQUIRE(cache.set(test::ctx_with_timeout(5s), "foreign", "fixed"));
  CHECK(value_of(*store, "foreign") == "fixed");
}

// Lets a store that opened `fifo` for reading without O_NONBLOCK past its open (which waits for
// a writer), so that a test that found it stuck can still end. A store that never blocks there
// has no reader waiting, and then the open fails harmlessly (ENXIO).
test::Fd unblock_fifo_reader(const std::string& fifo) {
  return test::Fd(::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC));
}

TEST_CASE("a FIFO where a record should be is unreadable and wedges no read", "[file_store]") {
  test::TempDir dir;
  auto store = open_store(dir);
  REQUIRE(write_one(*store, set_of("other", "theirs")));
  const std::string fifo = file_of(dir, "k");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);

  // "other" queues behind "k" on the store's one read thread.
  const auto k = read_within(*store, "k", 2s);
  const auto other = read_within(*store, "other", 2s);
  const test::Fd writer = unblock_fifo_reader(fifo);

  CHECK(k.has_value());
  CHECK(other.has_value());
  if (k) CHECK(is_missing(*k));
  if (other) CHECK(value_or_error(*other) == "theirs");
  CHECK(store->health().unreadable_values == 1);
}

TEST_CASE("a socket where a record should be is a miss and counted, not an error", "[file_store]") {
  test::TempDir dir;
  auto store = open_store(dir);
  const std::string path = file_of(dir, "k");
  // open() of a Unix socket fails (ENXIO): the path holds something, but no record.
  test::Fd sock(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_un addr{.sun_family = AF_UNIX};
  REQUIRE(path.size() < sizeof addr.sun_path);
  path.copy(addr.sun_path, path.size());
  REQUIRE(::bind(sock.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);

  CHECK(value_of(*store, "k") == "<error not found: >");
  CHECK(store->health().unreadable_values == 1);
  CHECK(store->is_available());
  REQUIRE(write_one(*store, set_of("k", "v")));
  CHECK(value_of(*store, "k") == "v");
}

TEST_CASE("a fill over a FIFO is not stuck and replaces it", "[file_store]") {
  test::TempDir dir;
  auto store = open_store(dir);
  const std::string fifo = file_of(dir, "k");
  REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);

  // A fill first looks whether a live value is there.
  const auto filled = try_write_all(*store, {fill_of("k", "v")}, 2s);
  const test::Fd writer = unblock_fifo_reader(fifo);
  CHECK(filled.has_value());
  if (filled) CHECK(filled->front());
  CHECK(value_of(*store, "k") == "v");
}

TEST_CASE("a record under another key's name (a hash collision) is a miss, and a write replaces it",
          "[file_store]") {
  test::TempDir dir;
  auto store = open_store(dir);
  REQUIRE(write_one(*store, set_of("other", "theirs")));
  // What a collision looks like on disk: "mine"'s file holds "other"'s record.
  fs::copy_file(file_of(dir, "other"), file_of(dir, "mine"));
  CHECK(is_missing(read_one(*store, "mine")));
  CHECK(store->health().unreadable_values == 0);
  REQUIRE(write_one(*store, fill_of("mine", "ours")));
  CHECK(value_of(*store, "mine") == "ours");
}

TEST_CASE("past max_bytes the oldest-written values are evicted and the store stays under it",
          "[file_store]") {
  test::TempDir dir;
  constexpr std::size_t kMaxBytes = 64 << 10;
  auto store = open_store({.directory = dir.path(),
                           .max_bytes = kMaxBytes,
                           .max_value_bytes = 4 << 10,
                           .fsync = false});
  const std::string value(1000, 'v');
  constexpr int kKeys = 200;
  for (int i = 0; i < kKeys; ++i) {
    REQUIRE(write_one(*store, set_of("k" + std::to_string(i), value)));
    REQUIRE(stored_bytes(dir) <= kMaxBytes);
  }
  CHECK(is_missing(read_one(*store, "k0")));
  // Eviction leaves 90 % of max_bytes: at least the 50 newest fit in that.
  for (int i = kKeys - 50; i < kKeys; ++i) {
    INFO(i);
    CHECK(value_of(*store, "k" + std::to_string(i)) == value);
  }
  // A new instance counts what is there and goes on from it.
  store.reset();
  store = open_store({.directory = dir.path(),
                      .max_bytes = kMaxBytes,
                      .max_value_bytes = 4 << 10,
                      .fsync = false});
  for (int i = 0; i < 100; ++i) {
    REQUIRE(write_one(*store, set_of("n" + std::to_string(i), value)));
    REQUIRE(stored_bytes(dir) <= kMaxBytes);
  }
}

TEST_CASE("a directory that cannot take writes makes the store unavailable until it can again",
          "[file_store]") {
  test::TempDir dir;
  auto store = open_store(dir);
  REQUIRE(write_one(*store, set_of("k", "v")));
  // The data tree replaced by a file: every create fails with ENOTDIR (tests may run as root,
  // whom permissions do not stop).
  fs::remove_all(dir.path() + "/data");
  write_file(dir.path() + "/data", "in the way");
  auto failed = write_all(*store, {set_of("a", "1"), set_of("b", "2")});
  REQUIRE(failed.size() == 2);
  CHECK(failed[0].error() == errc::backend_error);
  CHECK(failed[1].error() == errc::backend_unavailable);
  CHECK_FALSE(store->is_available());
  CHECK(store->health().last_error.find("data") != std::string::npos);
  CHECK(is_missing(read_one(*store, "k")));
  fs::remove(dir.path() + "/data");
  test::wait_until(
      5s, [&] { return store->is_available(); }, "a probe finds the directory usable");
  REQUIRE(write_one(*store, set_of("a", "1")));
  CHECK(value_of(*store, "a") == "1");
}

TEST_CASE("a write whose key's lock another holder keeps fails with timeout; released, it lands",
          "[file_store]") {
  test::TempDir dir;
  constexpr std::chrono::milliseconds kLockWait{200};
  auto store = open_store({.directory = dir.path(), .fsync = false, .lock_wait = kLockWait});
  REQUIRE(write_one(*store, set_of("k", "old")));
  const std::string other = key_on_another_lock("k", "other");
  KeyLockHolder held(dir, "k");
  // Each waits for k's lock no longer than lock_wait, then is answered as in doubt, so the
  // writer sends it again; a write under another lock in the same batch is not held up.
  // (A fill takes the lock where a set does.)
  auto answered = try_write_all(*store, {set_of("k", "new"), purge_of("k"), set_of(other, "o")},
                                kAnswerLimit + 2 * kLockWait);
  REQUIRE(answered);
  auto& results = *answered;
  REQUIRE(results.size() == 3);
  for (std::size_t i = 0; i < 2; ++i) {
    INFO(i);
    REQUIRE_FALSE(results[i]);
    CHECK(results[i].error() == errc::timeout);
    CHECK_THAT(results[i].error().detail, Catch::Contains("lock"));
  }
  CHECK(results[2]);
  CHECK(store->is_available());
  CHECK_THAT(store->health().last_error, Catch::Contains("lock"));
  CHECK(value_of(*store, "k") == "old");
  CHECK(value_of(*store, other) == "o");
  CHECK_FALSE(has_temp_file(dir));
  held.release();
  REQUIRE(write_one(*store, set_of("k", "new")));
  CHECK(value_of(*store, "k") == "new");
  REQUIRE(write_one(*store, purge_of("k")));
  CHECK(is_missing(read_one(*store, "k")));
}

TEST_CASE("eviction passes over a file whose lock another holder keeps", "[file_store]") {
  test::TempDir dir;
  constexpr std::size_t kMaxBytes = 64 << 10;
  auto store = open_store({.directory = dir.path(),
                           .max_bytes = kMaxBytes,
                           .max_value_bytes = 4 << 10,
                           .fsync = false});
  const std::string value(1000, 'v');
  REQUIRE(write_one(*store, set_of("oldest", value)));
  KeyLockHolder held(dir, "oldest");
  const std::size_t held_lock = tiercache::file::key_file("oldest").lock;
  int written = 0;
  for (int i = 0; written < 200; ++i) {
    const std::string key = "k" + std::to_string(i);
    if (tiercache::file::key_file(key).lock == held_lock) continue;
    REQUIRE(write_one(*store, set_of(key, value)));
    REQUIRE(stored_bytes(dir) <= kMaxBytes);
    ++written;
  }
  // Evicted first, were it not locked; the newer ones went instead.
  CHECK(value_of(*store, "oldest") == value);
}

TEST_CASE("a store destroyed while a write waits for a lock held elsewhere returns, answering it",
          "[file_store]") {
  test::TempDir dir;
  auto store = open_store(dir);
  KeyLockHolder held(dir, "k");
  auto answer = std::make_shared<std::promise<std::vector<Result<void>>>>();
  auto answered = answer->get_future();
  store->write(std::vector<BackendWrite>{set_of("k", "v")},
               [answer](std::vector<Result<void>> r) { answer->set_value(std::move(r)); });
  // The write's temporary file is made before the lock is asked for: once it shows, the write
  // thread is waiting for the lock (or, bounded, has already given up and answered).
  test::wait_until(
      kAnswerLimit,
      [&] { return has_temp_file(dir) || answered.wait_for(0ms) == std::future_status::ready; },
      "the write thread takes the write");
  auto destroyed = std::async(std::launch::async, [&store] { store.reset(); });
  const bool in_time = destroyed.wait_for(kAnswerLimit) == std::future_status::ready;
  // Whatever happened, the destructor can finish now, and the test with it.
  held.release();
  destroyed.wait();
  REQUIRE(in_time);
  REQUIRE(answered.wait_for(0ms) == std::future_status::ready);
  auto results = answered.get();
  REQUIRE(results.size() == 1);
  REQUIRE_FALSE(results[0]);
  CHECK(results[0].error() == errc::timeout);
}

TEST_CASE("a store destroyed with batches queued answers each exactly once", "[file_store]") {
  test::TempDir dir;
  auto store = open_store(dir);
  constexpr int kBatches = 300;
  auto answered = std::make_shared<std::atomic<int>>(0);
  auto other_errors = std::make_shared<std::atomic<int>>(0);
  const std::string value(10000, 'v');
  for (int i = 0; i < kBatches; ++i) {
    const std::string key = "k" + std::to_string(i);
    store->write(std::vector<BackendWrite>{set_of(key, value)},
                 [answered, other_errors](std::vector<Result<void>> r) {
                   if (r.size() != 1 || (!r[0] && r[0].error() != errc::closed)) ++*other_errors;
                   ++*answered;
                 });
    store->read({key}, [answered, other_errors](std::vector<Result<BackendValue>> r) {
      if (r.size() != 1 ||
          (!r[0] && r[0].error() != errc::closed && r[0].error() != errc::not_found))
        ++*other_errors;
      ++*answered;
    });
  }
  store.reset();  // joins the threads: every callback has run
  CHECK(answered->load() == 2 * kBatches);
  CHECK(other_errors->load() == 0);
}

TEST_CASE("two processes hammering one key read only whole values", "[file_store][slow]") {
  test::TempDir dir;
  const unsigned seed = test::seed();
  constexpr int kRounds = 400;
  test::ChildProcess child(test::kFileStoreHammerMode,
                           {{test::kHammerDirEnv, dir.path()},
                            {test::kHammerRoundsEnv, std::to_string(kRounds)},
                            {test::kHammerSeedEnv, std::to_string(seed + 1)}});
  const test::HammerCounts mine = test::hammer_file_store(dir.path(), kRounds, seed);
  const std::optional<int> child_status = child.wait_for_exit(120s);
  CHECK(child_status == 0);
  CHECK(mine.torn_reads == 0);
  CHECK(mine.unreadable == 0);
  CHECK(mine.failures == 0);
  CHECK(mine.whole_reads > 0);
}

TEST_CASE("the hammer's values tell a torn one from a whole one", "[file_store]") {
  const std::string v = test::self_describing_value(4096, 'q');
  CHECK(test::is_whole_value(v));
  std::string torn = v;
  torn.replace(2048, 2048, test::self_describing_value(4096, 'r').substr(2048));
  CHECK_FALSE(test::is_whole_value(torn));
  CHECK_FALSE(test::is_whole_value(v.substr(0, 100)));
}

TEST_CASE("file store options are checked, naming the field", "[file_store]") {
  test::TempDir dir;
  auto refused = [](const FileStoreOptions& o) {
    auto r = tiercache::make_file_store(o);
    REQUIRE_FALSE(r);
    return r.error();
  };
  auto e = refused({});
  CHECK(e == errc::invalid_argument);
  CHECK(e.detail.find("FileStoreOptions.directory") != std::string::npos);
  e = refused({.directory = dir.path() + std::string("\0/elsewhere", 11)});
  CHECK(e == errc::invalid_argument);
  CHECK(e.detail.find("FileStoreOptions.directory") != std::string::npos);
  e = refused({.directory = dir.path(), .max_value_bytes = 0});
  CHECK(e == errc::invalid_argument);
  CHECK(e.detail.find("FileStoreOptions.max_value_bytes") != std::string::npos);
  e = refused({.directory = dir.path(), .max_value_bytes = std::size_t{2} << 30});
  CHECK(e.detail.find("FileStoreOptions.max_value_bytes") != std::string::npos);
  e = refused({.directory = dir.path(), .max_bytes = 1000, .max_value_bytes = 1001});
  CHECK(e == errc::invalid_argument);
  CHECK(e.detail.find("FileStoreOptions.max_bytes") != std::string::npos);
  // Refused before anything is made.
  const std::string unmade = dir.path() + "/unmade";
  for (const auto wait : {-1ms, 30001ms}) {
    e = refused({.directory = unmade, .lock_wait = wait});
    CHECK(e == errc::invalid_argument);
    CHECK(e.detail.find("FileStoreOptions.lock_wait") != std::string::npos);
  }
  CHECK_FALSE(fs::exists(unmade));
  // A path through a regular file cannot be made a directory.
  write_file(dir.path() + "/file", "x");
  e = refused({.directory = dir.path() + "/file/store"});
  CHECK(e == errc::backend_error);
  CHECK(e.detail.find("FileStoreOptions.directory") != std::string::npos);
  CHECK(e.detail.find("/file/store") != std::string::npos);
  // A missing directory is made, nested, with mode 0700.
  const std::string nested = dir.path() + "/a/b/c";
  REQUIRE(tiercache::make_file_store({.directory = nested}));
  CHECK((fs::status(nested).permissions() & fs::perms::all) == fs::perms::owner_all);
}
