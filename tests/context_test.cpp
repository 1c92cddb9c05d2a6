#include <stop_token>
#include <string>

#include "tests/support/test_support.hpp"

using tiercache::Context;
using tiercache::errc;
using namespace std::chrono_literals;

TEST_CASE("background has no deadline, no cancellation and no values") {
  Context c = Context::background();
  CHECK(c.deadline() == Context::clock::time_point::max());
  CHECK_FALSE(c.done().has_value());
  CHECK(c.value("user") == nullptr);
}

TEST_CASE("a derived deadline never extends the parent's") {
  const auto soon = Context::clock::now() + 10s;
  Context parent = Context::background().with_deadline(soon);
  CHECK(parent.with_timeout(1h).deadline() == soon);
  CHECK(parent.with_timeout(1ms).deadline() < soon);
  CHECK(Context::background().with_timeout(Context::clock::duration::max()).deadline() ==
        Context::clock::time_point::max());
}

TEST_CASE("a passed deadline reads as timeout, a stop request as cancelled") {
  CHECK(Context::background().with_deadline(Context::clock::now() - 1ms).done() == errc::timeout);
  std::stop_source stop;
  Context c = Context::background().with_stop_token(stop.get_token());
  CHECK_FALSE(c.done().has_value());
  stop.request_stop();
  CHECK(c.done() == errc::cancelled);
}

TEST_CASE("request-scoped values are found by key and a child shadows its parent") {
  Context parent = Context::background().with_value("user", std::string("ann"));
  Context child = parent.with_value("user", std::string("bob")).with_value("trace", 42);
  REQUIRE(child.value("user") != nullptr);
  CHECK(std::any_cast<std::string>(*child.value("user")) == "bob");
  CHECK(std::any_cast<std::string>(*parent.value("user")) == "ann");
  CHECK(std::any_cast<int>(*child.value("trace")) == 42);
  CHECK(parent.value("trace") == nullptr);
}

TEST_CASE("a timeout too long for the clock's nanoseconds means no deadline", "[context]") {
  // milliseconds::max() overflowed on its way to steady_clock::duration: a negative timeout, so
  // the context was done at once.
  const auto never = Context::clock::time_point::max();
  CHECK(Context::background().with_timeout(std::chrono::milliseconds::max()).deadline() == never);
  CHECK(Context::background().with_timeout(std::chrono::hours(24 * 365 * 300)).deadline() == never);
  CHECK(Context::background().with_timeout(std::chrono::seconds::max()).deadline() == never);
  CHECK_FALSE(
      Context::background().with_timeout(std::chrono::milliseconds::max()).done().has_value());
  CHECK(Context::background().with_timeout(std::chrono::duration<double>(1e300)).deadline() ==
        never);
  // Shorter ones keep their length, whatever their unit.
  const auto before = Context::clock::now();
  const auto deadline = Context::background().with_timeout(std::chrono::minutes(5)).deadline();
  CHECK(deadline >= before + 5min);
  CHECK(deadline <= Context::clock::now() + 5min);
  CHECK(Context::background().with_timeout(std::chrono::duration<double, std::milli>(-1)).done() ==
        errc::timeout);
  // A deadline as a time_point of a coarser unit saturates alike.
  using ms_point = std::chrono::time_point<Context::clock, std::chrono::milliseconds>;
  CHECK(Context::background().with_deadline(ms_point::max()).deadline() == never);
  CHECK_FALSE(Context::background().with_deadline(ms_point::max()).done().has_value());
}
