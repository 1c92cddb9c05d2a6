// A property of the write path, over many random interleavings: threads run random set / purge
// / flush sequences while the connections to a real redis-server are cut and its writes paused
// at random; after a final flush, Redis and L1 agree on every key, each key holds its last
// acknowledged write, and nothing a sync set acknowledged is lost.
//
// Each thread owns its keys, so the expected final state of a key is a plain sequence model:
// the last set or purge acknowledged (ok), skipping refused ones (overloaded: nothing changed).
// A write whose caller stopped waiting (timeout) is still queued and normally lands, but under
// this much chaos it may be given up after the connection was lost under it again and again
// (as a write that returned backend_error was): until the key's next acknowledged write, any of
// those states is right. Whatever the state, Redis and L1 must agree on it. One key shared by every
// thread is checked for agreement only, as concurrent writers have no single "last" write.
// The cache runs with invalidation off: with it on, every cut also cuts the change stream, L1's
// values are then not trusted, and a read would bring Redis's value back, so L1 and Redis would
// always agree. A key whose one allowed state is a value must be answered by L1 itself.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <mutex>
#include <optional>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/redis_cache.hpp"

using tiercache::Cache;
using tiercache::errc;
using tiercache::WriteMode;
using namespace std::chrono_literals;

namespace {

constexpr int kThreads = 4;
constexpr int kKeysPerThread = 2;
// Rounds of chaos, each ended by a cut, then a flush and a check of every key.
constexpr int kRounds = 80;
constexpr unsigned kMaxRoundMs = 40;
const std::string kSharedKey = "shared";

// A state of a key: a value, or nullopt for absent.
using Expected = std::optional<std::string>;
// The states the model allows for a key: one, or more after writes given up.
using Allowed = std::vector<Expected>;

std::string owned_key(int thread, int k) {
  return "t" + std::to_string(thread) + "-k" + std::to_string(k);
}

// Redis's view, spelled as the model spells it.
Expected in_redis(const test::RedisServer& redis, const std::string& key) {
  const std::string v = redis.command({"GET", key});
  if (v == "(nil)") return std::nullopt;
  return v;
}

std::string show(const Expected& e) {
  return e ? "\"" + *e + "\"" : "absent";
}

// The cache's answer for `key`; while its read connection is still coming back from the last
// cut the answer is backend_unavailable, or timeout when a read made no progress within
// command_timeout while it comes back (seen once under ASan), so those are asked again, within a
// bound: what the round left in both tiers is what is checked here, not read availability.
tiercache::Result<std::string> read_back(Cache& cache, const std::string& key) {
  const auto until = std::chrono::steady_clock::now() + 5s;
  for (;;) {
    auto r = cache.get(test::ctx_with_timeout(2s), key);
    const bool transient =
        !r && (r.error() == errc::backend_unavailable || r.error() == errc::timeout);
    if (!transient || std::chrono::steady_clock::now() > until) return r;
    std::this_thread::sleep_for(1ms);
  }
}

// Keys whose state in Redis or L1 is not what the model expects, each described in `report`.
int keys_wrong(const test::RedisServer& redis, Cache& cache,
               const std::vector<std::vector<Allowed>>& expected, std::ostringstream& report) {
  int wrong = 0;
  for (int t = 0; t < kThreads; ++t) {
    for (int k = 0; k < kKeysPerThread; ++k) {
      const std::string key = owned_key(t, k);
      const Expected redis_has = in_redis(redis, key);
      const std::uint64_t l1_hits = cache.stats().l1_hits;
      auto l1 = read_back(cache, key);
      const bool from_l1 = cache.stats().l1_hits != l1_hits;
      if (!l1 && l1.error() != errc::not_found) {
        ++wrong;
        report << key << ": get failed: " << l1.error().detail << "\n";
        continue;
      }
      const Expected l1_has = l1 ? Expected(*l1) : std::nullopt;
      const Allowed& allowed = expected[t][k];
      if (redis_has != l1_has ||
          std::find(allowed.begin(), allowed.end(), redis_has) == allowed.end()) {
        ++wrong;
        report << key << ": expected " << show(allowed.back())
               << (allowed.size() > 1 ? " or an earlier given-up state" : "") << ", Redis "
               << show(redis_has) << ", L1 " << show(l1_has) << "\n";
      } else if (allowed.size() == 1 && allowed.front() && !from_l1) {
        ++wrong;
        report << key << ": " << show(allowed.front()) << " not in L1 (read from Redis)\n";
      }
    }
  }
  auto shared = read_back(cache, kSharedKey);
  const Expected shared_redis = in_redis(redis, kSharedKey);
  if ((shared ? Expected(*shared) : std::nullopt) != shared_redis) {
    ++wrong;
    report << "shared key: Redis " << show(shared_redis) << ", L1 "
           << (shared ? *shared : shared.error().detail) << "\n";
  }
  return wrong;
}

void run_property(WriteMode mode, unsigned seed) {
  test::RedisServer redis;
  tiercache::Options options;
  options.writer.mode = mode;
  options.redis.reconnect_backoff_min = 1ms;
  options.redis.invalidation = tiercache::InvalidationMode::off;
  Cache cache = test::open_cache(redis, options);
  std::vector<std::vector<Allowed>> expected(kThreads,
                                             std::vector<Allowed>(kKeysPerThread, Allowed{{}}));
  std::atomic<int> unexpected_errors{0};
  std::mutex first_unexpected_mu;
  std::string first_unexpected;
  std::minstd_rand rng(seed);
  int rounds_wrong = 0;
  std::ostringstream report;
  int rounds_with_give_ups = 0;
  for (int round = 0; round < kRounds; ++round) {
    // An async write L2 loses 10 times in a row is given up after the caller heard ok, and
    // its key leaves L1 (invariant 9): the key is then at a state it held earlier. Every state
    // of the round is kept, to be allowed in a round where the writer gave a write up.
    std::vector<std::vector<Allowed>> history = expected;
    std::mutex history_mu;
    const std::uint64_t errors_before = cache.stats().write_errors.total();
    std::atomic<bool> done{false};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        std::minstd_rand thread_rng(seed * 977 + static_cast<unsigned>(round * kThreads + t));
        for (int n = 0; !done.load(); ++n) {
          const int k = static_cast<int>(thread_rng() % kKeysPerThread);
          const std::string key = owned_key(t, k);
          // Sync callers give up early sometimes: their writes are still queued, and land.
          const auto ctx = test::ctx_with_timeout(thread_rng() % 4 == 0 ? 2ms : 2s);
          const unsigned dice = thread_rng() % 20;
          tiercache::Result<void> r;
          Expected after;
          if (dice < 12) {
            const std::string value = key + "-r" + std::to_string(round) + "-" + std::to_string(n);
            r = cache.set(ctx, key, value);
            after = value;
          } else if (dice < 17) {
            r = cache.purge(ctx, key);
          } else if (dice < 19) {
            (void)cache.set(ctx, kSharedKey, std::to_string(t) + "-" + std::to_string(n));
            continue;
          } else {
            (void)cache.flush(ctx);
            continue;
          }
          // ok or timeout: L1 took it and the write is queued (a timeout ends only the wait).
          if (r) {
            expected[t][k] = Allowed{after};
            std::lock_guard lock(history_mu);
            history[t][k].push_back(after);
          } else if (r.error() == errc::timeout || r.error() == errc::backend_error) {
            // Queued, but the caller stopped waiting (timeout), or it was given up: it lands
            // unless it is given up, and then L1 drops it too. Either state is right.
            expected[t][k].push_back(after);
          } else if (r.error() != errc::overloaded) {
            if (unexpected_errors.fetch_add(1) == 0) {
              std::lock_guard lock(first_unexpected_mu);
              first_unexpected = r.error().code.message() + ": " + r.error().detail;
            }
          }
        }
      });
    }
    // The chaos: cut every client connection, or hold Redis's writes back for a moment; the
    // round ends with a cut, so the writes in flight then are their keys' last.
    const auto until =
        std::chrono::steady_clock::now() + std::chrono::milliseconds(5 + rng() % kMaxRoundMs);
    while (std::chrono::steady_clock::now() < until) {
      if (rng() % 4 == 0) {
        (void)redis.command({"CLIENT", "PAUSE", std::to_string(1 + rng() % 5), "WRITE"});
      } else {
        (void)redis.command({"CLIENT", "KILL", "TYPE", "normal"});
      }
      std::this_thread::sleep_for(std::chrono::microseconds(200 + rng() % 2000));
    }
    (void)redis.command({"CLIENT", "KILL", "TYPE", "normal"});
    done.store(true);
    for (auto& th : threads) th.join();
    REQUIRE(cache.flush(test::ctx_with_timeout(20s)));
    if (mode == WriteMode::async && cache.stats().write_errors.total() != errors_before) {
      ++rounds_with_give_ups;
      expected = history;
    }
    if (keys_wrong(redis, cache, expected, report) != 0) {
      ++rounds_wrong;
      report << "(round " << round << ")\n";
    }
  }
  INFO(cache.stats().writes_retried << " writes retried over " << kRounds << " rounds, "
                                    << rounds_with_give_ups << " with writes given up\n"
                                    << report.str());
  INFO("first unexpected error: " << first_unexpected);
  CHECK(unexpected_errors.load() == 0);
  CHECK(rounds_wrong == 0);
  CHECK(test::invariants_hold(cache));
}

}  // namespace

TEST_CASE(
    "random sets, purges and flushes under cut connections: every key ends at its last "
    "accepted write in both tiers (async)",
    "[redis][fault][slow]") {
  run_property(WriteMode::async, test::seed());
}

TEST_CASE(
    "random sets, purges and flushes under cut connections: every key ends at its last "
    "accepted write in both tiers (sync)",
    "[redis][fault][slow]") {
  run_property(WriteMode::sync, test::seed());
}
