// The engine calls a Backend holding none of its own locks (docs/backends.md), so that a backend
// whose calls take a lock of its own, under which it also delivers changes (which take a shard's
// lock), cannot deadlock with a miss.
#include <atomic>
#include <chrono>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "engine/api/cache_test_access.hpp"
#include "tests/support/test_support.hpp"

using tiercache::Cache;
using tiercache::errc;
using namespace std::chrono_literals;

namespace {

constexpr auto kBound = 5s;

// Answers every read with "v" while up; while asked whether it takes reads with the probe
// armed, delivers a change of another key from another thread, as a backend's I/O thread would,
// and records whether that change got through while the question was being answered.
class ProbingBackend final : public tiercache::Backend {
 public:
  void read(std::vector<std::string> keys, ReadDone done) override {
    std::vector<tiercache::Result<tiercache::BackendValue>> out;
    for (std::size_t i = 0; i < keys.size(); ++i) {
      if (down.load())
        out.push_back(tiercache::fail(errc::backend_unavailable, "down"));
      else
        out.push_back(tiercache::BackendValue{"v", tiercache::TtlLeft::never_expires()});
    }
    done(std::move(out));
  }
  void write(std::span<const tiercache::BackendWrite> writes, WriteDone done) override {
    done(std::vector<tiercache::Result<void>>(writes.size()));
  }
  bool is_available() const noexcept override { return true; }
  bool accepts_reads() const noexcept override {
    if (armed.exchange(false)) {
      // Kept, not destroyed here: a future from std::async waits for its task when destroyed,
      // and the task may be waiting for a lock this call's caller holds.
      delivered = std::async(std::launch::async, [this] {
        const std::string_view keys[] = {"other"};
        events->keys_changed(keys);
      });
      change_got_through.store(delivered.wait_for(kBound) == std::future_status::ready);
      asked.store(true);
    }
    return !down.load();
  }
  tiercache::ChangesHeard changes_heard() const noexcept override {
    return tiercache::ChangesHeard::every_key;
  }
  void set_events(tiercache::BackendEvents* e) override {
    events = e;
    if (events != nullptr) events->coherence_restored();
  }

  tiercache::BackendEvents* events = nullptr;
  std::atomic<bool> down{false};
  mutable std::atomic<bool> armed{false};
  mutable std::atomic<bool> asked{false};
  mutable std::atomic<bool> change_got_through{false};
  mutable std::future<void> delivered;
};

}  // namespace

TEST_CASE("a miss asks the backend whether it takes reads outside the shard's lock",
          "[coherence]") {
  auto backend = std::make_unique<ProbingBackend>();
  ProbingBackend* l2 = backend.get();
  auto opened = tiercache::CacheTestAccess::open_with(
      {.l1 = {.shards = 1}, .stale_if_l2_down = true}, std::move(backend));
  REQUIRE(opened);
  Cache cache = std::move(*opened);
  REQUIRE(cache.get(test::ctx_with_timeout(kBound), "k") == "v");
  // Changes may go unheard and L2 takes no reads: stale_if_l2_down asks the backend, and serves
  // the value L1 trusted until then.
  l2->events->coherence_lost();
  l2->down.store(true);
  l2->armed.store(true);
  CHECK(cache.get(test::ctx_with_timeout(kBound), "k") == "v");
  REQUIRE(l2->asked.load());
  CHECK(l2->change_got_through.load());
  l2->delivered.wait();
}
