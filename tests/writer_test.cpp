// The writer against a scripted Backend that loses batches at exact points: ordering per key
// across lost answers (W1), flush barriers (W2), bounded waits (W5), settled-before-answered
// (W4), byte-bounded batches. tests/write_order_test.cpp checks the same promises against a real
// redis-server whose connections are killed.
#include <atomic>
#include <chrono>
#include <future>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/l1/coarse_clock.hpp"
#include "engine/l2/writer.hpp"
#include "tests/support/scripted_backend.hpp"
#include "tests/support/scripted_cache.hpp"
#include "tests/support/test_support.hpp"

using tiercache::errc;
using tiercache::WriteMode;
using tiercache::WriterOptions;
using tiercache::engine::kNeverExpires;
using tiercache::engine::WriteOp;
using tiercache::engine::Writer;
using namespace std::chrono_literals;

namespace {

// Long enough never to be the reason a test passes; every wait on it is a bound, not a delay.
constexpr auto kBound = 5s;

// What the writer reported settled, in order.
struct SettledLog {
  std::mutex mu;
  std::vector<std::pair<std::string, bool>> entries;  // key=value or "key purged", applied

  Writer::Settled callback() {
    return [this](std::span<const Writer::SettledWrite> settled) {
      std::lock_guard lock(mu);
      for (const Writer::SettledWrite& s : settled)
        entries.emplace_back(s.op->kind == WriteOp::Kind::purge
                                 ? std::string(s.op->key()) + " purged"
                                 : std::string(s.op->key()) + "=" + std::string(s.op->value()),
                             s.applied);
    };
  }
  std::vector<std::pair<std::string, bool>> snapshot() {
    std::lock_guard lock(mu);
    return entries;
  }
};

// Ops as Cache::Impl makes them: seq increasing in the order L1 took them.
class Ops {
 public:
  WriteOp set(std::string key, std::string value) {
    WriteOp op;
    op.kind = WriteOp::Kind::set;
    op.assign(key, value);
    op.expires_at_ms = kNeverExpires;
    op.seq = ++seq_;
    return op;
  }
  WriteOp purge(std::string key) {
    WriteOp op;
    op.kind = WriteOp::Kind::purge;
    op.assign(key, {});
    op.seq = ++seq_;
    return op;
  }
  // A loaded value written only where L2 holds nothing (SET NX).
  WriteOp fill(std::string key, std::string value) {
    WriteOp op = set(std::move(key), std::move(value));
    op.kind = WriteOp::Kind::fill;
    return op;
  }

 private:
  std::uint64_t seq_ = 0;
};

void enqueue(Writer& w, WriteOp op) {
  REQUIRE(w.try_enqueue(op));
}

std::string written(const test::ScriptedBackend::Write& w) {
  return w.kind == tiercache::BackendWrite::Kind::purge ? w.key + " purged" : w.key + "=" + w.value;
}

std::vector<std::string> written(const std::vector<test::ScriptedBackend::Write>& ws) {
  std::vector<std::string> out;
  for (const auto& w : ws) out.push_back(written(w));
  return out;
}

tiercache::Result<void> in_doubt() {
  return tiercache::fail(errc::backend_unavailable, "scripted: connection lost");
}

}  // namespace

TEST_CASE("a write in doubt goes out again before any newer write to its key, however L2 fails",
          "[writer]") {
  test::ScriptedBackend backend;
  SettledLog log;
  Ops ops;
  Writer writer(backend, WriterOptions{}, log.callback());
  enqueue(writer, ops.set("k", "v1"));
  REQUIRE(written(backend.wait_for_batch(0, kBound)) == std::vector<std::string>{"k=v1"});
  // k is in flight: its next write waits; another key's goes in the next batch.
  enqueue(writer, ops.set("k", "v2"));
  enqueue(writer, ops.set("j", "x"));
  REQUIRE(written(backend.wait_for_batch(1, kBound)) == std::vector<std::string>{"j=x"});
  backend.answer(1, {});
  // The connection goes down with k=v1 unanswered, and a newer write arrives meanwhile: the old
  // code put the newer one ahead of the lost one, and sent v1 last.
  backend.set_available(false);
  enqueue(writer, ops.set("k", "v3"));
  backend.answer(0, in_doubt());
  backend.set_available(true);
  // v1, v2 and v3 go out as one write of the newest: v1 can never land after v3.
  REQUIRE(written(backend.wait_for_batch(2, kBound)) == std::vector<std::string>{"k=v3"});
  backend.answer(2, {});
  REQUIRE(writer.flush(test::ctx_with_timeout(kBound)));
  const std::vector<std::string> sent = backend.sent();
  CHECK(sent == std::vector<std::string>{"k=v1", "j=x", "k=v3"});
  CHECK(writer.stats().retried == 1);
  CHECK(writer.stats().queue_depth == 0);
}

TEST_CASE("a flush waits for every write before it, through a retry", "[writer]") {
  test::ScriptedBackend backend;
  SettledLog log;
  Ops ops;
  Writer writer(backend, WriterOptions{}, log.callback());
  enqueue(writer, ops.set("k", "v1"));
  backend.wait_for_batch(0, kBound);
  auto flushed =
      std::async(std::launch::async, [&] { return writer.flush(test::ctx_with_timeout(kBound)); });
  backend.answer(0, in_doubt());
  backend.wait_for_batch(1, kBound);
  // The write is in doubt and sent again: the flush must still be waiting for it.
  CHECK(flushed.wait_for(50ms) == std::future_status::timeout);
  backend.answer(1, {});
  REQUIRE(flushed.wait_for(kBound) == std::future_status::ready);
  CHECK(flushed.get().has_value());
  const auto settled = log.snapshot();
  REQUIRE(settled.size() == 1);
  CHECK(settled[0] == std::pair<std::string, bool>{"k=v1", true});
}

TEST_CASE("a backend that never answers holds a batch only for batch_timeout, then it is retried",
          "[writer]") {
  test::ScriptedBackend backend;
  SettledLog log;
  Ops ops;
  auto writer = std::make_unique<Writer>(
      backend, WriterOptions{.mode = WriteMode::sync, .batch_timeout = 100ms}, log.callback());
  WriteOp op = ops.set("k", "v");
  auto done = writer->prepare(op);
  enqueue(*writer, std::move(op));
  backend.wait_for_batch(0, kBound);
  const auto first_sent = std::chrono::steady_clock::now();
  // Batch 0 is never answered; after batch_timeout the write is in doubt and goes again.
  REQUIRE(written(backend.wait_for_batch(1, kBound)) == std::vector<std::string>{"k=v"});
  // Resent within a wide margin of batch_timeout (100 ms), not merely before kBound: a writer that
  // held the batch far longer than batch_timeout fails here (a bound on a wait, not a speed
  // figure).
  CHECK(std::chrono::steady_clock::now() - first_sent < kBound / 2);
  backend.answer(1, {});
  CHECK(writer->await(test::ctx_with_timeout(kBound), done, "sync set").has_value());
  // The destructor does not wait forever on a batch nobody answers either.
  enqueue(*writer, ops.set("k", "v2"));
  backend.wait_for_batch(2, kBound);
  auto destroyed = std::async(std::launch::async, [&] { writer.reset(); });
  REQUIRE(destroyed.wait_for(kBound / 2) == std::future_status::ready);
  const auto settled = log.snapshot();
  REQUIRE(settled.size() == 2);
  CHECK(settled[1] == std::pair<std::string, bool>{"k=v2", false});
}

TEST_CASE("a write L2 refuses is settled as not applied before its sync caller hears of it",
          "[writer]") {
  test::ScriptedBackend backend;
  SettledLog log;
  Ops ops;
  Writer writer(backend, WriterOptions{.mode = WriteMode::sync}, log.callback());
  WriteOp op = ops.set("k", "v");
  auto done = writer.prepare(op);
  enqueue(writer, std::move(op));
  backend.wait_for_batch(0, kBound);
  backend.answer(0, tiercache::fail(errc::backend_error, "OOM command not allowed"));
  auto outcome = writer.await(test::ctx_with_timeout(kBound), done, "sync set");
  REQUIRE_FALSE(outcome);
  INFO(outcome.error().detail);
  CHECK(outcome.error() == errc::backend_error);
  // W4: by the time the caller knows, the cache knows.
  const auto settled = log.snapshot();
  REQUIRE(settled.size() == 1);
  CHECK(settled[0] == std::pair<std::string, bool>{"k=v", false});
  CHECK(writer.stats().failed.total() == 1);
}

TEST_CASE("drop_oldest drops the oldest write not in flight and settles it as not applied",
          "[writer]") {
  test::ScriptedBackend backend;
  SettledLog log;
  Ops ops;
  Writer writer(backend, WriterOptions{.mode = WriteMode::sync}, log.callback());
  backend.set_available(false);
  WriteOp first = ops.set("a", "1");
  auto first_done = writer.prepare(first);
  enqueue(writer, std::move(first));
  enqueue(writer, ops.set("b", "2"));
  REQUIRE(writer.drop_oldest(1));
  auto outcome = writer.await(test::ctx_with_timeout(kBound), first_done, "sync set");
  REQUIRE_FALSE(outcome);
  CHECK(outcome.error() == errc::overloaded);
  CHECK(log.snapshot().front() == std::pair<std::string, bool>{"a=1", false});
  CHECK(writer.stats().dropped == 1);
  backend.set_available(true);
  REQUIRE(written(backend.wait_for_batch(0, kBound)) == std::vector<std::string>{"b=2"});
  backend.answer(0, {});
}

TEST_CASE("batches stay within batch_max_bytes; a larger write goes alone", "[writer]") {
  test::ScriptedBackend backend;
  SettledLog log;
  Ops ops;
  backend.set_available(false);
  Writer writer(backend, WriterOptions{.batch_max_bytes = 100}, log.callback());
  enqueue(writer, ops.set("a", std::string(40, 'a')));
  enqueue(writer, ops.set("b", std::string(40, 'b')));
  enqueue(writer, ops.set("c", std::string(40, 'c')));
  enqueue(writer, ops.set("d", std::string(300, 'd')));
  enqueue(writer, ops.set("e", std::string(10, 'e')));
  backend.set_available(true);
  CHECK(backend.wait_for_batch(0, kBound).size() == 2);  // a, b: c would pass 100 bytes
  backend.answer(0, {});
  CHECK(backend.wait_for_batch(1, kBound).size() == 1);  // c: d would pass the bound
  backend.answer(1, {});
  const auto big = backend.wait_for_batch(2, kBound);
  REQUIRE(big.size() == 1);  // d alone, over the bound
  CHECK(big[0].key == "d");
  backend.answer(2, {});
  CHECK(backend.wait_for_batch(3, kBound).size() == 1);
  backend.answer(3, {});
  CHECK(writer.flush(test::ctx_with_timeout(kBound)).has_value());
}

TEST_CASE("a flush waits for a dropped write to be settled, however slow its settle", "[writer]") {
  test::ScriptedBackend backend;
  backend.set_available(false);  // nothing leaves staging
  std::atomic<bool> settling{false};
  std::atomic<bool> settled{false};
  Ops ops;
  Writer writer(backend, WriterOptions{}, [&](std::span<const Writer::SettledWrite> done) {
    for (const Writer::SettledWrite& s : done) {
      if (s.applied || s.op->key() != "a") continue;
      settling = true;
      // A slow settle (shard lock contention, a reclamation scan) widens the window.
      std::this_thread::sleep_for(200ms);
      settled = true;
    }
  });
  enqueue(writer, ops.set("a", "v"));
  auto dropper = std::async(std::launch::async, [&] { return writer.drop_oldest(1); });
  test::wait_until(
      kBound, [&] { return settling.load(); }, "the drop is being settled");
  // `a` was taken before this flush's barrier: the flush must see it settled.
  REQUIRE(writer.flush(test::ctx_with_timeout(kBound)));
  CHECK(settled.load());
  CHECK(dropper.get());
}

TEST_CASE("flushes that gave up do not keep queue room while L2 is down", "[writer]") {
  test::ScriptedBackend backend;
  backend.set_available(false);
  Ops ops;
  Writer writer(backend, WriterOptions{.queue_max_ops = 4},
                [](std::span<const Writer::SettledWrite>) {});
  enqueue(writer, ops.set("a", "v"));
  for (int i = 0; i < 3; ++i)
    CHECK(writer.flush(test::ctx_with_timeout(5ms)).error() == errc::timeout);
  test::wait_until(
      kBound, [&] { return writer.stats().queue_depth == 1; }, "only the write holds room");
  WriteOp b = ops.set("b", "v");
  CHECK(writer.try_enqueue(b));
  backend.set_available(true);
  backend.wait_for_batch(0, kBound);
  backend.answer(0, {});  // else closing waits out writer.batch_timeout
}

TEST_CASE("a flush that may give up ends with backend_unavailable once it says so", "[writer]") {
  test::ScriptedBackend backend;
  Ops ops;
  Writer writer(backend, WriterOptions{}, [](std::span<const Writer::SettledWrite>) {});
  std::atomic<bool> down{false};
  const Writer::GiveUpWhen give_up = [&]() -> const char* {
    return down.load() ? "L2 is down" : nullptr;
  };
  enqueue(writer, ops.set("a", "v"));
  backend.wait_for_batch(0, kBound);  // in flight, never answered
  tiercache::Result<void> r;
  const auto start = std::chrono::steady_clock::now();
  {
    std::jthread waiter([&] { r = writer.flush(test::ctx_with_timeout(10s), give_up); });
    test::wait_until(
        kBound, [&] { return writer.barriers_waiting() == 1; }, "the flush waits");
    down = true;
  }
  CHECK(std::chrono::steady_clock::now() - start < kBound);  // not at its 10 s deadline
  REQUIRE_FALSE(r);
  CHECK(r.error() == errc::backend_unavailable);
  CHECK(r.error().detail.find("L2 is down") != std::string::npos);
  // Without a reason to give up it waits for the write, and its deadline still bounds it.
  down = false;
  auto timed_out = writer.flush(test::ctx_with_timeout(20ms), give_up);
  REQUIRE_FALSE(timed_out);
  CHECK(timed_out.error() == errc::timeout);
  backend.answer(0, {});  // else closing waits out writer.batch_timeout
  CHECK(writer.flush(test::ctx_with_timeout(kBound), give_up));
}

TEST_CASE("drop_oldest drops nothing when dropping cannot make room", "[writer]") {
  // A 22-byte write meets a queue of 100 bytes holding an 82-byte write in flight and a 7-byte
  // one behind it: dropping the 7 bytes leaves 104. Each round dropped another caller's write
  // (an acknowledged async set, taken out of L1 too) and then refused this one anyway.
  test::ScriptedBackend backend;
  SettledLog log;
  Ops ops;
  Writer writer(backend, WriterOptions{.queue_max_bytes = 100}, log.callback());
  enqueue(writer, ops.set("k1", std::string(80, 'x')));
  backend.wait_for_batch(0, kBound);
  enqueue(writer, ops.set("k1", "small"));
  CHECK_FALSE(writer.drop_oldest(22));
  CHECK(log.snapshot().empty());
  CHECK(writer.stats().dropped == 0);
  // A write that dropping makes room for does drop it.
  CHECK(writer.drop_oldest(18));
  CHECK(writer.stats().dropped == 1);
  backend.answer(0, {});
}

TEST_CASE("drop_oldest never drops a write that was sent and may have landed", "[writer]") {
  test::ScriptedBackend backend;
  SettledLog log;
  Ops ops;
  Writer writer(backend, WriterOptions{}, log.callback());
  enqueue(writer, ops.set("sent", "1"));
  backend.wait_for_batch(0, kBound);
  backend.set_available(false);
  backend.answer(0, in_doubt());  // "sent" is back in staging, in doubt
  enqueue(writer, ops.set("never-sent", "2"));
  test::wait_until(
      kBound, [&] { return writer.stats().retried == 1; }, "the write is in doubt");
  REQUIRE(writer.drop_oldest(1));
  REQUIRE(log.snapshot().size() == 1);
  CHECK(log.snapshot()[0] == std::pair<std::string, bool>{"never-sent=2", false});
  // Nothing else may be dropped: the only write left may be in L2 already.
  CHECK_FALSE(writer.drop_oldest(1));
  backend.set_available(true);
  REQUIRE(written(backend.wait_for_batch(1, kBound)) == std::vector<std::string>{"sent=1"});
  backend.answer(1, {});
}

// A fill's SET NX keeps whatever L2 holds: sent alone for a purge or set it was coalesced with,
// it would leave the value they were to remove or replace (an acknowledged purge lost).
TEST_CASE("a fill coalesced with an older purge or set of its key goes out as a plain set",
          "[writer]") {
  test::ScriptedBackend backend;
  backend.set_available(false);
  Ops ops;
  Writer writer(backend, WriterOptions{}, [](std::span<const Writer::SettledWrite>) {});
  enqueue(writer, ops.purge("purged"));
  enqueue(writer, ops.fill("purged", "loaded"));
  enqueue(writer, ops.set("set", "old"));
  enqueue(writer, ops.fill("set", "loaded"));
  enqueue(writer, ops.fill("alone", "loaded"));
  backend.set_available(true);
  const auto batch = backend.wait_for_batch(0, kBound);
  REQUIRE(batch.size() == 3);
  for (const auto& w : batch) {
    INFO(w.key);
    CHECK(w.value == "loaded");
    CHECK(w.kind == (w.key == "alone" ? tiercache::BackendWrite::Kind::fill
                                      : tiercache::BackendWrite::Kind::set));
  }
  backend.answer(0, {});
}

TEST_CASE("a batch_timeout past a day is refused at open; at a day a slow write lands",
          "[writer]") {
  // milliseconds::max() overflowed the batch's deadline (now() + batch_timeout) into the past:
  // every batch was past it when sent, resent while in flight and given up after 10 tries, so a
  // sync set failed with backend_error. Refused rather than clamped: a clamp would silently run
  // another configuration than the one asked for, and no other bound in Options clamps.
  tiercache::Options options{.writer = {.mode = tiercache::WriteMode::sync,
                                        .batch_timeout = std::chrono::milliseconds::max()}};
  auto refused =
      tiercache::CacheTestAccess::open_with(options, std::make_unique<test::ScriptedBackend>());
  REQUIRE_FALSE(refused.has_value());
  CHECK(refused.error() == errc::invalid_argument);
  CHECK_THAT(refused.error().detail,
             Catch::Contains("Options.writer.batch_timeout is 9223372036854775807ms; must be in "
                             "[1, 86400000]"));

  // At the bound a write L2 answers after 100 ms is sent once and lands.
  options.writer.batch_timeout = tiercache::kMaxOptionDuration;
  auto [l2, cache] = test::open_scripted(options);
  std::jthread answerer([l2 = l2] {
    try {
      l2->wait_for_batch(0, kBound);
    } catch (const std::exception&) {
      return;  // never sent: the set below fails the test
    }
    std::this_thread::sleep_for(100ms);
    l2->answer(0, {});
  });
  auto r = cache.set(test::ctx_with_timeout(kBound), "k", "v");
  CHECK(r.has_value());
  CHECK(l2->batch_count() == 1);
}

// Redis LOADING, BUSY, READONLY...: the write was not run, and nothing is wrong with it. It goes
// again for as long as L2 refuses, never given up, and paced (the writer backs off from 10 ms to
// 1 s between tries) rather than sent again in a busy loop.
TEST_CASE("a write L2 refuses for now is sent again, paced, until L2 takes it", "[writer]") {
  test::ScriptedBackend backend;
  SettledLog log;
  Ops ops;
  Writer writer(backend, WriterOptions{.mode = WriteMode::sync}, log.callback());
  WriteOp op = ops.set("k", "v");
  auto done = writer.prepare(op);
  enqueue(writer, std::move(op));
  const auto start = std::chrono::steady_clock::now();
  std::size_t batch = 0;
  while (std::chrono::steady_clock::now() - start < 300ms) {
    REQUIRE(written(backend.wait_for_batch(batch, kBound)) == std::vector<std::string>{"k=v"});
    backend.answer(batch, tiercache::fail(errc::overloaded, "LOADING Redis is loading"));
    ++batch;
  }
  CHECK(batch >= 3);
  CHECK(batch < 50);
  REQUIRE(written(backend.wait_for_batch(batch, kBound)) == std::vector<std::string>{"k=v"});
  backend.answer(batch, {});
  CHECK(writer.await(test::ctx_with_timeout(kBound), done, "sync set").has_value());
  const auto settled = log.snapshot();
  REQUIRE(settled.size() == 1);
  CHECK(settled[0] == std::pair<std::string, bool>{"k=v", true});
}

// A refusal is an answer: the connection held. It ends a run of lost connections, so a write set
// alone by two losses and then refused goes with the others again, instead of holding every other
// write back for as long as L2 refuses it.
TEST_CASE("a write set alone by lost connections rejoins the batches once L2 answers it",
          "[writer]") {
  test::ScriptedBackend backend;
  SettledLog log;
  Ops ops;
  Writer writer(backend, WriterOptions{}, log.callback());
  enqueue(writer, ops.set("k", "v"));
  REQUIRE(written(backend.wait_for_batch(0, kBound)) == std::vector<std::string>{"k=v"});
  backend.answer(0, in_doubt());
  REQUIRE(written(backend.wait_for_batch(1, kBound)) == std::vector<std::string>{"k=v"});
  backend.answer(1, in_doubt());
  // Lost twice in a row: alone, though j waits beside it.
  enqueue(writer, ops.set("j", "w"));
  REQUIRE(written(backend.wait_for_batch(2, kBound)) == std::vector<std::string>{"k=v"});
  backend.answer(2, tiercache::fail(errc::overloaded, "BUSY Redis is busy running a script"));
  CHECK(written(backend.wait_for_batch(3, kBound)) == std::vector<std::string>{"k=v", "j=w"});
  backend.answer(3, {});
  test::wait_until(
      kBound, [&] { return log.snapshot().size() == 2; }, "both writes settled");
}

// While the writer paces its sends (nothing landed, L2 refusing), a write queued then still gets
// its one attempt when the writer is destroyed, rather than being answered closed untried.
TEST_CASE("a writer destroyed while it paces its sends still gives each write its attempt",
          "[writer]") {
  test::ScriptedBackend backend;
  SettledLog log;
  Ops ops;
  auto writer = std::make_unique<Writer>(backend, WriterOptions{}, log.callback());
  enqueue(*writer, ops.set("k", "v"));
  // Refused again and again: the pause grows 10, 20, ... 640 ms.
  std::size_t batch = 0;
  for (; batch < 8; ++batch) {
    REQUIRE(written(backend.wait_for_batch(batch, kBound)) == std::vector<std::string>{"k=v"});
    backend.answer(batch, tiercache::fail(errc::overloaded, "LOADING Redis is loading"));
  }
  // The last refusal settled (k staged again, the pause running) before the writer is told to
  // stop: settled after, it would be answered closed, its attempts spent.
  test::wait_until(
      kBound, [&] { return writer->stats().retried == batch; }, "the last refusal is settled");
  enqueue(*writer, ops.set("j", "w"));
  auto destroyed = std::async(std::launch::async, [&] { writer.reset(); });
  CHECK(written(backend.wait_for_batch(batch, kBound)) == std::vector<std::string>{"k=v", "j=w"});
  backend.answer(batch, {});
  REQUIRE(destroyed.wait_for(kBound) == std::future_status::ready);
  const auto settled = log.snapshot();
  REQUIRE(settled.size() == 2);
  CHECK(settled[0] == std::pair<std::string, bool>{"k=v", true});
  CHECK(settled[1] == std::pair<std::string, bool>{"j=w", true});
}
