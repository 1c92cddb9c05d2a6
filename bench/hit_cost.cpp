// bench/hit_cost.cpp — instructions per L1 operation, counted by callgrind: repeatable where
// timings on a shared 2-core machine are not. One thread, `keys` string keys of 100-byte values,
// every key read once in a scrambled order per round; only the measured loop is instrumented
// (CALLGRIND_START/STOP_INSTRUMENTATION), so populating and teardown do not count.
//
//   valgrind --tool=callgrind --instr-atstart=no build/release/hit_cost <op> [keys] [rounds]
//   make hit-cost   # every op, printed as instructions per operation
//
// ops: get, get_string (get into a reused std::string), get_into (a span), get_into_ttl (the same
// on values with a TTL, so each hit reads the clock), set_same_size, raw_get (FeldmanHashMap,
// copies out), raw_get_noalloc (FeldmanHashMap into a reused string). A tiercache op with the
// suffix _latencies_off runs on a cache with Options.metrics.latencies off (the others have the
// defaults: on, one call in sample_every timed).
#include <valgrind/callgrind.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <numeric>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "bench/peers/libcds_map.hpp"
#include "tiercache/tiercache.hpp"

namespace {

constexpr std::size_t kValueBytes = 100;
// The suffix of an op run with the latency histograms off.
constexpr std::string_view kLatenciesOff = "_latencies_off";

std::vector<std::string> make_keys(std::size_t n) {
  std::vector<std::string> keys;
  keys.reserve(n);
  for (std::size_t i = 0; i < n; ++i) keys.push_back("key:" + std::to_string(i * 2654435761u));
  return keys;
}

// Each key once per round, in an order no prefetcher follows.
std::vector<std::uint32_t> make_order(std::size_t n) {
  std::vector<std::uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  std::shuffle(order.begin(), order.end(), std::mt19937_64(42));
  return order;
}

int fail(const char* what) {
  std::fprintf(stderr, "hit_cost: %s\n", what);
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return fail("usage: hit_cost <op> [keys] [rounds]");
  const std::string_view name = argv[1];
  const bool latencies = !name.ends_with(kLatenciesOff);
  const std::string_view op = latencies ? name : name.substr(0, name.size() - kLatenciesOff.size());
  const std::size_t n = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 100000;
  const int rounds = argc > 3 ? std::atoi(argv[3]) : 3;
  if (n == 0 || rounds <= 0) return fail("keys and rounds must be > 0");
  const std::vector<std::string> keys = make_keys(n);
  const std::vector<std::uint32_t> order = make_order(n);
  const std::string value(kValueBytes, 'v');
  std::size_t sink = 0;
  bool all_found = true;

  if (op.starts_with("raw_")) {
    // Decided before the loop: comparing the op's name per operation would be counted too.
    const bool raw_get = op == "raw_get";
    tiercache::bench::LibcdsMap::ThreadScope scope;
    tiercache::bench::LibcdsMap map(n);
    for (const std::string& k : keys) map.set(k, value);
    std::string out;
    CALLGRIND_START_INSTRUMENTATION;
    for (int r = 0; r < rounds; ++r)
      for (const std::uint32_t i : order) {
        if (raw_get) {
          const auto v = map.get(keys[i]);
          all_found &= v.has_value();
          sink += v ? v->size() : 0;
        } else {
          all_found &= map.get_into(keys[i], out);
          sink += out.size();
        }
      }
    CALLGRIND_STOP_INSTRUMENTATION;
  } else {
    // Room for every key: a hit, never an eviction, is what is counted.
    // An hour: no value expires while it is counted.
    const std::chrono::milliseconds ttl =
        op == "get_into_ttl" ? std::chrono::hours(1) : std::chrono::milliseconds(0);
    auto cache = tiercache::Cache::open(
        {.l1 = {.max_bytes = n * 1024}, .default_ttl = ttl, .metrics = {.latencies = latencies}});
    if (!cache) return fail(cache.error().detail.c_str());
    const tiercache::Context ctx = tiercache::Context::background();
    for (const std::string& k : keys)
      if (!cache->set(ctx, k, value)) return fail("populating: a set failed");
    std::string out;
    std::array<char, kValueBytes> buf{};
    enum class Op { get, get_string, get_into, set_same_size };
    Op which;
    if (op == "get") {
      which = Op::get;
    } else if (op == "get_string") {
      which = Op::get_string;
    } else if (op == "get_into" || op == "get_into_ttl") {
      which = Op::get_into;
    } else if (op == "set_same_size") {
      which = Op::set_same_size;
    } else {
      return fail("unknown op");
    }
    CALLGRIND_START_INSTRUMENTATION;
    for (int r = 0; r < rounds; ++r)
      for (const std::uint32_t i : order) {
        switch (which) {
          case Op::get: {
            const auto v = cache->get(ctx, keys[i]);
            all_found &= v.has_value();
            sink += v ? v->size() : 0;
            break;
          }
          case Op::get_string:
            all_found &= cache->get(ctx, keys[i], out).has_value();
            sink += out.size();
            break;
          case Op::get_into: {
            const auto got = cache->get_into(ctx, keys[i], buf);
            all_found &= got.has_value();
            sink += got ? *got : 0;
            break;
          }
          case Op::set_same_size:
            all_found &= cache->set(ctx, keys[i], value).has_value();
            break;
        }
      }
    CALLGRIND_STOP_INSTRUMENTATION;
  }
  if (!all_found)
    return fail("an operation missed or failed: the count would be of something else");
  std::printf("%s keys=%zu rounds=%d ops=%zu sink=%zu\n", std::string(name).c_str(), n, rounds,
              n * static_cast<std::size_t>(rounds), sink);
  return 0;
}
