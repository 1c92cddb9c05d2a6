// bench/l1_typed.cpp — typed_hit_ns: one thread reads a small struct (test::Product: an id, a
// 30-byte name, a price, two tags) from L1, keys in random order over 1000 resident keys.
// tiercache: TypedCache<JsonCodec>::get, a copy of L1's decoded object. Peers: Cache::get of the
// bytes, then JsonCodec / MsgpackCodec decode, on every hit. Nanoseconds per get, each measured
// for BENCH_SECONDS after a warm-up; lower is better.
#include "bench/l1_typed.hpp"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "bench/figures_file.hpp"
#include "tests/support/product.hpp"
#include "tiercache/codecs/json.hpp"
#include "tiercache/codecs/msgpack.hpp"
#include "tiercache/tiercache.hpp"
#include "tiercache/typed_cache.hpp"

namespace tiercache::bench {
namespace {

constexpr std::size_t kKeys = 1000;
constexpr std::size_t kSmokeKeys = 50;
using Clock = std::chrono::steady_clock;

test::Product product(std::size_t i) {
  return {static_cast<std::int64_t>(i),
          "Espresso cup, stoneware #" + std::to_string(i),
          12.5,
          {"kitchen", "gift"}};
}

// ns per call of get(i) over `order`, for the measured time after the warm-up; -1 on a failure.
template <class Get>
double ns_per_get(const std::vector<std::size_t>& order, const RunTimes& times, Get&& get) {
  std::uint64_t calls = 0;
  bool ok = true;
  auto run_for = [&](std::chrono::duration<double> d, bool count) {
    const Clock::time_point end = Clock::now() + std::chrono::duration_cast<Clock::duration>(d);
    while (Clock::now() < end) {
      for (const std::size_t i : order) ok &= get(i);
      if (count) calls += order.size();
    }
  };
  run_for(times.warmup, false);
  const Clock::time_point start = Clock::now();
  run_for(times.measured, true);
  const double ns = std::chrono::duration<double, std::nano>(Clock::now() - start).count();
  return ok ? ns / static_cast<double>(calls) : -1;
}

// The peer: a cache of bytes holding each product encoded by C, decoded on every hit; -1 on a
// failure.
template <Codec C>
double decode_per_hit_ns(const std::vector<std::string>& keys,
                         const std::vector<std::size_t>& order, const RunTimes& times,
                         std::int64_t& sink) {
  const Context ctx = Context::background();
  auto bytes = Cache::open({});
  if (!bytes) return -1;
  for (std::size_t i = 0; i < keys.size(); ++i)
    if (!bytes->set(ctx, keys[i], *C::encode(product(i)))) return -1;
  return ns_per_get(order, times, [&](std::size_t i) {
    Result<std::string> got = bytes->get(ctx, keys[i]);
    if (!got) return false;
    Result<test::Product> p = C::decode(*got);
    if (p) sink += p->id;
    return p.has_value();
  });
}

}  // namespace

bool run_l1_typed_figures(const BenchSettings& settings) {
  const std::size_t n = settings.size == BenchSize::full ? kKeys : kSmokeKeys;
  std::vector<std::string> keys;
  std::vector<std::size_t> order;
  for (std::size_t i = 0; i < n; ++i) {
    keys.push_back("product:" + std::to_string(i));
    order.push_back(i);
  }
  std::shuffle(order.begin(), order.end(), std::mt19937_64(5));
  const Context ctx = Context::background();

  auto typed = TypedCache<JsonCodec<test::Product>>::open({});
  if (!typed) {
    std::fprintf(stderr, "l1_typed: open failed\n");
    return false;
  }
  for (std::size_t i = 0; i < n; ++i) {
    if (!typed->set(ctx, keys[i], product(i))) {
      std::fprintf(stderr, "l1_typed: set failed\n");
      return false;
    }
  }
  std::int64_t sink = 0;
  const double typed_ns = ns_per_get(order, settings.times, [&](std::size_t i) {
    Result<test::Product> p = typed->get(ctx, keys[i]);
    if (p) sink += p->id;
    return p.has_value();
  });
  const double json_ns =
      decode_per_hit_ns<JsonCodec<test::Product>>(keys, order, settings.times, sink);
  const double msgpack_ns =
      decode_per_hit_ns<MsgpackCodec<test::Product>>(keys, order, settings.times, sink);
  if (typed_ns < 0 || json_ns < 0 || msgpack_ns < 0) {
    std::fprintf(stderr, "l1_typed: a cache, a set or a get failed\n");
    return false;
  }
  std::printf(
      "%-20s ns=%.0f  json_decode_per_hit=%.0f (%.1fx)  msgpack_decode_per_hit=%.0f (%.1fx)  "
      "keys=%zu threads=1  (sink %lld)\n",
      "typed_hit", typed_ns, json_ns, json_ns / typed_ns, msgpack_ns, msgpack_ns / typed_ns, n,
      static_cast<long long>(sink % 10));
  return record_figure(
      {.name = "typed_hit_ns",
       .unit = "ns per get of a small struct, L1 hit, one thread",
       .value = typed_ns,
       .peers = {{"json_decode_per_hit", json_ns}, {"msgpack_decode_per_hit", msgpack_ns}},
       .target = "none (issue 12 asks for the figure beside decoding per hit)"});
}

}  // namespace tiercache::bench
