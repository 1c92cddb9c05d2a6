// The engine's side of coherence, with every interleaving forced: a scripted Backend holds a
// read's answer while the test fires the events Redis invalidation would (a key changed, all
// changed, the change stream lost and regained). tests/coherence_test.cpp checks the same
// promises end to end against a real redis-server.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <span>
#include <stop_token>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "tests/support/scripted_cache.hpp"

using tiercache::Cache;
using tiercache::errc;
using namespace std::chrono_literals;

namespace {

// Long enough never to be the reason a test passes; every wait on it is a bound, not a delay.
constexpr auto kBound = 5s;

using test::open_scripted;

void changed(test::ScriptedBackend& l2, std::string_view key) {
  const std::string_view keys[] = {key};
  l2.events().keys_changed(keys);
}

// get(key) on a thread of its own, for a read the test holds (within `ctx`, kBound by default).
struct AsyncGet {
  tiercache::Result<std::string> result;
  std::jthread thread;

  AsyncGet(Cache& cache, std::string key, tiercache::Context ctx = test::ctx_with_timeout(kBound))
      : thread([this, &cache, key = std::move(key), ctx = std::move(ctx)] {
          result = cache.get(ctx, key);
        }) {}
  tiercache::Result<std::string> take() {
    thread.join();
    return result;
  }
};

// stale_if_l2_down, with "v" in L1 for "k" from before the change stream was just lost; the
// read side still looks up, so a miss on "k" asks L2.
test::ScriptedCache open_holding_stale(tiercache::Options options = {}) {
  options.stale_if_l2_down = true;
  test::ScriptedCache opened = open_scripted(options);
  opened.l2->put("k", "v");
  REQUIRE(opened.cache.get(test::ctx(), "k") == "v");
  opened.l2->events().coherence_lost();
  return opened;
}

}  // namespace

TEST_CASE("a read answered after its key changed is returned but not cached", "[coherence]") {
  auto [l2, cache] = open_scripted();
  l2->put("k", "old");
  l2->hold_reads(true);
  AsyncGet reader(cache, "k");
  l2->wait_for_read(0, kBound);

  // The change is heard while the old value is on its way; then the value arrives.
  l2->put("k", "new");
  changed(*l2, "k");
  l2->answer_read(0);
  CHECK(reader.take() == "old");  // the caller gets what it asked L2 for
  CHECK(cache.stats().fills_discarded == 1);
  CHECK(cache.stats().entries == 0);

  // So the next read asks L2 again and sees the change.
  l2->hold_reads(false);
  CHECK(cache.get(test::ctx(), "k") == "new");
  CHECK(l2->read_count() == 2);
  CHECK(cache.get(test::ctx(), "k") == "new");
  CHECK(l2->read_count() == 2);  // that one was cached
}

TEST_CASE("every caller coalesced on a read that a change overtook gets its value", "[coherence]") {
  auto [l2, cache] = open_scripted();
  l2->put("k", "old");
  l2->hold_reads(true);
  AsyncGet a(cache, "k"), b(cache, "k"), c(cache, "k");
  l2->wait_for_read(0, kBound);
  test::wait_until(
      kBound, [&] { return cache.stats().coalesced == 2; }, "two callers wait on the read");
  changed(*l2, "k");
  l2->answer_read(0);
  CHECK(a.take() == "old");
  CHECK(b.take() == "old");
  CHECK(c.take() == "old");
  CHECK(l2->read_count() == 1);
  CHECK(cache.stats().fills_discarded == 1);
  CHECK(cache.stats().entries == 0);
}

TEST_CASE("a changed key is dropped from L1; other keys stay", "[coherence]") {
  auto [l2, cache] = open_scripted();
  l2->put("k", "v1");
  l2->put("other", "o");
  REQUIRE(cache.get(test::ctx(), "k") == "v1");
  REQUIRE(cache.get(test::ctx(), "other") == "o");
  REQUIRE(l2->read_count() == 2);

  l2->put("k", "v2");
  changed(*l2, "k");
  changed(*l2, "never-read");  // a key L1 does not hold changes nothing
  const auto s = cache.stats();
  CHECK(s.invalidations == 2);
  CHECK(s.invalidated_keys == 1);
  CHECK(cache.get(test::ctx(), "k") == "v2");
  CHECK(cache.get(test::ctx(), "other") == "o");
  CHECK(l2->read_count() == 3);  // only k was read again
}

TEST_CASE("everything changed: every L1 value and the read in flight are stale", "[coherence]") {
  auto [l2, cache] = open_scripted();
  l2->put("a", "a1");
  l2->put("b", "b1");
  REQUIRE(cache.get(test::ctx(), "a") == "a1");
  l2->hold_reads(true);
  AsyncGet reader(cache, "b");
  l2->wait_for_read(1, kBound);

  l2->put("a", "a2");
  l2->put("b", "b2");
  l2->events().all_changed();  // FLUSHALL, then both keys written again
  l2->answer_read(1);
  CHECK(reader.take() == "b1");

  l2->hold_reads(false);
  CHECK(cache.get(test::ctx(), "a") == "a2");
  CHECK(cache.get(test::ctx(), "b") == "b2");
  CHECK(l2->read_count() == 4);
  CHECK(cache.stats().flushes_heard == 1);
}

TEST_CASE("while the change stream is lost no L1 value is served; once back, only new reads are",
          "[coherence]") {
  auto [l2, cache] = open_scripted();
  l2->put("k", "v");
  REQUIRE(cache.get(test::ctx(), "k") == "v");
  REQUIRE(cache.get(test::ctx(), "k") == "v");
  REQUIRE(l2->read_count() == 1);
  REQUIRE(cache.stats().l2_coherent);
  const auto bumps = cache.stats().epoch_bumps;  // the stream coming up at open counts one

  l2->events().coherence_lost();
  CHECK_FALSE(cache.stats().l2_coherent);
  // L1's copy is not trusted: L2 answers, and its answer is not trusted either.
  CHECK(cache.get(test::ctx(), "k") == "v");
  CHECK(cache.get(test::ctx(), "k") == "v");
  CHECK(l2->read_count() == 3);
  CHECK(cache.stats().stale_refused >= 1);

  // A read sent before the stream came back carries the old epoch: not cached either.
  l2->hold_reads(true);
  AsyncGet reader(cache, "k");
  l2->wait_for_read(3, kBound);
  l2->events().coherence_restored();
  CHECK(cache.stats().l2_coherent);
  l2->answer_read(3);
  CHECK(reader.take() == "v");

  l2->hold_reads(false);
  CHECK(cache.get(test::ctx(), "k") == "v");
  CHECK(l2->read_count() == 5);
  CHECK(cache.get(test::ctx(), "k") == "v");
  CHECK(l2->read_count() == 5);  // trusted again: an L1 hit
  CHECK(cache.stats().epoch_bumps == bumps + 2);
}

TEST_CASE("while L2 is down and unheard, L1 answers only by choice (stale_if_l2_down)",
          "[coherence]") {
  for (const bool stale_if_l2_down : {false, true}) {
    INFO("stale_if_l2_down " << stale_if_l2_down);
    auto [l2, cache] = open_scripted({.stale_if_l2_down = stale_if_l2_down});
    l2->put("k", "v");
    REQUIRE(cache.get(test::ctx(), "k") == "v");
    l2->set_available(false);
    l2->events().coherence_lost();

    auto r = cache.get(test::ctx(), "k");
    if (stale_if_l2_down) {
      CHECK(r == "v");
      CHECK(cache.stats().stale_served == 1);
      CHECK(l2->read_count() == 1);
    } else {
      REQUIRE_FALSE(r);
      CHECK(r.error() == errc::backend_unavailable);
      CHECK(cache.stats().stale_served == 0);
    }
    // A key L1 never held fails either way: there is nothing to serve.
    auto cold = cache.get(test::ctx(), "cold");
    REQUIRE_FALSE(cold);
    CHECK(cold.error() == errc::backend_unavailable);
  }
}

// Redis's connections notice its death one by one: the change stream's loss can be heard while
// the read connection still looks up. A miss in that window asks L2 for a key whose stale value
// the outage is to be answered with, and its loading entry takes that value's place; the read
// then fails. The value must not be lost with it.
TEST_CASE("stale_if_l2_down: a read that fails as L2 goes answers L1's value and keeps it",
          "[coherence]") {
  for (const char* call : {"get", "get_many", "get_or_load, loader failing", "get_or_load, fail"}) {
    INFO(call);
    const std::string_view how = call;
    auto [l2, cache] = open_holding_stale({.when_l2_down = how == "get_or_load, fail"
                                                               ? tiercache::L2DownPolicy::fail
                                                               : tiercache::L2DownPolicy::load});
    int loads = 0;
    const tiercache::Loader loader = [&](const tiercache::Context&, std::string_view) {
      ++loads;
      return tiercache::Result<std::string>(tiercache::fail(errc::backend_error, "origin down"));
    };
    l2->hold_reads(true);
    tiercache::Result<std::string> raced;
    std::jthread reader([&, &cache = cache] {
      const auto ctx = test::ctx_with_timeout(kBound);
      if (how == "get_many") {
        const std::string_view keys[] = {"k"};
        auto r = cache.get_many(ctx, keys);
        raced = r ? (*r)[0] : tiercache::Result<std::string>(std::unexpected(r.error()));
      } else {
        raced = how == "get" ? cache.get(ctx, "k") : cache.get_or_load(ctx, "k", loader);
      }
    });
    l2->wait_for_read(1, kBound);
    // The connection goes while the read is on its way.
    l2->set_available(false);
    l2->answer_read(1, {tiercache::fail(errc::backend_unavailable)});
    reader.join();
    CHECK(raced == "v");
    CHECK(loads == (how == "get_or_load, loader failing" ? 1 : 0));
    // And the value is still there for the next miss.
    l2->hold_reads(false);
    CHECK(cache.get(test::ctx(), "k") == "v");
    CHECK(cache.stats().stale_served == 2);
    CHECK(l2->read_count() == 2);
    CHECK(test::invariants_hold(cache));
  }
}

// The loader is the origin: its answer is fresher than L1's stale value, and it is asked as on
// any L2 failure (when_l2_down = load).
TEST_CASE("stale_if_l2_down: a get_or_load whose read fails as L2 goes still runs its loader",
          "[coherence]") {
  auto [l2, cache] = open_holding_stale();
  int loads = 0;
  const tiercache::Loader loader = [&](const tiercache::Context&, std::string_view) {
    ++loads;
    return tiercache::Result<std::string>("loaded");
  };
  l2->hold_reads(true);
  tiercache::Result<std::string> raced;
  std::jthread reader([&, &cache = cache] {
    raced = cache.get_or_load(test::ctx_with_timeout(kBound), "k", loader);
  });
  l2->wait_for_read(1, kBound);
  l2->set_available(false);
  l2->answer_read(1, {tiercache::fail(errc::backend_unavailable)});
  reader.join();
  CHECK(raced == "loaded");
  CHECK(loads == 1);
  CHECK(cache.get(test::ctx(), "k") == "loaded");
  CHECK(cache.stats().stale_served == 0);
}

// Served stale only while L2 is seen down (docs/configuration.md): a read that timed out on a
// connection still up answers its error, and leaves the value for a later miss.
TEST_CASE("stale_if_l2_down: a read that fails while L2 still looks up answers its error",
          "[coherence]") {
  auto [l2, cache] = open_holding_stale();
  l2->hold_reads(true);
  AsyncGet reader(cache, "k");
  l2->wait_for_read(1, kBound);
  l2->answer_read(1, {tiercache::fail(errc::timeout)});
  auto r = reader.take();
  REQUIRE_FALSE(r);
  CHECK(r.error() == errc::timeout);
  CHECK(cache.stats().stale_served == 0);
  l2->set_available(false);
  CHECK(cache.get(test::ctx(), "k") == "v");
  CHECK(l2->read_count() == 2);
}

TEST_CASE("stale_if_l2_down: a value heard changed during a failed read is not served",
          "[coherence]") {
  auto [l2, cache] = open_holding_stale();
  l2->hold_reads(true);
  AsyncGet reader(cache, "k");
  l2->wait_for_read(1, kBound);
  changed(*l2, "k");
  l2->set_available(false);
  l2->answer_read(1, {tiercache::fail(errc::backend_unavailable)});
  auto r = reader.take();
  REQUIRE_FALSE(r);
  CHECK(r.error() == errc::backend_unavailable);
  l2->hold_reads(false);
  auto again = cache.get(test::ctx(), "k");
  REQUIRE_FALSE(again);
  CHECK(again.error() == errc::backend_unavailable);
  CHECK(cache.stats().stale_served == 0);
}

// Redis answered: its answer stands, however the load then ends, and the value L1 held before
// is not brought back (a key deleted there, the deletion unheard).
TEST_CASE("stale_if_l2_down: a key L2 answered not found is not served stale after",
          "[coherence]") {
  SECTION("the miss fails") {
    auto [l2, cache] = open_holding_stale();
    l2->erase("k");
    auto r = cache.get(test::ctx(), "k");
    REQUIRE_FALSE(r);
    CHECK(r.error() == errc::not_found);
    l2->set_available(false);
    auto again = cache.get(test::ctx(), "k");
    REQUIRE_FALSE(again);
    CHECK(again.error() == errc::backend_unavailable);
    CHECK(cache.stats().stale_served == 0);
  }
  for (const bool with_waiter : {false, true}) {
    DYNAMIC_SECTION((with_waiter ? "the loader's caller leaves, a waiter takes over"
                                 : "the loader's caller leaves")) {
      auto [l2, cache] = open_holding_stale();
      l2->erase("k");
      std::atomic<bool> loading = false;
      const tiercache::Loader loader = [&](const tiercache::Context& c, std::string_view) {
        loading = true;
        test::wait_until(
            kBound, [&] { return c.done(); }, "the loader's caller is cancelled");
        return tiercache::Result<std::string>(tiercache::fail(errc::backend_error, "gave up"));
      };
      std::stop_source stop;
      tiercache::Result<std::string> led;
      std::jthread leader([&, &cache = cache] {
        led = cache.get_or_load(test::ctx().with_stop_token(stop.get_token()), "k", loader);
      });
      test::wait_until(
          kBound, [&] { return loading.load(); }, "L2 answered, the loader runs");
      std::optional<AsyncGet> waiter;
      if (with_waiter) {
        waiter.emplace(cache, "k");
        test::wait_until(
            kBound, [&] { return cache.stats().coalesced == 1; }, "a get waits on the load");
      }
      l2->set_available(false);
      stop.request_stop();
      leader.join();
      REQUIRE_FALSE(led);
      if (with_waiter) {
        auto w = waiter->take();  // it led on, and L2 gave it no answer
        REQUIRE_FALSE(w);
        CHECK(w.error() == errc::backend_unavailable);
      }
      auto again = cache.get(test::ctx(), "k");
      REQUIRE_FALSE(again);
      CHECK(again.error() == errc::backend_unavailable);
      CHECK(cache.stats().stale_served == 0);
      CHECK(test::invariants_hold(cache));
    }
  }
}

// A leader whose caller leaves while its read hangs (a partition) leaves the key as it found
// it: to the caller waiting on it, which leads on, or with nobody waiting to the next miss.
TEST_CASE("stale_if_l2_down: a read its caller left keeps L1's value", "[coherence]") {
  for (const bool with_waiter : {false, true}) {
    INFO((with_waiter ? "a waiter takes the read over" : "nobody waits"));
    auto [l2, cache] = open_holding_stale();
    l2->hold_reads(true);
    std::stop_source stop;
    AsyncGet leader(cache, "k", test::ctx().with_stop_token(stop.get_token()));
    l2->wait_for_read(1, kBound);
    std::optional<AsyncGet> waiter;
    if (with_waiter) {
      waiter.emplace(cache, "k");
      test::wait_until(
          kBound, [&] { return cache.stats().coalesced == 1; }, "the second get waits on the read");
    }
    stop.request_stop();
    auto led = leader.take();
    REQUIRE_FALSE(led);
    CHECK(led.error() == errc::cancelled);
    l2->set_available(false);
    if (with_waiter) {
      // The waiter leads now: its own read, which fails as L2 goes.
      l2->wait_for_read(2, kBound);
      l2->answer_read(2, {tiercache::fail(errc::backend_unavailable)});
      CHECK(waiter->take() == "v");
    }
    l2->hold_reads(false);
    CHECK(cache.get(test::ctx(), "k") == "v");
    CHECK(test::invariants_hold(cache));
    l2->answer_read(1, {tiercache::fail(errc::backend_unavailable)});
  }
}

TEST_CASE("stale_if_l2_down: the last caller to leave a load L2 did not answer puts it back",
          "[coherence]") {
  auto [l2, cache] = open_holding_stale();
  l2->hold_reads(true);
  std::stop_source stop;  // the leader and its waiter leave together
  const tiercache::Context leaving = test::ctx().with_stop_token(stop.get_token());
  AsyncGet leader(cache, "k", leaving);
  l2->wait_for_read(1, kBound);
  AsyncGet waiter(cache, "k", leaving);
  test::wait_until(
      kBound, [&] { return cache.stats().coalesced == 1; }, "the second get waits on the read");
  stop.request_stop();
  CHECK_FALSE(leader.take());
  CHECK_FALSE(waiter.take());
  l2->set_available(false);
  l2->hold_reads(false);
  CHECK(cache.get(test::ctx(), "k") == "v");
  CHECK(test::invariants_hold(cache));
  l2->answer_read(1, {tiercache::fail(errc::backend_unavailable)});
}

TEST_CASE("stale_if_l2_down: a get_or_load_many whose read fails as L2 goes falls back per key",
          "[coherence]") {
  auto [l2, cache] = open_holding_stale();
  int loads = 0;
  const tiercache::BatchLoader batch = [&](const tiercache::Context&,
                                           std::span<const std::string_view> keys)
      -> tiercache::Result<std::vector<tiercache::Result<tiercache::Loaded>>> {
    ++loads;
    std::vector<tiercache::Result<tiercache::Loaded>> out;
    for (std::size_t i = 0; i < keys.size(); ++i)
      out.push_back(tiercache::fail(errc::backend_error, "origin down"));
    return out;
  };
  l2->hold_reads(true);
  tiercache::Result<std::vector<tiercache::Result<std::string>>> raced;
  std::jthread reader([&, &cache = cache] {
    const std::string_view keys[] = {"k", "cold"};
    raced = cache.get_or_load_many(test::ctx_with_timeout(kBound), keys, batch);
  });
  l2->wait_for_read(1, kBound);
  l2->set_available(false);
  l2->answer_read(
      1, {tiercache::fail(errc::backend_unavailable), tiercache::fail(errc::backend_unavailable)});
  reader.join();
  REQUIRE(raced);
  CHECK((*raced)[0] == "v");
  REQUIRE_FALSE((*raced)[1]);  // nothing to fall back on: the loader's error
  CHECK((*raced)[1].error() == errc::backend_error);
  CHECK(loads == 1);
  l2->hold_reads(false);
  CHECK(cache.get(test::ctx(), "k") == "v");
  CHECK(test::invariants_hold(cache));
}

// What happens to the key while the read is on its way ends the copy: a set or purge of this
// cache takes the loading entry's place, a flush or the stream's return leaves nothing of the old
// epoch servable.
TEST_CASE("stale_if_l2_down: a change during the failed read leaves nothing stale to serve",
          "[coherence]") {
  for (const char* event : {"set", "purge", "flush heard", "stream regained, lost again"}) {
    INFO(event);
    const std::string_view what = event;
    auto [l2, cache] = open_holding_stale();
    l2->hold_reads(true);
    AsyncGet reader(cache, "k");
    l2->wait_for_read(1, kBound);
    if (what == "set") REQUIRE(cache.set(test::ctx(), "k", "mine"));
    if (what == "purge") REQUIRE(cache.purge(test::ctx(), "k"));
    if (what == "flush heard") l2->events().all_changed();
    if (what == "stream regained, lost again") {
      l2->events().coherence_restored();
      l2->events().coherence_lost();
    }
    l2->set_available(false);
    l2->answer_read(1, {tiercache::fail(errc::backend_unavailable)});
    auto r = reader.take();
    l2->hold_reads(false);
    CHECK((!r || *r != "v"));
    auto again = cache.get(test::ctx(), "k");
    if (what == "set") {
      CHECK(again == "mine");  // read your writes
    } else {
      CHECK_FALSE(again);
    }
    CHECK(cache.stats().stale_served == 0);
    CHECK(test::invariants_hold(cache));
  }
}

TEST_CASE("a cache's own unacknowledged write is served whatever the epoch", "[coherence]") {
  auto [l2, cache] = open_scripted();
  REQUIRE(cache.set(test::ctx(), "k", "mine"));
  l2->wait_for_batch(0, kBound);  // sent, not answered

  l2->events().coherence_lost();
  CHECK(cache.get(test::ctx(), "k") == "mine");  // read your writes
  CHECK(l2->read_count() == 0);

  // Acknowledged: now L2 is the authority, and while unheard L1 is not trusted.
  l2->put("k", "mine");
  l2->answer(0, {});
  REQUIRE(cache.flush(test::ctx_with_timeout(kBound)));
  CHECK(cache.get(test::ctx(), "k") == "mine");
  CHECK(l2->read_count() == 1);
}

TEST_CASE("a change heard for a key with a write in flight drops L1's copy, not the write",
          "[coherence]") {
  auto [l2, cache] = open_scripted();
  REQUIRE(cache.set(test::ctx(), "k", "mine"));
  l2->wait_for_batch(0, kBound);
  // Another writer's change: whichever landed last in L2 is the value, so L1 must ask L2 once
  // this cache's own write is settled (not before: that would be reading around its own write).
  changed(*l2, "k");
  CHECK(cache.stats().invalidated_keys == 1);
  const auto misses = cache.stats().l1_misses;
  AsyncGet reader(cache, "k");
  test::wait_until(
      kBound, [&] { return cache.stats().l1_misses > misses; }, "the reader misses L1");
  // It waits for its own write to be settled: a read of L2 now would read around it.
  test::wait_until(
      kBound, [&] { return tiercache::CacheTestAccess::flushes_waiting(cache) == 1; },
      "the reader waits for the write");
  CHECK(l2->read_count() == 0);
  l2->put("k", "theirs");
  l2->answer(0, {});
  CHECK(reader.take() == "theirs");
  CHECK(l2->read_count() == 1);
}

TEST_CASE("a caller that comes after a change does not join the load the change overtook",
          "[coherence]") {
  for (const bool flushed : {false, true}) {
    INFO((flushed ? "all keys changed" : "the key changed"));
    auto [l2, cache] = open_scripted();
    l2->put("k", "old");
    l2->hold_reads(true);
    AsyncGet before(cache, "k");
    l2->wait_for_read(0, kBound);
    l2->put("k", "new");
    if (flushed) {
      l2->events().all_changed();
    } else {
      changed(*l2, "k");
    }
    AsyncGet after(cache, "k");
    l2->wait_for_read(1, kBound);  // a read of its own, not the one the change overtook
    l2->answer_read(1);
    CHECK(after.take() == "new");
    l2->answer_read(0);
    CHECK(before.take() == "old");

    l2->hold_reads(false);
    CHECK(cache.get(test::ctx(), "k") == "new");
    CHECK(l2->read_count() == 2);  // the later read's value is the one L1 kept
  }
}

TEST_CASE("a loaded value still on its way to L2 is not this cache's write to read back",
          "[coherence]") {
  auto [l2, cache] = open_scripted();
  const tiercache::Loader loader = [](const tiercache::Context&, std::string_view) {
    return tiercache::Result<std::string>("loaded");
  };
  REQUIRE(cache.get_or_load(test::ctx(), "k", loader) == "loaded");
  l2->wait_for_batch(0, kBound);  // the fill (SET NX), sent and not answered

  // Another writer's value lands while the change stream is down: unheard.
  l2->events().coherence_lost();
  l2->put("k", "theirs");
  AsyncGet reader(cache, "k");
  l2->answer(0, {});
  CHECK(reader.take() == "theirs");
  CHECK(l2->read_count() == 2);
}

TEST_CASE("tracked: what this cache wrote or loaded without L2's answer is not trusted",
          "[coherence]") {
  SECTION("a set, once acknowledged") {
    auto [l2, cache] = open_scripted({}, tiercache::ChangesHeard::keys_read);
    REQUIRE(cache.set(test::ctx(), "k", "mine"));
    l2->wait_for_batch(0, kBound);
    CHECK(cache.get(test::ctx(), "k") == "mine");  // read your writes, no read
    CHECK(l2->read_count() == 0);
    // Redis tracks keys a client reads, not keys it writes: a later change would go unheard.
    l2->put("k", "theirs");
    l2->answer(0, {});
    REQUIRE(cache.flush(test::ctx_with_timeout(kBound)));
    CHECK(cache.get(test::ctx(), "k") == "theirs");
    CHECK(l2->read_count() == 1);
    CHECK(cache.get(test::ctx(), "k") == "theirs");
    CHECK(l2->read_count() == 1);  // read, so tracked: trusted now
  }
  SECTION("a value loaded after L2 failed to answer") {
    auto [l2, cache] = open_scripted({.when_l2_down = tiercache::L2DownPolicy::load},
                                     tiercache::ChangesHeard::keys_read);
    l2->set_available(false);
    const tiercache::Loader loader = [](const tiercache::Context&, std::string_view) {
      return tiercache::Result<std::string>("loaded");
    };
    REQUIRE(cache.get_or_load(test::ctx(), "k", loader) == "loaded");
    l2->set_available(true);
    l2->wait_for_batch(0, kBound);  // the loaded value, written back
    l2->answer(0, {});
    REQUIRE(cache.flush(test::ctx_with_timeout(kBound)));
    l2->put("k", "theirs");
    CHECK(cache.get(test::ctx(), "k") == "theirs");
    CHECK(l2->read_count() == 2);
  }
  SECTION("bcast hears every key: the same set is trusted") {
    auto [l2, cache] = open_scripted({}, tiercache::ChangesHeard::every_key);
    REQUIRE(cache.set(test::ctx(), "k", "mine"));
    l2->wait_for_batch(0, kBound);
    l2->answer(0, {});
    REQUIRE(cache.flush(test::ctx_with_timeout(kBound)));
    CHECK(cache.get(test::ctx(), "k") == "mine");
    CHECK(l2->read_count() == 0);
  }
}

TEST_CASE("stale_if_l2_down never serves a value a heard flush removed", "[coherence]") {
  auto [l2, cache] = open_scripted({.stale_if_l2_down = true});
  l2->put("k", "v");
  REQUIRE(cache.get(test::ctx(), "k") == "v");
  l2->events().all_changed();
  l2->set_available(false);
  l2->events().coherence_lost();
  auto r = cache.get(test::ctx(), "k");
  REQUIRE_FALSE(r);
  CHECK(r.error() == errc::backend_unavailable);
  CHECK(cache.stats().stale_served == 0);
}

TEST_CASE("while L2 cannot be read, the origin's answer is kept until the change stream is back",
          "[coherence]") {
  auto [l2, cache] = open_scripted({.when_l2_down = tiercache::L2DownPolicy::load});
  int loads = 0;
  const tiercache::Loader loader = [&](const tiercache::Context&, std::string_view) {
    ++loads;
    return tiercache::Result<std::string>("origin");
  };
  l2->put("read", "l2");
  l2->events().coherence_lost();
  // Read from a reachable L2 while unheard: answered, not trusted.
  CHECK(cache.get(test::ctx(), "read") == "l2");
  CHECK(cache.get(test::ctx(), "read") == "l2");
  CHECK(l2->read_count() == 2);

  l2->set_available(false);
  CHECK(cache.get_or_load(test::ctx(), "k", loader) == "origin");
  CHECK(cache.get_or_load(test::ctx(), "k", loader) == "origin");
  CHECK(cache.get(test::ctx(), "k") == "origin");
  CHECK(loads == 1);  // an outage does not send every read to the origin

  // The stream is back: the loaded value is from an older epoch, so L2 is asked again.
  l2->set_available(true);
  l2->put("k", "theirs");
  l2->events().coherence_restored();
  l2->wait_for_batch(0, kBound);  // the loaded value's fill (SET NX: "theirs" stays)
  l2->answer(0, {});
  CHECK(cache.get(test::ctx_with_timeout(kBound), "k") == "theirs");
  CHECK(loads == 1);
}

TEST_CASE("a miss that must wait for this cache's set fails at once while L2 takes no reads",
          "[coherence]") {
  auto [l2, cache] = open_scripted({.when_l2_down = tiercache::L2DownPolicy::load});
  int loads = 0;
  const tiercache::Loader loader = [&](const tiercache::Context&, std::string_view) {
    ++loads;
    return tiercache::Result<std::string>("loaded");
  };
  REQUIRE(cache.set(test::ctx(), "k", "mine"));
  l2->wait_for_batch(0, kBound);  // sent and not answered
  changed(*l2, "k");              // L1's copy goes; the set is still this cache's to wait for
  l2->set_available(false);
  auto r = cache.get_or_load(test::ctx_with_timeout(kBound), "k", loader);
  REQUIRE_FALSE(r);
  CHECK(r.error() == errc::backend_unavailable);  // not a timeout at the caller's deadline
  CHECK(loads == 0);                              // the loader's answer could replace the set
  l2->answer(0, {});
}

// The write side of L2 can go down alone (Redis: the write connection is lost to a server that
// stopped answering, while the idle read connection still looks up). The set cannot land then,
// and L2 must not be read before it has: waiting on would only hold the caller to its deadline.
TEST_CASE("a miss that must wait for this cache's set fails at once while L2 takes no writes",
          "[coherence][read_your_writes]") {
  for (const bool during_the_wait : {false, true}) {
    INFO((during_the_wait ? "the writes go down while the miss waits" : "the writes are down"));
    auto [l2, cache] = open_scripted({.when_l2_down = tiercache::L2DownPolicy::load});
    int loads = 0;
    const tiercache::Loader loader = [&](const tiercache::Context&, std::string_view) {
      ++loads;
      return tiercache::Result<std::string>("loaded");
    };
    l2->put("k", "old");
    REQUIRE(cache.set(test::ctx(), "k", "mine"));
    l2->wait_for_batch(0, kBound);  // sent and never answered: the connection is gone
    changed(*l2, "k");              // L1's copy goes; the set is still this cache's to wait for
    const auto timed = [&](auto call) {
      const auto start = std::chrono::steady_clock::now();
      auto r = call();
      // Far below the 10 s deadline: answered because L2 is down, not at the deadline.
      CHECK(std::chrono::steady_clock::now() - start < kBound);
      return r;
    };
    tiercache::Result<std::string> first;
    if (during_the_wait) {
      std::jthread t(
          [&] { first = timed([&] { return cache.get(test::ctx_with_timeout(10s), "k"); }); });
      test::wait_until(
          kBound, [&] { return tiercache::CacheTestAccess::flushes_waiting(cache) == 1; },
          "the get waits for the write");
      l2->set_writes_available(false);
    } else {
      l2->set_writes_available(false);
      first = timed([&] { return cache.get(test::ctx_with_timeout(10s), "k"); });
    }
    REQUIRE_FALSE(first);
    CHECK(first.error() == errc::backend_unavailable);
    auto loaded =
        timed([&] { return cache.get_or_load(test::ctx_with_timeout(10s), "k", loader); });
    REQUIRE_FALSE(loaded);
    CHECK(loaded.error() == errc::backend_unavailable);
    CHECK(loads == 0);             // the loader's answer could replace the set
    CHECK(l2->read_count() == 0);  // L2's "old" was never read around the set
    l2->set_writes_available(true);
    l2->put("k", "mine");
    l2->answer(0, {});
    CHECK(cache.get(test::ctx_with_timeout(kBound), "k") == "mine");
    CHECK(loads == 0);
  }
}

// As above for a loaded value still on its way (a fill): it cannot land either, so the miss goes
// to the loader as on any L2 failure, without reading L2 before the fill (or a write of this
// cache's before it) has landed.
TEST_CASE("a miss behind this cache's fill loads at once while L2 takes no writes",
          "[coherence][read_your_writes]") {
  auto [l2, cache] = open_scripted({.when_l2_down = tiercache::L2DownPolicy::load});
  int loads = 0;
  const tiercache::Loader loader = [&](const tiercache::Context&, std::string_view) {
    ++loads;
    return tiercache::Result<std::string>("loaded");
  };
  REQUIRE(cache.get_or_load(test::ctx(), "k", loader) == "loaded");
  REQUIRE(l2->read_count() == 1);
  l2->wait_for_batch(0, kBound);  // the fill (SET NX), sent and never answered
  changed(*l2, "k");              // L1's copy goes; the fill is still pending
  l2->set_writes_available(false);
  const auto start = std::chrono::steady_clock::now();
  CHECK(cache.get_or_load(test::ctx_with_timeout(10s), "k", loader) == "loaded");
  CHECK(loads == 2);
  CHECK(std::chrono::steady_clock::now() - start < kBound);
  CHECK(l2->read_count() == 1);
  l2->set_writes_available(true);
  l2->answer(0, {});
  // The second load's fill waited behind the first (one batch in flight per key); unanswered,
  // it would hold the cache's destruction for batch_timeout.
  CHECK(l2->wait_for_batch(1, kBound).at(0).key == "k");
  l2->answer(1, {});
}

TEST_CASE("a value this cache loaded, still on its way to L2, does not stop the loader",
          "[coherence]") {
  auto [l2, cache] = open_scripted({.when_l2_down = tiercache::L2DownPolicy::load});
  int loads = 0;
  const tiercache::Loader loader = [&](const tiercache::Context&, std::string_view) {
    ++loads;
    return tiercache::Result<std::string>("loaded");
  };
  REQUIRE(cache.get_or_load(test::ctx(), "k", loader) == "loaded");
  l2->wait_for_batch(0, kBound);  // the fill (SET NX), sent and not answered
  changed(*l2, "k");              // L1's copy goes; the fill is still pending
  l2->set_available(false);
  // L2 cannot answer, and the pending write is only the loader's own earlier answer.
  CHECK(cache.get_or_load(test::ctx_with_timeout(kBound), "k", loader) == "loaded");
  CHECK(loads == 2);
  auto plain = cache.get(test::ctx_with_timeout(kBound), "j");
  REQUIRE_FALSE(plain);
  CHECK(plain.error() == errc::backend_unavailable);
  l2->set_available(true);
  l2->answer(0, {});
  // The second load's fill waited behind the first (one batch in flight per key); unanswered,
  // it would hold the cache's destruction for batch_timeout.
  CHECK(l2->wait_for_batch(1, kBound).at(0).key == "k");
  l2->answer(1, {});
}

// A leader waiting for this cache's write gives up at its deadline; the waiter that takes the
// load over must wait for the write too, not read around it.
TEST_CASE("a caller that takes over a load still waits for this cache's write", "[coherence]") {
  for (const bool evicted : {false, true}) {
    INFO((evicted ? "L1's copy evicted, invalidation off" : "L1's copy dropped by a change"));
    auto [l2, cache] = evicted ? open_scripted({.l1 = {.max_entries = 1, .shards = 1}},
                                               tiercache::ChangesHeard::none)
                               : open_scripted();
    l2->put("k", "old");
    REQUIRE(cache.set(test::ctx(), "k", "mine"));
    l2->wait_for_batch(0, kBound);  // sent, not answered
    if (evicted) {
      REQUIRE(cache.set(test::ctx(), "j", "x"));
    } else {
      changed(*l2, "k");
    }
    tiercache::Result<std::string> leader_r, waiter_r;
    std::jthread leader([&] { leader_r = cache.get(test::ctx_with_timeout(300ms), "k"); });
    test::wait_until(
        kBound, [&] { return cache.stats().l1_misses >= 1; }, "the leader missed");
    std::jthread waiter([&] { waiter_r = cache.get(test::ctx_with_timeout(kBound), "k"); });
    test::wait_until(
        kBound, [&] { return cache.stats().coalesced == 1; }, "the waiter joined");
    leader.join();
    CHECK_FALSE(leader_r);
    // Time for the waiter to take over; a read now would be around the write.
    std::this_thread::sleep_for(100ms);
    CHECK(l2->read_count() == 0);
    l2->put("k", "mine");
    for (std::size_t i = 0; i < l2->batch_count(); ++i) l2->answer(i, {});
    waiter.join();
    CHECK(waiter_r == "mine");
    CHECK(cache.get(test::ctx_with_timeout(kBound), "k") == "mine");
  }
}

TEST_CASE("stale_if_l2_down does not serve a value from before a gap that has ended",
          "[coherence]") {
  auto [l2, cache] = open_scripted({.stale_if_l2_down = true});
  l2->put("k", "v1");
  REQUIRE(cache.get(test::ctx(), "k") == "v1");
  l2->events().coherence_lost();
  l2->put("k", "v2");  // unheard
  l2->events().coherence_restored();
  // bcast: tracking rides the write connection, so the read connection can go down alone.
  l2->set_available(false);
  auto r = cache.get(test::ctx(), "k");
  REQUIRE_FALSE(r);
  CHECK(r.error() == errc::backend_unavailable);
  CHECK(cache.stats().stale_served == 0);
}

TEST_CASE("the loader never answers for a key whose write this cache just waited for",
          "[coherence]") {
  auto [l2, cache] = open_scripted({.when_l2_down = tiercache::L2DownPolicy::load});
  REQUIRE(cache.set(test::ctx(), "k", "mine"));
  l2->wait_for_batch(0, kBound);
  changed(*l2, "k");
  std::atomic<int> loads{0};
  const tiercache::Loader loader = [&](const tiercache::Context&, std::string_view) {
    loads.fetch_add(1);
    return tiercache::Result<std::string>("origin");
  };
  tiercache::Result<std::string> r;
  std::jthread t([&] { r = cache.get_or_load(test::ctx_with_timeout(kBound), "k", loader); });
  test::wait_until(
      kBound, [&] { return tiercache::CacheTestAccess::flushes_waiting(cache) == 1; },
      "the get_or_load waits for the write");
  l2->set_available(false);  // the write lands, then L2 cannot be read
  l2->put("k", "mine");
  l2->answer(0, {});
  t.join();
  // Either L2's answer or its failure; never the loader's value over the write that landed.
  CHECK((r ? *r == "mine" : r.error() == errc::backend_unavailable));
  CHECK(loads.load() == 0);
  l2->set_available(true);
  CHECK(cache.get(test::ctx_with_timeout(kBound), "k") == "mine");
}

namespace {

// A cache whose key "k" was loaded ("v1", its fill answered) and whose early refresh of it is
// running, its loader held until release(): the refresh then loads "v2".
struct RunningRefresh {
  // Every get_or_load hit of a loaded value draws its refresh.
  test::ScriptedCache scripted = open_scripted({.default_ttl = 10min, .refresh_ahead = 20min});
  test::ScriptedBackend& l2 = *scripted.l2;
  Cache& cache = scripted.cache;
  std::mutex mu;
  std::condition_variable cv;
  int loads = 0;
  bool go = false;
  const tiercache::Loader loader = [this](const tiercache::Context&, std::string_view) {
    std::unique_lock lock(mu);
    const int n = ++loads;
    cv.notify_all();
    if (n >= 2) cv.wait_for(lock, kBound, [&] { return go; });
    return tiercache::Result<std::string>("v" + std::to_string(n));
  };
  std::jthread refresher;

  RunningRefresh() {
    REQUIRE(cache.get_or_load(test::ctx(), "k", loader) == "v1");
    REQUIRE(l2.wait_for_batch(0, kBound).size() == 1);  // v1's fill
    l2.answer(0, {});
    refresher = std::jthread([this] { (void)cache.get_or_load(test::ctx(), "k", loader); });
    std::unique_lock lock(mu);
    REQUIRE(cv.wait_for(lock, kBound, [&] { return loads == 2; }));
  }
  // Lets the refresh finish; returns once its write is queued.
  void release() {
    {
      std::lock_guard lock(mu);
      go = true;
    }
    cv.notify_all();
    refresher.join();
  }
};

}  // namespace

TEST_CASE("an early refresh replaces L2's copy only if no change there could have gone unheard",
          "[coherence][refresh]") {
  // While the refresh loads, nothing changes, or this cache loses its change stream (or hears
  // that everything changed) and another instance stores "theirs" in L2 unheard.
  enum class Meanwhile { heard_nothing_else, stream_lost, all_changed };
  for (const Meanwhile meanwhile :
       {Meanwhile::heard_nothing_else, Meanwhile::stream_lost, Meanwhile::all_changed}) {
    INFO("meanwhile: " << static_cast<int>(meanwhile));
    RunningRefresh r;
    if (meanwhile == Meanwhile::stream_lost) r.l2.events().coherence_lost();
    if (meanwhile == Meanwhile::all_changed) r.l2.events().all_changed();
    if (meanwhile != Meanwhile::heard_nothing_else) r.l2.put("k", "theirs");
    r.release();
    const auto written = r.l2.wait_for_batch(1, kBound);
    REQUIRE(written.size() == 1);
    CHECK(written[0].key == "k");
    CHECK(written[0].value == "v2");
    // Where a change could have gone unheard, the refreshed value goes only where L2 holds
    // nothing, so it cannot replace the other instance's.
    CHECK(written[0].kind == (meanwhile == Meanwhile::heard_nothing_else
                                  ? tiercache::BackendWrite::Kind::set
                                  : tiercache::BackendWrite::Kind::fill));
    r.l2.answer(1, {});  // else closing waits out the write's deadline
  }
}

TEST_CASE(
    "an early refresh's write sent after a gap in the change stream, or sent again, is a fill",
    "[coherence][refresh]") {
  SECTION("the stream was lost while the write waited for L2") {
    RunningRefresh r;
    r.l2.set_available(false);  // the write waits
    r.release();
    r.l2.events().coherence_lost();
    r.l2.put("k", "theirs");  // unheard
    r.l2.set_available(true);
    const auto written = r.l2.wait_for_batch(1, kBound);
    REQUIRE(written.size() == 1);
    CHECK(written[0].value == "v2");
    CHECK(written[0].kind == tiercache::BackendWrite::Kind::fill);
    r.l2.answer(1, {});
  }
  SECTION("the write came back in doubt") {
    RunningRefresh r;
    r.release();
    const auto first = r.l2.wait_for_batch(1, kBound);
    REQUIRE(first.size() == 1);
    CHECK(first[0].kind == tiercache::BackendWrite::Kind::set);
    // The connection went before the answer: changes meanwhile may have gone unheard.
    r.l2.answer(1, tiercache::fail(errc::backend_unavailable));
    const auto again = r.l2.wait_for_batch(2, kBound);
    REQUIRE(again.size() == 1);
    CHECK(again[0].value == "v2");
    CHECK(again[0].kind == tiercache::BackendWrite::Kind::fill);
    r.l2.answer(2, {});
  }
}
