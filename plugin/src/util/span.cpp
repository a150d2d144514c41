#include "util/span.hpp"

#include <charconv>
#include <chrono>
#include <stdexcept>
#include <string>

namespace api {
namespace {

using namespace std::chrono;

constexpr std::string_view kAccepted =
    "use <number><h|d|w|m|y> (hours, days, weeks, months, years), e.g. 30d";

std::int64_t maxCount(char unit) {
  switch (unit) {
    case 'h':
      return 100LL * 366 * 24;
    case 'd':
      return 100LL * 366;
    case 'w':
      return 100LL * 53;
    case 'm':
      return 100LL * 12;
    case 'y':
      return 100;
    default:
      return -1;
  }
}

Span parse(std::string_view text, bool allow_zero) {
  if (text.size() < 2) {
    throw std::invalid_argument(std::string(kAccepted));
  }
  Span span;
  span.unit = text.back();
  const std::string_view number = text.substr(0, text.size() - 1);
  const auto [end, ec] = std::from_chars(number.data(), number.data() + number.size(), span.count);
  const std::int64_t max = maxCount(span.unit);
  if (max < 0 || ec == std::errc::invalid_argument || end != number.data() + number.size()) {
    throw std::invalid_argument(std::string(kAccepted));
  }
  if (ec == std::errc::result_out_of_range || span.count > max) {
    throw std::invalid_argument("too long: at most 100 years (" + std::to_string(max) +
                                std::string(1, span.unit) + ")");
  }
  if (span.count < (allow_zero ? 0 : 1)) {
    throw std::invalid_argument(allow_zero ? "must not be negative"
                                           : "must be at least 1; " + std::string(kAccepted));
  }
  return span;
}

}  // namespace

Span parseSpan(std::string_view text) {
  return parse(text, false);
}
Span parseSpanAllowZero(std::string_view text) {
  return parse(text, true);
}

std::string spanText(Span span) {
  return std::to_string(span.count) + span.unit;
}

TimePoint addSpan(TimePoint from, Span span) {
  switch (span.unit) {
    case 'h':
      return from + hours(span.count);
    case 'd':
      return from + days(span.count);
    case 'w':
      return from + weeks(span.count);
    case 'm':
    case 'y': {
      const auto day_start = floor<days>(from);
      const auto time_of_day = from - day_start;
      year_month_day ymd(day_start);
      ymd += span.unit == 'm' ? months(span.count) : months(span.count * 12);
      if (!ymd.ok()) {
        ymd = ymd.year() / ymd.month() / last;
      }
      return time_point_cast<milliseconds>(sys_days(ymd) + time_of_day);
    }
    default:
      throw std::invalid_argument(std::string(kAccepted));
  }
}

TimePoint subtractSpan(TimePoint from, Span span) {
  span.count = -span.count;
  return addSpan(from, span);
}

}  // namespace api
