#include "tests/support/file_store_hammer.hpp"

#include <xxhash.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <thread>
#include <vector>

#include "tiercache/file_store.hpp"

namespace test {
namespace {

// The key every process hammers.
constexpr std::string_view kHotKey{"hot\0key", 7};
// Value sizes drawn from: a header's worth up to several pages, so a torn write would show.
constexpr std::size_t kValueSizes[] = {16, 100, 4096, 65536, 300000};
// Longest any one backend answer may take before the hammer counts it a failure.
constexpr auto kAnswerLimit = std::chrono::seconds(30);
// Times a write answered timeout is sent, as the cache's writer sends one in doubt.
constexpr int kMaxAttempts = 10;
// Bytes of a value's length and checksum fields.
constexpr std::size_t kLengthBytes = 4;
constexpr std::size_t kChecksumBytes = 8;

void put_u(std::string& out, std::uint64_t v, std::size_t bytes) {
  for (std::size_t i = 0; i < bytes; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

std::uint64_t get_u(std::string_view in, std::size_t bytes) {
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < bytes; ++i)
    v |= static_cast<std::uint64_t>(static_cast<unsigned char>(in[i])) << (8 * i);
  return v;
}

template <class T>
std::optional<T> wait_answer(std::shared_ptr<std::promise<T>> p) {
  auto f = p->get_future();
  if (f.wait_for(kAnswerLimit) != std::future_status::ready) return std::nullopt;
  return f.get();
}

}  // namespace

std::string self_describing_value(std::size_t bytes, char fill) {
  std::string v;
  v.reserve(bytes);
  put_u(v, bytes, kLengthBytes);
  v.append(bytes - kLengthBytes - kChecksumBytes, fill);
  put_u(v, XXH3_64bits(v.data(), v.size()), kChecksumBytes);
  return v;
}

bool is_whole_value(std::string_view v) {
  if (v.size() < kLengthBytes + kChecksumBytes + 1 || get_u(v, kLengthBytes) != v.size())
    return false;
  const std::string_view body = v.substr(0, v.size() - kChecksumBytes);
  for (std::size_t i = kLengthBytes; i < body.size(); ++i)
    if (body[i] != body[kLengthBytes]) return false;
  return XXH3_64bits(body.data(), body.size()) == get_u(v.substr(body.size()), kChecksumBytes);
}

HammerCounts hammer_file_store(const std::string& directory, int rounds, unsigned seed) {
  HammerCounts counts;
  auto store = tiercache::make_file_store({.directory = directory, .fsync = false});
  if (!store) {
    std::fprintf(stderr, "hammer: make_file_store: %s\n", store.error().detail.c_str());
    counts.failures = 1;
    return counts;
  }
  tiercache::Backend& backend = **store;
  std::atomic<bool> writing{true};
  std::atomic<std::uint64_t> write_failures{0};
  std::thread writer([&] {
    std::mt19937 rng(seed);
    for (int i = 0; i < rounds; ++i) {
      const std::size_t bytes = kValueSizes[rng() % std::size(kValueSizes)];
      const std::string value = self_describing_value(bytes, static_cast<char>('a' + rng() % 26));
      tiercache::BackendWrite w;
      const unsigned pick = rng() % 8;
      w.kind = pick == 0  ? tiercache::BackendWrite::Kind::purge
               : pick < 4 ? tiercache::BackendWrite::Kind::fill
                          : tiercache::BackendWrite::Kind::set;
      w.key = kHotKey;
      w.value = value;
      // A write that waited lock_wait for the key's lock (the other process stalled holding
      // it: a loaded machine) comes back as timeout, in doubt: sent again, as the writer would.
      bool landed = false;
      for (int attempt = 0; attempt < kMaxAttempts && !landed; ++attempt) {
        auto answered = std::make_shared<std::promise<std::vector<tiercache::Result<void>>>>();
        backend.write(std::span(&w, 1), [answered](std::vector<tiercache::Result<void>> r) {
          answered->set_value(std::move(r));
        });
        const auto results = wait_answer(answered);
        if (!results || results->size() != 1) break;
        landed = results->front().has_value();
        if (!landed && results->front().error() != tiercache::errc::timeout) break;
      }
      if (!landed) write_failures.fetch_add(1);
    }
    writing.store(false);
  });
  // Reads until the writer is done, and at least once after.
  for (bool last = false; !last;) {
    last = !writing.load();
    auto answered =
        std::make_shared<std::promise<std::vector<tiercache::Result<tiercache::BackendValue>>>>();
    backend.read({std::string(kHotKey)}, [answered](auto r) { answered->set_value(std::move(r)); });
    const auto results = wait_answer(answered);
    if (!results || results->size() != 1) {
      ++counts.failures;
    } else if (results->front()) {
      ++(is_whole_value(results->front()->value) ? counts.whole_reads : counts.torn_reads);
    } else if (results->front().error() == tiercache::errc::not_found) {
      ++counts.misses;
    } else {
      ++counts.failures;
    }
  }
  writer.join();
  counts.failures += write_failures.load();
  counts.unreadable = backend.health().unreadable_values;
  return counts;
}

int file_store_hammer_child() {
  const char* dir = std::getenv(kHammerDirEnv);
  const char* rounds = std::getenv(kHammerRoundsEnv);
  const char* seed = std::getenv(kHammerSeedEnv);
  if (dir == nullptr || rounds == nullptr || seed == nullptr) {
    std::fprintf(stderr, "hammer: %s, %s and %s must be set\n", kHammerDirEnv, kHammerRoundsEnv,
                 kHammerSeedEnv);
    return 2;
  }
  const HammerCounts c = hammer_file_store(dir, std::atoi(rounds),
                                           static_cast<unsigned>(std::strtoul(seed, nullptr, 10)));
  std::fprintf(
      stderr, "hammer child: whole %llu torn %llu misses %llu failures %llu unreadable %llu\n",
      static_cast<unsigned long long>(c.whole_reads), static_cast<unsigned long long>(c.torn_reads),
      static_cast<unsigned long long>(c.misses), static_cast<unsigned long long>(c.failures),
      static_cast<unsigned long long>(c.unreadable));
  const bool ok = c.torn_reads == 0 && c.failures == 0 && c.unreadable == 0 && c.whole_reads > 0;
  return ok ? 0 : 1;
}

}  // namespace test
