// Concurrent overwrites of one key, of equal and of different sizes, while readers copy it out
// with each read API: a reader sees one whole value that some set wrote, never a mix of two
// (issue 10: the write path may change, this promise may not).
#include <atomic>
#include <chrono>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/test_support.hpp"

using tiercache::Cache;

namespace {

// A value that proves itself whole: "<length>:<writer>:<n>:" then one filler byte repeated,
// chosen by writer and n. A mix of two values breaks the header, the length or the filler.
std::string make_value(int writer, int n, std::size_t length) {
  std::string v =
      std::to_string(length) + ":" + std::to_string(writer) + ":" + std::to_string(n) + ":";
  v.resize(std::max(length, v.size()), static_cast<char>('a' + (writer * 7 + n) % 26));
  return v;
}

bool whole(std::string_view v) {
  const std::size_t first = v.find(':');
  const std::size_t second = v.find(':', first + 1);
  const std::size_t third = v.find(':', second + 1);
  if (first == std::string_view::npos || second == std::string_view::npos ||
      third == std::string_view::npos)
    return false;
  const std::size_t length = std::stoul(std::string(v.substr(0, first)));
  const int writer = std::stoi(std::string(v.substr(first + 1, second - first - 1)));
  const int n = std::stoi(std::string(v.substr(second + 1, third - second - 1)));
  return v == make_value(writer, n, length);
}

void overwrite_while_reading(const std::vector<std::size_t>& lengths) {
  Cache cache = test::open_cache({.l1 = {.max_bytes = std::size_t{64} << 20}});
  REQUIRE(cache.set(test::ctx(), "k", make_value(0, 0, lengths.front())));
  std::atomic<bool> stop{false};
  std::atomic<int> writing{0};  // writer threads running
  std::atomic<int> torn{0};
  // Reads made while the writers still ran: the ones that could see a torn value. The writers
  // go on past their 20000 sets until there were kOverlappingReads of them (on a loaded machine
  // the readers may otherwise not run at all while they do), within a bound.
  constexpr long kOverlappingReads = 1000;
  std::atomic<long> reads_while_writing{0};
  std::vector<std::thread> threads;
  for (int r = 0; r < 2; ++r)
    threads.emplace_back([&, r] {
      std::string into;
      std::vector<char> buffer(1 << 16);
      long while_writing = 0;
      for (long n = 0; !stop.load(std::memory_order_relaxed); ++n) {
        bool ok = true;
        switch ((n + r) % 3) {
          case 0: {
            auto v = cache.get(test::ctx(), "k");
            ok = v && whole(*v);
            break;
          }
          case 1:
            ok = cache.get(test::ctx(), "k", into) && whole(into);
            break;
          default: {
            auto got = cache.get_into(test::ctx(), "k", std::span<char>(buffer));
            ok = got && whole(std::string_view(buffer.data(), *got));
          }
        }
        if (!ok) torn.fetch_add(1);
        // Counted here and published in steps, so that the readers do not contend on one line
        // for every read.
        if (writing.load(std::memory_order_relaxed) != 0 && ++while_writing % 64 == 0)
          reads_while_writing.fetch_add(64, std::memory_order_relaxed);
      }
      reads_while_writing.fetch_add(while_writing % 64, std::memory_order_relaxed);
    });
  for (int w = 1; w <= 2; ++w)
    threads.emplace_back([&, w] {
      writing.fetch_add(1);
      const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
      for (int n = 0; n < 20000 || (reads_while_writing.load() < kOverlappingReads &&
                                    std::chrono::steady_clock::now() < until);
           ++n)
        (void)cache.set(test::ctx(), "k", make_value(w, n, lengths[n % lengths.size()]));
      writing.fetch_sub(1);
    });
  threads[2].join();
  threads[3].join();
  stop = true;
  threads[0].join();
  threads[1].join();
  INFO(reads_while_writing.load() << " reads while the writers ran");
  CHECK(reads_while_writing.load() >= kOverlappingReads);
  CHECK(torn.load() == 0);
}

}  // namespace

TEST_CASE("overwrites of one size never show a reader a torn value", "[concurrency]") {
  // The check itself: a value is whole, a mix of two is not.
  const std::string a = make_value(1, 7, 200);
  const std::string b = make_value(2, 7, 200);
  CHECK(whole(a));
  CHECK_FALSE(whole(a.substr(0, 100) + b.substr(100)));
  CHECK_FALSE(whole(b.substr(0, 100) + a.substr(100)));
  overwrite_while_reading({200});
}

TEST_CASE("overwrites of changing sizes never show a reader a torn value", "[concurrency]") {
  overwrite_while_reading({16, 200, 4000, 64, 30000, 200});
}

TEST_CASE("rewrites of small values keep every key and value byte, whatever the alignment",
          "[cache]") {
  Cache cache = test::open_cache();
  // Keys of 1-8 bytes put the value (and the version word after it) at every offset mod 4.
  for (std::size_t key_bytes = 1; key_bytes <= 8; ++key_bytes) {
    for (std::size_t value_bytes = 0; value_bytes <= 9; ++value_bytes) {
      const std::string key =
          std::string(key_bytes - 1, 'k') + static_cast<char>('0' + value_bytes);
      for (char fill : {'a', 'b', 'c'}) {
        const std::string value(value_bytes, fill);
        REQUIRE(cache.set(test::ctx(), key, value));
        auto got = cache.get(test::ctx(), key);
        REQUIRE(got);
        CHECK(*got == value);
      }
    }
  }
  // Nothing else was touched by a rewrite running past its value.
  for (std::size_t key_bytes = 1; key_bytes <= 8; ++key_bytes)
    for (std::size_t value_bytes = 0; value_bytes <= 9; ++value_bytes) {
      const std::string key =
          std::string(key_bytes - 1, 'k') + static_cast<char>('0' + value_bytes);
      auto got = cache.get(test::ctx(), key);
      REQUIRE(got);
      CHECK(*got == std::string(value_bytes, 'c'));
    }
}

TEST_CASE("a same-size set with a shorter TTL takes effect: its value, then its expiry",
          "[cache]") {
  using namespace std::chrono_literals;
  Cache cache = test::open_cache();
  REQUIRE(cache.set(test::ctx(), "k", "aaaa", 60s));
  REQUIRE(cache.set(test::ctx(), "k", "bbbb", 400ms));
  CHECK(cache.get(test::ctx(), "k") == std::string("bbbb"));
  std::this_thread::sleep_for(800ms);
  CHECK(cache.get(test::ctx(), "k").error() == tiercache::errc::not_found);
  // And the other way: a longer TTL after a short one keeps the value past the short one.
  REQUIRE(cache.set(test::ctx(), "j", "aaaa", 400ms));
  REQUIRE(cache.set(test::ctx(), "j", "bbbb", 60s));
  std::this_thread::sleep_for(800ms);
  CHECK(cache.get(test::ctx(), "j") == std::string("bbbb"));
}

TEST_CASE("get_or_load never returns a torn value while sets rewrite it and purges drop it",
          "[concurrency]") {
  // A miss goes to the shard's lock, where a value that appeared meanwhile is copied out: a
  // rewrite in place may be running even so (without an L2 it does not take that lock).
  Cache cache = test::open_cache({.l1 = {.max_bytes = std::size_t{16} << 20}});
  std::atomic<bool> stop{false};
  std::atomic<int> torn{0};
  std::atomic<long> loads{0};
  const tiercache::Loader loader = [&](const tiercache::Context&, std::string_view) {
    loads.fetch_add(1);
    return tiercache::Result<std::string>(make_value(3, 0, 200));
  };
  std::vector<std::thread> threads;
  threads.emplace_back([&] {
    for (int n = 0; !stop.load(); ++n) {
      (void)cache.purge(test::ctx(), "k");
      (void)cache.set(test::ctx(), "k", make_value(1, n, 200));
    }
  });
  threads.emplace_back([&] {
    for (int n = 0; !stop.load(); ++n) (void)cache.set(test::ctx(), "k", make_value(2, n, 200));
  });
  long reads = 0;
  for (; reads < 200'000 || loads.load() < 100; ++reads) {
    auto v = cache.get_or_load(test::ctx(), "k", loader);
    if (!v || !whole(*v)) torn.fetch_add(1);
    if (reads > 5'000'000) break;
  }
  stop = true;
  for (auto& t : threads) t.join();
  INFO(reads << " reads, " << loads.load() << " loads");
  CHECK(loads.load() > 0);  // the miss path, where a value that appeared meanwhile is copied out
  CHECK(torn.load() == 0);
}

TEST_CASE("lock-free rewrites racing sets of another size purges and evictions keep L1 whole",
          "[concurrency]") {
  // Without an L2 a same-size set rewrites its entry holding only the entry's writer side; the
  // entry may be replaced by a set of another size, purged or evicted meanwhile. Every value read
  // is one a set wrote, and the shard's ring, counts and cells still agree afterwards. A small
  // shard, so that other keys' sets evict "k" over and over.
  Cache cache = test::open_cache(
      {.l1 = {.max_bytes = std::size_t{64} << 10, .max_value_bytes = 4096, .shards = 1}});
  std::atomic<bool> stop{false};
  std::atomic<int> torn{0};
  std::atomic<long> rewrites{0};
  std::vector<std::thread> threads;
  for (int w = 1; w <= 2; ++w)
    threads.emplace_back([&, w] {
      for (int n = 0; !stop.load(std::memory_order_relaxed); ++n) {
        (void)cache.set(test::ctx(), "k", make_value(w, n, 200));
        rewrites.fetch_add(1, std::memory_order_relaxed);
      }
    });
  threads.emplace_back([&] {
    for (int n = 0; !stop.load(std::memory_order_relaxed); ++n) {
      if (n % 3 == 0) (void)cache.purge(test::ctx(), "k");
      (void)cache.set(test::ctx(), "k", make_value(3, n, n % 2 == 0 ? 64 : 300));
    }
  });
  threads.emplace_back([&] {
    for (int n = 0; !stop.load(std::memory_order_relaxed); ++n)
      (void)cache.set(test::ctx(), "other" + std::to_string(n % 4096), make_value(4, n, 100));
  });
  // Reads go on past 300000 until 1000 of them found a value (the ones a torn copy could show
  // in; on a loaded machine "k" may be gone for long stretches), within a bound.
  long reads = 0;
  long hits = 0;
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (; reads < 300'000 || (hits < 1000 && std::chrono::steady_clock::now() < until); ++reads) {
    auto v = cache.get(test::ctx(), "k");
    if (v) ++hits;
    if (v && !whole(*v)) torn.fetch_add(1);
  }
  stop = true;
  for (auto& t : threads) t.join();
  const std::uint64_t evictions = cache.stats().evictions;
  INFO(reads << " reads, " << hits << " hits, " << rewrites.load() << " same-size sets, "
             << evictions << " evictions");
  CHECK(hits >= 1000);
  CHECK(evictions > 0);
  CHECK(torn.load() == 0);
  CHECK(test::invariants_hold(cache));
}
