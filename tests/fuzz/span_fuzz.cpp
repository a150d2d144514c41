// Spans (util/span.*) and the --period parser of `api:usage` (UsageService::parsePeriod),
// built with UndefinedBehaviorSanitizer so an overflow in the count or the calendar
// arithmetic stops the run.
//
// Properties, for text any of the three parsers accepts:
//  - the count is in range (1 or 0 .. the unit's 100-year maximum), the unit one of hdwmy;
//  - spanText prints it as text that parses back to the same span, with every parser that
//    takes its count;
//  - parsePeriod accepts exactly what parseSpan does, and its refusal names the option;
//  - moving a time in years 1..9999 by the span (addSpan, subtractSpan) moves it the right
//    way by the right amount: exactly for h, d and w (and back again), within the months'
//    and years' lengths for m and y, keeping the time of day.
//
// Input: the span text, a newline, then up to 8 bytes that pick the time to move.
#include <chrono>
#include <cstdint>
#include <cstring>
#include <optional>
#include <stdexcept>
#include <string>

#include "domain/errors.hpp"
#include "fuzz_check.hpp"
#include "usage/usage_service.hpp"
#include "util/span.hpp"

namespace {

using namespace std::chrono;

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

template <typename Parse>
std::optional<api::Span> tryParse(Parse parse, std::string_view text) {
  try {
    return parse(text);
  } catch (const std::invalid_argument&) {
    return std::nullopt;
  }
}

bool same(const api::Span& a, const api::Span& b) {
  return a.count == b.count && a.unit == b.unit;
}

void checkShape(const api::Span& span, std::int64_t min) {
  FUZZ_CHECK(maxCount(span.unit) > 0);
  FUZZ_CHECK(span.count >= min);
  FUZZ_CHECK(span.count <= maxCount(span.unit));
}

// Years 1..9999, the range the calendar code is asked about (now plus at most 100 years).
api::TimePoint timeFrom(std::string_view bytes) {
  std::uint64_t raw = 0;
  std::memcpy(&raw, bytes.data(), std::min(bytes.size(), sizeof(raw)));
  constexpr std::int64_t kFirst = -62'135'596'800'000;  // 0001-01-01T00:00:00Z
  constexpr std::int64_t kLast = 253'402'300'799'999;   // 9999-12-31T23:59:59.999Z
  const auto offset = static_cast<std::int64_t>(raw % static_cast<std::uint64_t>(kLast - kFirst));
  return api::TimePoint(milliseconds(kFirst + offset));
}

void checkArithmetic(const api::Span& span, api::TimePoint from) {
  const api::TimePoint later = api::addSpan(from, span);
  const api::TimePoint earlier = api::subtractSpan(from, span);
  if (span.count == 0) {
    FUZZ_CHECK(later == from && earlier == from);
    return;
  }
  FUZZ_CHECK(later > from);
  FUZZ_CHECK(earlier < from);
  const auto time_of_day = [](api::TimePoint t) { return t - floor<days>(t); };
  switch (span.unit) {
    case 'h':
      FUZZ_CHECK(later - from == hours(span.count));
      FUZZ_CHECK(from - earlier == hours(span.count));
      break;
    case 'd':
    case 'w': {
      const days length = span.unit == 'd' ? days(span.count) : weeks(span.count);
      FUZZ_CHECK(later - from == length);
      FUZZ_CHECK(from - earlier == length);
      break;
    }
    default: {
      const std::int64_t months_moved = span.unit == 'm' ? span.count : span.count * 12;
      for (const auto moved : {later - from, from - earlier}) {
        FUZZ_CHECK(moved >= days(28 * months_moved));
        FUZZ_CHECK(moved <= days(31 * months_moved));
      }
      FUZZ_CHECK(time_of_day(later) == time_of_day(from));
      FUZZ_CHECK(time_of_day(earlier) == time_of_day(from));
      const year_month_day start{floor<days>(from)};
      const year_month_day end{floor<days>(later)};
      const auto month_index = [](const year_month_day& d) {
        return static_cast<std::int64_t>(static_cast<int>(d.year())) * 12 +
               static_cast<unsigned>(d.month());
      };
      FUZZ_CHECK(month_index(end) - month_index(start) == months_moved);
      const year_month_day_last last{end.year(), month_day_last{end.month()}};
      FUZZ_CHECK(end.day() == std::min(start.day(), last.day()));
      break;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size) {
  fuzz::Reader in(fuzz::asText(data, size));
  const std::string_view text = in.part('\n');
  const api::TimePoint from = timeFrom(in.rest());

  const auto strict = tryParse(api::parseSpan, text);
  const auto lenient = tryParse(api::parseSpanAllowZero, text);
  std::optional<api::Span> period;
  try {
    period = api::UsageService::parsePeriod(text, "--period");
  } catch (const api::InvalidInput& e) {
    FUZZ_CHECK(std::string_view(e.what()).find("invalid --period \"") == 0);
  }

  FUZZ_CHECK(period.has_value() == strict.has_value());
  if (strict) {
    checkShape(*strict, 1);
    FUZZ_CHECK(same(*period, *strict));
    FUZZ_CHECK(lenient && same(*lenient, *strict));
    const auto again = tryParse(api::parseSpan, api::spanText(*strict));
    FUZZ_CHECK(again && same(*again, *strict));
  }
  if (lenient) {
    checkShape(*lenient, 0);
    FUZZ_CHECK(strict.has_value() == (lenient->count >= 1));
    const auto again = tryParse(api::parseSpanAllowZero, api::spanText(*lenient));
    FUZZ_CHECK(again && same(*again, *lenient));
    checkArithmetic(*lenient, from);
  }
  return 0;
}
