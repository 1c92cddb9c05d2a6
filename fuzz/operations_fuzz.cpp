// fuzz/operations_fuzz.cpp — random operation sequences checked against a plain map.
//
// Two caches run the same sequence: one large enough never to evict, which must agree with the
// model exactly, and one of 8 entries, which may miss but must never return a value the model
// does not hold. Both keep a loader's "no such key" (negative_ttl): the model maps such a key to
// nullopt, and the large cache must then answer not_found without calling any loader. Both must
// pass check_invariants() throughout. Input bytes: per operation, an opcode byte, a key byte
// (16 keys, some with NUL and CRLF) and a value-length byte.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <map>
#include <optional>
#include <string>

#include "engine/api/cache_test_access.hpp"
#include "tiercache/tiercache.hpp"

using tiercache::Cache;
using tiercache::Context;
using tiercache::errc;
using tiercache::Loaded;
using tiercache::Result;
using namespace std::chrono_literals;

namespace {

// Keys the sequence draws from: few, so operations collide; binary, so framing is exercised.
std::string key_for(std::uint8_t b) {
  static const std::string kKeys[] = {"a",
                                      "b",
                                      std::string("\0", 1),
                                      "\r\n",
                                      "key:4",
                                      "\xff\xfe",
                                      "k6",
                                      "k7",
                                      std::string("k\0"
                                                  "8",
                                                  3),
                                      "k9",
                                      "k10",
                                      "k11",
                                      "k12",
                                      "k13",
                                      "k14",
                                      ""};
  return kKeys[b % 16];
}

void check(bool ok) {
  if (!ok) std::abort();
}

Cache open(tiercache::Options o) {
  auto c = Cache::open(o);
  check(c.has_value());
  return std::move(*c);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Cache big = open({.l1 = {.max_bytes = 1 << 20, .max_key_bytes = 8, .max_value_bytes = 200},
                    .negative_ttl = 1h});
  Cache small = open({.l1 = {.max_bytes = 1 << 20,
                             .max_entries = 8,
                             .max_key_bytes = 8,
                             .max_value_bytes = 200,
                             .shards = 1},
                      .negative_ttl = 1h});
  // nullopt: the loader said the key does not exist, and no set or purge came since.
  std::map<std::string, std::optional<std::string>> model;
  const Context ctx = Context::background();
  for (std::size_t i = 0; i + 3 <= size; i += 3) {
    const std::string key = key_for(data[i + 1]);
    const std::string value(data[i + 2], static_cast<char>('a' + i % 26));
    const bool bad_key = key.empty();
    const bool bad_value = value.size() > 200;
    int loads = 0;
    switch (data[i] % 5) {
      case 0: {
        auto r1 = big.set(ctx, key, value);
        auto r2 = small.set(ctx, key, value);
        check(r1.has_value() == !(bad_key || bad_value) && r2.has_value() == r1.has_value());
        if (r1) model[key] = value;
        break;
      }
      case 1: {
        check(big.purge(ctx, key).has_value() == !bad_key);
        check(small.purge(ctx, key).has_value() == !bad_key);
        model.erase(key);
        break;
      }
      case 2: {
        auto r = big.get(ctx, key);
        auto it = model.find(key);
        if (bad_key) {
          check(!r && r.error() == errc::invalid_argument);
        } else if (it == model.end() || !it->second) {
          check(!r && r.error() == errc::not_found);
        } else {
          check(r && *r == *it->second);
        }
        auto s = small.get(ctx, key);
        check(!s || (it != model.end() && it->second && *s == *it->second));
        break;
      }
      case 3: {
        auto loader = [&](const Context&, std::string_view) {
          ++loads;
          return Result<std::string>(value);
        };
        auto r = big.get_or_load(ctx, key, loader);
        auto it = model.find(key);
        if (bad_key) {
          check(!r && r.error() == errc::invalid_argument && loads == 0);
          break;
        }
        if (it != model.end() && !it->second) {
          // A cached "no such key" answers without the loader.
          check(!r && r.error() == errc::not_found && loads == 0);
        } else if (bad_value && it == model.end()) {
          // The loader's value is refused and nothing is cached.
          check(!r && r.error() == errc::invalid_argument);
          check(!big.get(ctx, key).has_value());
          break;
        } else {
          check(r.has_value());
          if (it == model.end()) {
            check(*r == value && loads == 1);
            model[key] = value;
          } else {
            check(*r == *it->second && loads == 0);
          }
        }
        const std::optional<std::string>& want = model[key];
        auto s = small.get_or_load(ctx, key, loader);
        if (bad_value && !s && s.error() == errc::invalid_argument) break;
        if (!want) {
          // Its negative entry, or evicted and loaded again: then forget what was loaded.
          check(s ? *s == value : s.error() == errc::not_found);
          if (s) check(small.purge(ctx, key).has_value());
        } else {
          check(s && (*s == *want || *s == value));
          if (*s != *want) check(small.set(ctx, key, *want).has_value());
        }
        break;
      }
      case 4: {
        auto absent = [&](const Context&, std::string_view) -> Result<Loaded> {
          ++loads;
          return Loaded::absent();
        };
        auto r = big.get_or_load(ctx, key, absent);
        auto it = model.find(key);
        if (bad_key) {
          check(!r && r.error() == errc::invalid_argument && loads == 0);
          break;
        }
        if (it != model.end() && it->second) {
          check(r && *r == *it->second && loads == 0);
        } else {
          check(!r && r.error() == errc::not_found && loads == (it == model.end() ? 1 : 0));
          model[key] = std::nullopt;
        }
        const std::optional<std::string>& want = model[key];
        auto s = small.get_or_load(ctx, key, absent);
        if (want) {
          // Its value, or evicted and found absent: then put the model's value back.
          check(s ? *s == *want : s.error() == errc::not_found);
          if (!s) check(small.set(ctx, key, *want).has_value());
        } else {
          check(!s && s.error() == errc::not_found);
        }
        break;
      }
    }
    check(tiercache::CacheTestAccess::check_invariants(big));
    check(tiercache::CacheTestAccess::check_invariants(small));
  }
  return 0;
}
