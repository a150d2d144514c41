// RateLimitService's answers as the reference model's (window_oracle.hpp), for the suites that
// play the model's sequences against the service on each window store.
#pragma once

#include <boost/test/unit_test.hpp>

#include "services/rate_limit_service.hpp"
#include "window_oracle.hpp"

namespace testing_support {

// A check or peek of a live key: only the window's three outcomes may come back.
inline WindowAnswer windowAnswerOf(const api::LimitDecision& d) {
  BOOST_REQUIRE(d.outcome == api::LimitOutcome::kAllowed ||
                d.outcome == api::LimitOutcome::kOverLimit ||
                d.outcome == api::LimitOutcome::kCostExceedsLimit);
  BOOST_REQUIRE(d.allowed == (d.outcome == api::LimitOutcome::kAllowed));
  WindowAnswer a;
  a.allowed = d.allowed;
  a.cost_exceeds_limit = d.outcome == api::LimitOutcome::kCostExceedsLimit;
  a.remaining = d.remaining;
  a.reset_at_ms = d.reset_at.time_since_epoch().count();
  if (d.retry_after) {
    a.retry_after_ms = d.retry_after->count();
  }
  return a;
}

inline WindowStatusAnswer windowStatusOf(const api::LimitStatus& s) {
  return {s.used, s.remaining, s.window_start.time_since_epoch().count(),
          s.window_end.time_since_epoch().count(), s.reset_at.time_since_epoch().count()};
}

}  // namespace testing_support
