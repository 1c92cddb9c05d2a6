// PendingWrites, the open-addressing table of keys with unacknowledged writes, against a plain
// map: random records and settles on hashes chosen to collide in long probe chains (and on the
// hash that marks a free slot), so that growing, shrinking and backward-shift erase all run.
#include <map>
#include <random>
#include <string>

#include "engine/l2/pending_writes.hpp"
#include "tests/support/test_support.hpp"

using tiercache::engine::LeadPlan;
using tiercache::engine::PendingWrites;
using tiercache::engine::WriteOp;

namespace {

struct ModelRecord {
  std::string key;
  WriteOp::Kind kind;
  std::uint64_t seq;
  std::uint64_t expires_at_ms;
  int unsettled;
};

}  // namespace

TEST_CASE("pending writes agree with a map through growth, shrinking and erase in probe chains",
          "[pending]") {
  const unsigned seed = test::seed();
  std::minstd_rand rng(seed);
  PendingWrites pending;
  std::map<std::uint64_t, ModelRecord> model;
  std::uint64_t seq = 0;
  constexpr std::uint64_t kNow = 1000;
  for (int step = 0; step < 200000; ++step) {
    // Hashes that share low bits (long chains), plus 0 and 1 (0 marks a free slot).
    const std::uint64_t hash = rng() % 3 == 0 ? rng() % 4 : (rng() % 64) << 20 | (rng() % 8);
    const std::string key = "k" + std::to_string(hash);
    if (rng() % 2 == 0 || model.empty()) {
      const auto kind = rng() % 3 == 0   ? WriteOp::Kind::purge
                        : rng() % 4 == 0 ? WriteOp::Kind::fill
                                         : WriteOp::Kind::set;
      const std::uint64_t expires = rng() % 2 == 0 ? kNow + 10 : kNow - 1;
      pending.record_locked(hash, key, kind, ++seq, expires);
      // Hashes 0 and 1 share one record, as any two keys with one hash do.
      const std::uint64_t slot = hash == 0 ? 1 : hash;
      ModelRecord& r = model[slot];
      r = ModelRecord{key, kind, seq, expires, r.unsettled + 1};
    } else {
      auto it = model.begin();
      std::advance(it, rng() % model.size());
      // Settle the record's latest write, or an older one, as the writer may.
      const bool latest = rng() % 2 == 0;
      const std::uint64_t settled_seq = latest ? it->second.seq : 0;
      // L1 must drop the key if L2 did not take the write: the latest, or one a fill follows.
      REQUIRE(pending.settle_locked(it->first, settled_seq) ==
              (latest || it->second.kind == WriteOp::Kind::fill));
      if (--it->second.unsettled == 0) model.erase(it);
    }
    if (step % 97 == 0) {
      REQUIRE(pending.size_locked() == model.size());
      for (const auto& [slot, r] : model) {
        const bool expired = kNow >= r.expires_at_ms;
        const LeadPlan expected =
            r.kind == WriteOp::Kind::purge ? LeadPlan::known_absent
            : r.kind == WriteOp::Kind::fill
                ? (!expired || r.unsettled > 1 ? LeadPlan::fill_then_read : LeadPlan::read_l2)
            : expired ? LeadPlan::known_absent
                      : LeadPlan::flush_then_read;
        REQUIRE(pending.plan_locked(slot, r.key, kNow) == expected);
        // Another key that shares the hash is not taken for this one.
        REQUIRE(pending.plan_locked(slot, r.key + "x", kNow) == LeadPlan::flush_then_read);
      }
      REQUIRE(pending.plan_locked(0xdeadbeef00000000ULL, "absent", kNow) == LeadPlan::read_l2);
    }
  }
  // Settle everything: the table ends empty (and shrinks on the way).
  for (auto& [slot, r] : model)
    while (r.unsettled-- > 0) pending.settle_locked(slot, r.seq);
  CHECK(pending.size_locked() == 0);
  CHECK(pending.plan_locked(1, "k1", kNow) == LeadPlan::read_l2);
}
