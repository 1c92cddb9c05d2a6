// SpinBudget: a caller spins for an answer only when recent answers came quickly, never longer
// than 1.5x their mean or SpinBudget::kMaxSpin, and only so many at once; and a spinning wait
// still ends at its context's deadline.
#include <thread>

#include "engine/base/one_shot.hpp"
#include "engine/base/spin_budget.hpp"
#include "tests/support/test_support.hpp"

using tiercache::engine::OneShot;
using tiercache::engine::SpinBudget;
using namespace std::chrono_literals;

TEST_CASE("a spin budget follows the waits it sees and caps its spinners") {
  SpinBudget budget;
  {
    // Nothing seen yet: no spin.
    const SpinBudget::Ticket t(budget);
    CHECK(t.spin_for().count() == 0);
  }
  budget.record(20us);
  {
    const SpinBudget::Ticket t(budget);
    CHECK(t.spin_for() == 30us);
    // The cap: half the cores, at least one.
    const int cap = std::max(1, static_cast<int>(std::thread::hardware_concurrency() / 2));
    std::vector<std::unique_ptr<SpinBudget::Ticket>> more;
    for (int i = 1; i < cap; ++i) more.push_back(std::make_unique<SpinBudget::Ticket>(budget));
    for (const auto& m : more) CHECK(m->spin_for().count() > 0);
    const SpinBudget::Ticket over(budget);
    CHECK(over.spin_for().count() == 0);
  }
  {
    // The tickets were given back.
    const SpinBudget::Ticket t(budget);
    CHECK(t.spin_for().count() > 0);
  }
  // Long waits (a remote server) pull the mean past kMaxSpin: no spin at all.
  for (int i = 0; i < 64; ++i) budget.record(5ms);
  const SpinBudget::Ticket t(budget);
  CHECK(t.spin_for().count() == 0);
}

TEST_CASE("a spinning wait for an answer that never comes still ends at the deadline") {
  OneShot<int> never;
  const auto started = std::chrono::steady_clock::now();
  auto r = never.wait(test::ctx_with_timeout(5ms), "test", std::chrono::seconds(10));
  // Not a speed figure: a wait that spun its whole 10 s budget past the deadline ends here.
  CHECK(std::chrono::steady_clock::now() - started < std::chrono::seconds(5));
  REQUIRE_FALSE(r);
  CHECK(r.error() == tiercache::errc::timeout);
  OneShot<int> soon;
  std::thread setter([&] { soon.set(7); });
  auto got = soon.wait(test::ctx_with_timeout(5s), "test", 100us);
  setter.join();
  CHECK(got == 7);
}
