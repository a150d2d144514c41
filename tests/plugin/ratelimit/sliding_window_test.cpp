// The sliding-window engine's edge cases, one by one, with figures worked out by hand.
#include "ratelimit/sliding_window.hpp"

#include <boost/test/unit_test.hpp>

#include "util/time_text.hpp"

namespace {

using namespace std::chrono_literals;
using api::SlidingWindow;
using api::WindowShape;
using api::WindowVerdict;

api::TimePoint at(std::int64_t ms) {
  return api::TimePoint(std::chrono::milliseconds(ms));
}
std::int64_t ms(api::TimePoint t) {
  return t.time_since_epoch().count();
}

constexpr WindowShape kHourOf60{3'600'000 /* window_ms */, 60 /* sub_windows */};
constexpr WindowShape kTenSecondsOf10{10'000 /* window_ms */, 10 /* sub_windows */};

}  // namespace

BOOST_AUTO_TEST_SUITE(sliding_window)

BOOST_AUTO_TEST_CASE(the_sub_window_length_and_the_read_plan) {
  static_assert(kHourOf60.subWindowMs() == 60'000);
  static_assert(WindowShape{1'000, 1}.subWindowMs() == 1'000);
  const SlidingWindow w(kTenSecondsOf10, at(123'456));
  BOOST_TEST(w.consumeStartMs() == 123'000);
  BOOST_TEST(w.firstReadMs() == 114'000);  // the nine sub-windows before the current one
  // Before the epoch sub-windows are still floor(t / S), not rounded toward zero.
  const SlidingWindow early(kTenSecondsOf10, at(-1));
  BOOST_TEST(early.consumeStartMs() == -1'000);
  BOOST_TEST(early.firstReadMs() == -10'000);
}

BOOST_AUTO_TEST_CASE(an_empty_window_admits_and_a_consumed_request_counts_in_the_current_one) {
  SlidingWindow w(kTenSecondsOf10, at(50'500));
  const api::WindowDecision d = w.decide(3 /* limit */, 2 /* cost */, true);
  BOOST_TEST(d.admitted);
  BOOST_TEST((d.verdict == WindowVerdict::kAdmitted));
  BOOST_TEST(d.remaining == 1);
  BOOST_TEST(ms(d.reset_at) == 60'000);  // sub-window 50 s .. 51 s slides out at 60 s
  BOOST_TEST(!d.retry_after.has_value());
  const api::WindowStatus s = w.status(3 /* limit */);
  BOOST_TEST(s.used == 2);
  BOOST_TEST(s.remaining == 1);
  BOOST_TEST(ms(s.window_start) == 41'000);
  BOOST_TEST(ms(s.window_end) == 51'000);
  BOOST_TEST(ms(s.reset_at) == 60'000);
}

BOOST_AUTO_TEST_CASE(a_peek_counts_nothing_and_reset_at_is_now_when_nothing_counts) {
  SlidingWindow w(kTenSecondsOf10, at(50'500));
  const api::WindowDecision d = w.decide(3 /* limit */, 3 /* cost */, false);
  BOOST_TEST(d.admitted);
  BOOST_TEST(d.remaining == 0);
  BOOST_TEST(ms(d.reset_at) == 50'500);
  BOOST_TEST(w.status(3 /* limit */).used == 0);
}

BOOST_AUTO_TEST_CASE(a_full_window_before_a_fixed_boundary_stays_full_after_it) {
  // README's example: L = 100, W = 1 h, N = 60; 100 requests at 10:59:59.
  const api::TimePoint filled = *api::parseIsoUtc("2026-01-01T10:59:59.000Z");
  SlidingWindow w(kHourOf60, *api::parseIsoUtc("2026-01-01T11:00:00.500Z"));
  w.addCount(ms(filled), 100);
  const api::WindowDecision d = w.decide(100 /* limit */, 1 /* cost */, true);
  BOOST_TEST(!d.admitted);
  BOOST_TEST((d.verdict == WindowVerdict::kOverLimit));
  BOOST_TEST(d.remaining == 0);
  BOOST_TEST(api::formatIsoUtc(d.reset_at) == "2026-01-01T11:59:00.000Z");
  BOOST_REQUIRE(d.retry_after.has_value());
  BOOST_TEST(d.retry_after->count() == (58 * 60 + 59) * 1000 + 500);
  SlidingWindow later(kHourOf60, *api::parseIsoUtc("2026-01-01T11:59:00.000Z"));
  later.addCount(ms(filled), 100);
  BOOST_TEST(later.decide(100 /* limit */, 1 /* cost */, true).admitted);
}

BOOST_AUTO_TEST_CASE(a_cost_above_the_limit_can_never_pass) {
  SlidingWindow w(kTenSecondsOf10, at(50'000));
  w.addCount(45'000, 1);
  const api::WindowDecision d = w.decide(3 /* limit */, 4 /* cost */, true);
  BOOST_TEST(!d.admitted);
  BOOST_TEST((d.verdict == WindowVerdict::kCostExceedsLimit));
  BOOST_TEST(!d.retry_after.has_value());
  BOOST_TEST(d.remaining == 2);
  BOOST_TEST(ms(d.reset_at) == 55'000);
  BOOST_TEST(w.status(3 /* limit */).used == 1);  // nothing was counted
}

BOOST_AUTO_TEST_CASE(usage_above_a_lowered_limit_refuses_and_shows_nothing_remaining) {
  SlidingWindow w(kTenSecondsOf10, at(50'000));
  w.addCount(42'000, 4);
  w.addCount(49'000, 4);
  const api::WindowDecision d = w.decide(5 /* limit */, 2 /* cost */, false);
  BOOST_TEST(!d.admitted);
  BOOST_TEST(d.remaining == 0);
  // 42 s sliding out is not enough for a cost of 2: 49 s must too, which it does at 59 s.
  BOOST_REQUIRE(d.retry_after.has_value());
  BOOST_TEST(d.retry_after->count() == 9'000);
  BOOST_TEST(w.status(5 /* limit */).remaining == 0);
}

BOOST_AUTO_TEST_CASE(sub_windows_before_the_read_range_are_ignored_and_any_time_inside_counts) {
  SlidingWindow w(kTenSecondsOf10, at(50'000));
  w.addCount(40'999, 100);  // ended with the run's first sub-window: before firstReadMs()
  w.addCount(41'999, 1);    // a time inside sub-window 41 s counts for it
  const api::WindowStatus s = w.status(10 /* limit */);
  BOOST_TEST(s.used == 1);
  BOOST_TEST(ms(s.reset_at) == 51'000);
}

BOOST_AUTO_TEST_CASE(after_a_clock_step_back_every_run_containing_now_is_checked) {
  // N = 3: a request counted in k + 2 (before the clock stepped back) shares the run
  // k .. k + 2 with k, so nothing more fits in k although k - 2 .. k is empty.
  SlidingWindow w(WindowShape{3'000, 3}, at(10'000));
  w.addCount(12'000, 1);
  const api::WindowDecision d = w.decide(1 /* limit */, 1 /* cost */, true);
  BOOST_TEST(!d.admitted);
  BOOST_TEST((d.verdict == WindowVerdict::kOverLimit));
  // Sub-windows 11 .. 14 each share a run with 12; 15 is the first clear one.
  BOOST_REQUIRE(d.retry_after.has_value());
  BOOST_TEST(d.retry_after->count() == 5'000);
  BOOST_TEST(ms(d.reset_at) == 10'000);  // nothing counted in the runs ending at now
}

BOOST_AUTO_TEST_CASE(retry_after_looks_past_every_counted_sub_window_after_a_step_back) {
  // The case the store test seeds: 10 s sub-windows, N = 2, requests in k + 1 and k + 3.
  SlidingWindow w(WindowShape{20'000, 2}, at(1'000'005));
  w.addCount(1'010'000, 1);
  w.addCount(1'030'000, 1);
  const api::WindowDecision d = w.decide(1 /* limit */, 1 /* cost */, true);
  BOOST_TEST(!d.admitted);
  BOOST_REQUIRE(d.retry_after.has_value());
  BOOST_TEST(d.retry_after->count() == 1'050'000 - 1'000'005);
}

BOOST_AUTO_TEST_CASE(retry_after_is_not_computed_past_the_look_ahead_bound) {
  const WindowShape shape{1 /* window_ms */, 1 /* sub_windows */};  // 1 ms, one sub-window
  // Every sub-window from now up to and past kMaxLookAhead is full: no fit within the bound.
  SlidingWindow full(shape, at(0));
  for (std::int64_t k = 0; k <= api::kMaxLookAhead + 10; ++k) {
    full.addCount(k, 1);
  }
  const api::WindowDecision none = full.decide(1 /* limit */, 1 /* cost */, true);
  BOOST_TEST(!none.admitted);
  BOOST_TEST((none.verdict == WindowVerdict::kOverLimit));
  BOOST_TEST(!none.retry_after.has_value());

  // Full up to just before the bound, then one far beyond it: the gap is found.
  SlidingWindow gap(shape, at(0));
  for (std::int64_t k = 0; k < api::kMaxLookAhead - 5; ++k) {
    gap.addCount(k, 1);
  }
  gap.addCount(api::kMaxLookAhead + 100, 1);
  const api::WindowDecision found = gap.decide(1 /* limit */, 1 /* cost */, true);
  BOOST_REQUIRE(found.retry_after.has_value());
  BOOST_TEST(found.retry_after->count() == api::kMaxLookAhead - 5);

  // One request a billion sub-windows ahead neither costs memory nor blocks anything.
  SlidingWindow far(shape, at(0));
  far.addCount(1'000'000'000, 1);
  far.addCount(0, 1);
  const api::WindowDecision next = far.decide(1 /* limit */, 1 /* cost */, true);
  BOOST_REQUIRE(next.retry_after.has_value());
  BOOST_TEST(next.retry_after->count() == 1);
}

BOOST_AUTO_TEST_CASE(reset_at_after_a_consumed_request_counts_it) {
  SlidingWindow w(kTenSecondsOf10, at(50'000));
  w.addCount(49'000, 1);
  // The oldest counted sub-window is 49 s whether or not this one counts...
  BOOST_TEST(ms(w.decide(5 /* limit */, 1 /* cost */, true).reset_at) == 59'000);
  // ...and when only the new request counts, it is the one that slides out.
  SlidingWindow alone(kTenSecondsOf10, at(50'000));
  BOOST_TEST(ms(alone.decide(5 /* limit */, 1 /* cost */, true).reset_at) == 60'000);
}

BOOST_AUTO_TEST_SUITE_END()
