// The clocks' monotonic readings and waits: a ManualClock's wait is released by advance()
// once its deadline is reached, never before, and by a notify when its condition holds.
#include "domain/clock.hpp"

#include <boost/test/unit_test.hpp>
#include <future>

#include "util/time_text.hpp"

namespace {

using namespace std::chrono_literals;

struct Waiting {
  std::mutex mutex;
  std::condition_variable cv;
  bool done = false;
};

}  // namespace

BOOST_AUTO_TEST_SUITE(clocks)

BOOST_AUTO_TEST_CASE(the_system_clock_waits_on_steady_time) {
  const api::SystemClock clock;
  const api::MonotonicTime start = clock.monotonicNow();
  Waiting w;
  std::unique_lock lock(w.mutex);
  BOOST_TEST(!clock.waitUntil(lock, w.cv, start + 20ms, [&] { return w.done; }));
  BOOST_TEST((clock.monotonicNow() - start >= 20ms));
  BOOST_TEST(lock.owns_lock());
}

BOOST_AUTO_TEST_CASE(set_steps_the_wall_clock_only_and_advance_moves_both) {
  api::ManualClock clock(*api::parseIsoUtc("2026-12-01T00:00:00.000Z"));
  const api::MonotonicTime start = clock.monotonicNow();
  clock.set(*api::parseIsoUtc("2026-11-30T00:00:00.000Z"));  // a step back of a day
  BOOST_TEST(api::formatIsoUtc(clock.now()) == "2026-11-30T00:00:00.000Z");
  BOOST_TEST((clock.monotonicNow() == start));
  clock.advance(1500ms);
  BOOST_TEST(api::formatIsoUtc(clock.now()) == "2026-11-30T00:00:01.500Z");
  BOOST_TEST((clock.monotonicNow() - start == 1500ms));
}

BOOST_AUTO_TEST_CASE(a_manual_wait_ends_when_advance_reaches_its_deadline) {
  api::ManualClock clock(*api::parseIsoUtc("2026-12-01T00:00:00.000Z"));
  Waiting w;
  const api::MonotonicTime deadline = clock.monotonicNow() + 100ms;
  auto waited = std::async(std::launch::async, [&] {
    std::unique_lock lock(w.mutex);
    const bool done = clock.waitUntil(lock, w.cv, deadline, [&] { return w.done; });
    return std::make_pair(done, clock.monotonicNow());
  });
  BOOST_REQUIRE(clock.awaitWaiters(1, 30s));
  clock.advance(99ms);  // one short: the wait goes on, and stays registered
  BOOST_TEST((waited.wait_for(50ms) == std::future_status::timeout));
  BOOST_TEST(clock.awaitWaiters(1, 0ms));
  clock.advance(1ms);
  BOOST_REQUIRE((waited.wait_for(30s) == std::future_status::ready));
  const auto [done, at] = waited.get();
  BOOST_TEST(!done);
  BOOST_TEST((at == deadline));
  BOOST_TEST(!clock.awaitWaiters(1, 0ms));  // unregistered on the way out
}

BOOST_AUTO_TEST_CASE(a_manual_wait_ends_on_a_notify_once_its_condition_holds) {
  api::ManualClock clock(*api::parseIsoUtc("2026-12-01T00:00:00.000Z"));
  Waiting w;
  auto waited = std::async(std::launch::async, [&] {
    std::unique_lock lock(w.mutex);
    return clock.waitUntil(lock, w.cv, clock.monotonicNow() + 1h, [&] { return w.done; });
  });
  BOOST_REQUIRE(clock.awaitWaiters(1, 30s));
  {
    std::lock_guard lock(w.mutex);
    w.done = true;
  }
  w.cv.notify_all();
  BOOST_REQUIRE((waited.wait_for(30s) == std::future_status::ready));
  BOOST_TEST(waited.get());
}

BOOST_AUTO_TEST_SUITE_END()
