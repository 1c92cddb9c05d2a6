// A loaded value goes to L2 as a fill, which lands only where L2 holds nothing (SET NX), so that
// it never replaces another writer's newer value. Against a scripted L2 that answers each batch
// when the test says: a fill queued behind this cache's own purge, which L2 then does not take,
// must not leave L1 ahead of L2 (invariant 9); and a fill still on its way after its value
// expired in L1 says nothing about what L2 holds.
#include <chrono>
#include <string>

#include "tests/support/held_clock.hpp"
#include "tests/support/scripted_cache.hpp"

using tiercache::Cache;
using tiercache::errc;
using tiercache::Result;
using namespace std::chrono_literals;

namespace {

// Long enough never to be the reason a test passes; every wait on it is a bound, not a delay.
constexpr auto kBound = 5s;

using test::open_scripted;

tiercache::Context ctx() {
  return test::ctx_with_timeout(kBound);
}

tiercache::Loader loads(std::string value) {
  return [value](const tiercache::Context&, std::string_view) -> Result<tiercache::Loaded> {
    return tiercache::Loaded(value);
  };
}

}  // namespace

TEST_CASE("a fill behind a purge L2 refused leaves L1, which then answers what L2 holds",
          "[fill]") {
  auto [l2, cache] = open_scripted();
  l2->put("k", "old");
  REQUIRE(cache.purge(ctx(), "k"));
  REQUIRE(l2->wait_for_batch(0, kBound).size() == 1);  // the purge, unanswered
  // The purge is on its way, so L2's "old" is not read: the loader answers, and its fill (NX)
  // is queued behind the purge.
  REQUIRE(cache.get_or_load(ctx(), "k", loads("loaded")) == "loaded");
  l2->answer(0, tiercache::fail(errc::backend_error, "NOPERM"));  // refused: L2 keeps "old"
  l2->wait_for_batch(1, kBound);  // the fill: L2 holds "old", so it does not land
  l2->answer(1, {});
  REQUIRE(cache.flush(ctx()));
  CHECK(cache.get(ctx(), "k") == "old");
}

TEST_CASE("a fill behind a purge that drop_oldest dropped leaves L1 too", "[fill]") {
  auto [l2, cache] = open_scripted(
      {.writer = {.when_full = tiercache::QueueFullPolicy::drop_oldest, .queue_max_ops = 3}});
  REQUIRE(cache.set(ctx(), "k", "set"));
  REQUIRE(l2->wait_for_batch(0, kBound).size() == 1);  // the set, unanswered
  REQUIRE(cache.purge(ctx(), "k"));                    // waits behind it (same key)
  REQUIRE(cache.get_or_load(ctx(), "k", loads("loaded")) == "loaded");  // a fill, behind both
  // The queue is full (set, purge, fill): the oldest write not sent, the purge, is dropped.
  REQUIRE(cache.set(ctx(), "other", "x"));
  REQUIRE(cache.stats().writes_dropped == 1);
  l2->put("k", "set");
  l2->answer(0, {});
  // The fill, which does not land over "set", and "other": one batch or two, as the writer
  // found them ("other" may have gone while the set was in flight).
  std::size_t writes = 0;
  for (std::size_t n = 1; writes < 2; ++n) {
    writes += l2->wait_for_batch(n, kBound).size();
    l2->answer(n, {});
  }
  REQUIRE(cache.flush(ctx()));
  CHECK(cache.get(ctx(), "k") == "set");
}

TEST_CASE("a fill still on its way after its value expired in L1: a read asks L2", "[fill]") {
  test::HeldClock clock;
  auto [l2, cache] = open_scripted();
  REQUIRE(cache.get_or_load(ctx(), "k", loads("loaded"), 100ms) == "loaded");
  REQUIRE(l2->wait_for_batch(0, kBound).size() == 1);  // the fill, unanswered
  l2->put("k", "other writer");                        // so the fill will not land
  clock.advance(200ms);                                // the loaded value expired in L1
  const std::size_t reads = l2->read_count();
  CHECK(cache.get(ctx(), "k") == "other writer");
  CHECK(l2->read_count() == reads + 1);
  l2->answer(0, {});
}

// The fill is refused by the full queue (a full queue only costs L2 that copy), so the purge
// stays the key's latest write; dropping it must still take the loaded value out of L1.
TEST_CASE("a loaded value whose fill the full queue refused, behind a dropped purge, leaves L1",
          "[fill]") {
  auto [l2, cache] = open_scripted(
      {.writer = {.when_full = tiercache::QueueFullPolicy::drop_oldest, .queue_max_ops = 2}});
  REQUIRE(cache.set(ctx(), "k", "set"));
  REQUIRE(l2->wait_for_batch(0, kBound).size() == 1);  // the set, unanswered
  REQUIRE(cache.purge(ctx(), "k"));                    // the queue is full: set, purge
  REQUIRE(cache.get_or_load(ctx(), "k", loads("loaded")) == "loaded");  // its fill refused
  REQUIRE(cache.set(ctx(), "other", "x"));                              // drops the purge
  REQUIRE(cache.stats().writes_dropped == 1);
  l2->put("k", "set");
  l2->answer(0, {});
  l2->wait_for_batch(1, kBound);  // "other"
  l2->answer(1, {});
  REQUIRE(cache.flush(ctx()));
  CHECK(cache.get(ctx(), "k") == "set");
}

TEST_CASE("a loader's 'no such key' behind a purge L2 refused is not kept", "[fill]") {
  auto [l2, cache] = open_scripted({.negative_ttl = 10s});
  l2->put("k", "old");
  REQUIRE(cache.purge(ctx(), "k"));
  REQUIRE(l2->wait_for_batch(0, kBound).size() == 1);  // the purge, unanswered
  auto absent = cache.get_or_load(ctx(), "k", [](const tiercache::Context&, std::string_view) {
    return Result<tiercache::Loaded>(tiercache::Loaded::absent());
  });
  REQUIRE_FALSE(absent);
  REQUIRE(absent.error() == errc::not_found);
  l2->answer(0, tiercache::fail(errc::backend_error, "NOPERM"));  // refused: L2 keeps "old"
  REQUIRE(cache.flush(ctx()));
  CHECK(cache.get(ctx(), "k") == "old");
}
