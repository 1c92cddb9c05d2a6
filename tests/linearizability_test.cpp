// Randomized set / purge / get / get_or_load from several threads, checked against the register
// model per key. Each operation records when it was invoked and when it returned on one global
// logical clock. With no eviction possible, a get may return value v only if v's set could be
// the last write linearized before the get, and a miss only if a purge (or the empty start)
// could be.
#include <atomic>
#include <map>
#include <random>
#include <thread>
#include <vector>

#include "tests/support/test_support.hpp"

using tiercache::Cache;
using tiercache::Context;
using tiercache::Result;

namespace {

enum class Op { set, purge, get };

struct Event {
  Op op;
  int key;
  std::string value;  // set: written; get: read ("" for a miss)
  std::uint64_t invoked, returned;
};

// An operation X "surely precedes" Y if X returned before Y was invoked.
bool before(const Event& x, const Event& y) {
  return x.returned < y.invoked;
}

// The writes that could be the last one linearized before `read`: those invoked before it
// returned and not followed by another write that surely sits between them and the read.
bool explains(const Event& w, const Event& read, const std::vector<const Event*>& writes) {
  if (w.invoked > read.returned) return false;
  for (const Event* x : writes)
    if (x != &w && before(w, *x) && before(*x, read)) return false;
  return true;
}

}  // namespace

TEST_CASE("concurrent single-key operations are linearizable against a register model",
          "[concurrency]") {
  constexpr int kThreads = 4;
  constexpr int kKeys = 8;
  constexpr int kOpsPerThread = 3000;
  Cache cache = test::open_cache({.l1 = {.max_bytes = 16 << 20}});
  const unsigned seed = test::seed();
  std::atomic<std::uint64_t> clock{0};
  std::vector<std::vector<Event>> logs(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      std::mt19937 rng(seed + t);
      for (int i = 0; i < kOpsPerThread; ++i) {
        Event e{};
        e.key = static_cast<int>(rng() % kKeys);
        const std::string key = "k" + std::to_string(e.key);
        const unsigned dice = rng() % 10;
        e.invoked = clock.fetch_add(1);
        if (dice < 3) {
          e.op = Op::set;
          e.value = std::to_string(t) + ":" + std::to_string(i);
          if (!cache.set(test::ctx(), key, e.value)) e.value = "set failed";
        } else if (dice < 4) {
          e.op = Op::purge;
          (void)cache.purge(test::ctx(), key);
        } else if (dice < 7) {
          e.op = Op::get;
          auto r = cache.get(test::ctx(), key);
          e.value = r ? *r : "";
        } else {
          // A load writes too: model it as a get followed by a set of a unique value, which
          // is what it is when it misses.
          e.op = Op::get;
          const std::string fresh = "load" + std::to_string(t) + ":" + std::to_string(i);
          auto r = cache.get_or_load(test::ctx(), key, [&](const Context&, std::string_view) {
            return Result<std::string>(fresh);
          });
          e.value = r ? *r : "load failed";
          if (r && *r == fresh) e.op = Op::set;
        }
        e.returned = clock.fetch_add(1);
        logs[t].push_back(std::move(e));
      }
    });
  for (auto& th : threads) th.join();

  std::map<int, std::vector<const Event*>> writes;
  std::vector<const Event*> reads;
  for (const auto& log : logs)
    for (const Event& e : log) (e.op == Op::get ? reads : writes[e.key]).push_back(&e);

  int violations = 0;
  for (const Event* r : reads) {
    const auto& ws = writes[r->key];
    bool ok = false;
    if (r->value.empty()) {
      // A miss: some purge explains it, or no set surely precedes the read.
      ok = std::none_of(ws.begin(), ws.end(),
                        [&](const Event* w) { return w->op == Op::set && before(*w, *r); });
      for (const Event* w : ws) ok = ok || (w->op == Op::purge && explains(*w, *r, ws));
    } else {
      for (const Event* w : ws)
        ok = ok || (w->op == Op::set && w->value == r->value && explains(*w, *r, ws));
    }
    if (!ok && ++violations <= 5)
      UNSCOPED_INFO("key " << r->key << " read '" << r->value << "' during [" << r->invoked << ", "
                           << r->returned << "]");
  }
  CHECK(violations == 0);
  CHECK(test::invariants_hold(cache));
}
