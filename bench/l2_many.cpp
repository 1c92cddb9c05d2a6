// bench/l2_many.cpp — get_many_100_us. Every round reads 100 keys no L1 has seen (each round
// its own keys, set in Redis up front), so each get_many is one L2 round trip for all 100 and
// each single get one round trip per key; the hiredis peer sends MGET of the same 100 keys on
// one blocking connection (what a user writes by hand, without TTLs or coherence). Mean
// microseconds per batch of 100 over the rounds.
#include "bench/l2_many.hpp"

#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>
#include <vector>

#include "bench/figures_file.hpp"
#include "bench/l2_figures.hpp"
#include "bench/peers/hiredis_client.hpp"
#include "tiercache/context.hpp"

namespace tiercache::bench {
namespace {

constexpr std::size_t kBatchKeys = 100;
constexpr std::size_t kRounds = 200;
constexpr std::size_t kSmokeRounds = 10;
// Commands per round trip while filling Redis.
constexpr std::size_t kFillDepth = 256;

using Clock = std::chrono::steady_clock;

double micros_since(Clock::time_point start) {
  return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
}

}  // namespace

bool run_l2_many_figure(const test::RedisServer& server, BenchSize size) {
  if (!empty_redis(server)) return false;
  const std::size_t rounds = size == BenchSize::full ? kRounds : kSmokeRounds;
  // Two key sets: one for get_many, one for the single gets (whose L1 must not hold them
  // either); MGET reads the first.
  std::vector<std::string> many_keys, single_keys;
  for (std::size_t i = 0; i < rounds * kBatchKeys; ++i) {
    many_keys.push_back(numbered_key("many", i));
    single_keys.push_back(numbered_key("single", i));
  }
  HiredisClient hiredis(server.host(), server.port());
  const std::string value(kL2ValueBytes, 'v');
  if (!hiredis.is_connected() || !hiredis.set_pipelined(many_keys, value, kFillDepth) ||
      !hiredis.set_pipelined(single_keys, value, kFillDepth)) {
    std::fprintf(stderr, "l2: get_many: filling Redis: %s\n", hiredis.error().c_str());
    return false;
  }
  auto cache = open_l2_cache(server, {});
  if (!cache) return false;
  const Context ctx = Context::background();
  double many_us = 0, single_us = 0, mget_us = 0;
  for (std::size_t r = 0; r < rounds; ++r) {
    std::vector<std::string_view> batch(many_keys.begin() + r * kBatchKeys,
                                        many_keys.begin() + (r + 1) * kBatchKeys);
    Clock::time_point start = Clock::now();
    const auto got = cache->get_many(ctx, batch);
    many_us += micros_since(start);
    bool ok = got.has_value();
    for (std::size_t i = 0; ok && i < kBatchKeys; ++i) ok = (*got)[i] == value;

    start = Clock::now();
    for (std::size_t i = 0; ok && i < kBatchKeys; ++i)
      ok = cache->get(ctx, single_keys[r * kBatchKeys + i]) == value;
    single_us += micros_since(start);

    start = Clock::now();
    ok = ok && hiredis.mget(batch) == static_cast<std::int64_t>(kBatchKeys);
    mget_us += micros_since(start);
    if (!ok) {
      std::fprintf(stderr, "l2: get_many: a read failed or answered a wrong value (%s)\n",
                   hiredis.error().c_str());
      return false;
    }
  }
  const double n = static_cast<double>(rounds);
  std::printf(
      "%-20s us_per_batch=%.1f  single_gets=%.1f (%.1fx)  hiredis_mget=%.1f (%.2fx)  keys=%zu "
      "rounds=%zu (every key an L2 hit)\n",
      "get_many_100_us", many_us / n, single_us / n, single_us / many_us, mget_us / n,
      many_us / mget_us, kBatchKeys, rounds);
  return record_figure({.name = "get_many_100_us",
                        .unit = "us per batch of 100 keys",
                        .value = many_us / n,
                        .peers = {{"single_gets", single_us / n}, {"hiredis_mget", mget_us / n}},
                        .target = "none (issue 11 asks for the figure beside its peers)"}) &&
         empty_redis(server);
}

}  // namespace tiercache::bench
