// Spans written as <number><unit>, as in `--expires 30d` or `--grace 24h`.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "util/time_point.hpp"

namespace api {

// h hours, d days, w weeks, m calendar months, y calendar years (both in UTC).
struct Span {
  std::int64_t count = 0;
  char unit = 'd';
};

// Parses "<n><h|d|w|m|y>" with 1 <= n and the whole span at most 100 years. Throws
// std::invalid_argument saying what is accepted (the caller names the option and value).
Span parseSpan(std::string_view text);

// `from` moved forward by `span`; a month or year keeps the day of month where it exists and
// takes the month's last day otherwise (Jan 31 + 1m = Feb 28/29).
TimePoint addSpan(TimePoint from, Span span);

// `from` moved back by `span`, with the same calendar rules as addSpan.
TimePoint subtractSpan(TimePoint from, Span span);

// As parseSpan, but also accepts "0" followed by a unit (no span), for grace periods.
Span parseSpanAllowZero(std::string_view text);

// The span as parseSpan reads it, e.g. "30d": parseSpan (parseSpanAllowZero for a count of
// 0) of the text gives back `span`.
std::string spanText(Span span);

}  // namespace api
