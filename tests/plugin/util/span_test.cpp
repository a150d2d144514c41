#include "util/span.hpp"

#include <boost/test/unit_test.hpp>
#include <stdexcept>

#include "util/time_text.hpp"

namespace {

api::TimePoint at(const char* iso) {
  return *api::parseIsoUtc(iso);
}

std::string errorOf(const char* text) {
  try {
    api::parseSpan(text);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(span)

BOOST_AUTO_TEST_CASE(adds_hours_days_weeks_and_calendar_months_and_years) {
  const auto start = at("2026-01-31T10:00:00.000Z");
  BOOST_TEST(api::formatIsoUtc(api::addSpan(start, api::parseSpan("5h"))) ==
             "2026-01-31T15:00:00.000Z");
  BOOST_TEST(api::formatIsoUtc(api::addSpan(start, api::parseSpan("30d"))) ==
             "2026-03-02T10:00:00.000Z");
  BOOST_TEST(api::formatIsoUtc(api::addSpan(start, api::parseSpan("2w"))) ==
             "2026-02-14T10:00:00.000Z");
  BOOST_TEST(api::formatIsoUtc(api::addSpan(start, api::parseSpan("1m"))) ==
             "2026-02-28T10:00:00.000Z");  // clamped to the month's last day
  BOOST_TEST(api::formatIsoUtc(api::addSpan(at("2028-01-31T00:00:00Z"), api::parseSpan("1m"))) ==
             "2028-02-29T00:00:00.000Z");  // leap year
  BOOST_TEST(api::formatIsoUtc(api::addSpan(at("2028-02-29T00:00:00Z"), api::parseSpan("1y"))) ==
             "2029-02-28T00:00:00.000Z");
  BOOST_TEST(api::formatIsoUtc(api::addSpan(start, api::parseSpan("100y"))) ==
             "2126-01-31T10:00:00.000Z");
}

BOOST_AUTO_TEST_CASE(rejects_bad_spans_with_what_is_accepted) {
  BOOST_TEST(errorOf("30x").find("use <number><h|d|w|m|y>") != std::string::npos);
  BOOST_TEST(errorOf("d").find("use <number>") != std::string::npos);
  BOOST_TEST(errorOf("").find("use <number>") != std::string::npos);
  BOOST_TEST(errorOf("1.5d").find("use <number>") != std::string::npos);
  BOOST_TEST(errorOf("0d").find("at least 1") != std::string::npos);
  BOOST_TEST(errorOf("-3d").find("at least 1") != std::string::npos);
  BOOST_TEST(errorOf("99999999999y").find("at most 100 years") != std::string::npos);
  BOOST_TEST(errorOf("999999999999999999999999d").find("at most 100 years") != std::string::npos);
  BOOST_TEST(errorOf("101y").find("at most 100 years") != std::string::npos);
  BOOST_TEST(api::parseSpanAllowZero("0h").count == 0);
}

BOOST_AUTO_TEST_CASE(a_span_prints_as_the_text_that_parses_back_to_it) {
  BOOST_TEST(api::spanText(api::parseSpan("30d")) == "30d");
  BOOST_TEST(api::spanText(api::parseSpan("007h")) == "7h");  // leading zeros are not kept
  BOOST_TEST(api::spanText(api::parseSpanAllowZero("-0h")) == "0h");
  const api::Span longest = api::parseSpan("100y");
  const api::Span again = api::parseSpan(api::spanText(longest));
  BOOST_TEST(again.count == longest.count);
  BOOST_TEST(again.unit == longest.unit);
}

BOOST_AUTO_TEST_CASE(iso_times_round_trip_and_accept_the_original_systems_format) {
  const auto t = at("2026-11-25T06:30:00.123Z");
  BOOST_TEST(api::formatIsoUtc(t) == "2026-11-25T06:30:00.123Z");
  BOOST_TEST(api::formatIsoUtc(at("2026-11-25 06:30:00")) == "2026-11-25T06:30:00.000Z");
  BOOST_TEST(!api::parseIsoUtc("2026-13-01T00:00:00Z"));
  BOOST_TEST(!api::parseIsoUtc("2026-02-30T00:00:00Z"));
  BOOST_TEST(!api::parseIsoUtc("yesterday"));
  BOOST_TEST(!api::parseIsoUtc("2026-11-25T06:30:00.Z"));
  // Years 0000..9999 only, the same on both sides: what is written parses back, and a time
  // that could not be written is refused, not written in a form the parser refuses.
  BOOST_TEST(api::formatIsoUtc(api::kEarliestTime) == "0000-01-01T00:00:00.000Z");
  BOOST_TEST(api::formatIsoUtc(api::kLatestTime) == "9999-12-31T23:59:59.999Z");
  BOOST_TEST((api::parseIsoUtc("0000-01-01T00:00:00.000Z") == api::kEarliestTime));
  BOOST_TEST((api::parseIsoUtc("9999-12-31T23:59:59.999Z") == api::kLatestTime));
  BOOST_CHECK_THROW(api::formatIsoUtc(api::kEarliestTime - std::chrono::milliseconds(1)),
                    std::out_of_range);
  BOOST_CHECK_THROW(api::formatIsoUtc(api::kLatestTime + std::chrono::milliseconds(1)),
                    std::out_of_range);
  BOOST_TEST(!api::parseIsoUtc("0000-01-01T00:30:00+01:00"));  // before year 0
  BOOST_TEST(!api::parseIsoUtc("9999-12-31T23:30:00-01:00"));  // after year 9999
  BOOST_TEST(api::formatSpan(std::chrono::hours(24 * 29 + 23)) == "29d 23h");
  BOOST_TEST(api::formatSpan(std::chrono::seconds(200)) == "3m 20s");
  BOOST_TEST(api::formatSpan(-std::chrono::seconds(200)) == "3m 20s");  // a magnitude
  // The most negative span has no positive counterpart: no overflow (fuzz reproducer).
  BOOST_TEST(api::formatSpan(std::chrono::milliseconds::min()) == "106751991167d 7h");
}

BOOST_AUTO_TEST_SUITE_END()
