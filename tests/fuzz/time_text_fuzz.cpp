// Times as text (util/time_text.*).
//
// Properties:
//  - formatIsoUtc of any time in years 0..9999 is "YYYY-MM-DDTHH:MM:SS.mmmZ" and
//    parseIsoUtc reads it back as the same time;
//  - text parseIsoUtc accepts, once formatted, parses back to the same time (when that time
//    is in years 0..9999), so a stored time is canonical after one round;
//  - formatSpan of any span is "<n>s", "<n>m <n>s", "<n>h <n>m" or "<n>d <n>h" with every
//    part but the first below its unit's size.
//
//  - no accepted text, however its offset moves it, lies outside years 0..9999, and
//    formatIsoUtc refuses (std::out_of_range) every time outside them.
//
// Input: a mode byte; mode 0 reads the rest as text to parse, mode 1 as a time (8 bytes,
// reduced into years 0..9999) to format, mode 2 as a span (8 bytes, any value) to format.
#include <chrono>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>

#include "fuzz_check.hpp"
#include "util/time_text.hpp"

namespace {

using namespace std::chrono;

constexpr std::int64_t kYear0 = -62'167'219'200'000;     // 0000-01-01T00:00:00.000Z
constexpr std::int64_t kYear9999 = 253'402'300'799'999;  // 9999-12-31T23:59:59.999Z

std::uint64_t word(std::string_view bytes) {
  std::uint64_t raw = 0;
  std::memcpy(&raw, bytes.data(), std::min(bytes.size(), sizeof(raw)));
  return raw;
}

bool isDigit(char c) {
  return c >= '0' && c <= '9';
}

bool inFormattableRange(api::TimePoint t) {
  const std::int64_t ms = t.time_since_epoch().count();
  return ms >= kYear0 && ms <= kYear9999;
}

void checkRefused(api::TimePoint t) {
  try {
    (void)api::formatIsoUtc(t);
  } catch (const std::out_of_range&) {
    return;
  }
  FUZZ_CHECK(!"a time outside years 0..9999 was formatted");
}

void checkFormatted(api::TimePoint t) {
  const std::string text = api::formatIsoUtc(t);
  FUZZ_CHECK(text.size() == 24);
  constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:dd.dddZ";
  for (size_t i = 0; i < kShape.size(); ++i) {
    FUZZ_CHECK(kShape[i] == 'd' ? isDigit(text[i]) : text[i] == kShape[i]);
  }
  const auto back = api::parseIsoUtc(text);
  FUZZ_CHECK(back.has_value());
  FUZZ_CHECK(*back == t);
}

std::int64_t numberAt(std::string_view text, size_t& at) {
  std::int64_t n = 0;
  FUZZ_CHECK(at < text.size() && isDigit(text[at]));
  while (at < text.size() && isDigit(text[at])) {
    n = n * 10 + (text[at++] - '0');
  }
  return n;
}

void checkSpanText(milliseconds span) {
  const std::string text = api::formatSpan(span);
  size_t at = 0;
  numberAt(text, at);
  FUZZ_CHECK(at < text.size());
  const char first_unit = text[at++];
  if (first_unit == 's') {
    FUZZ_CHECK(at == text.size());
    FUZZ_CHECK(span < minutes(1) && span > -minutes(1));
    return;
  }
  FUZZ_CHECK(first_unit == 'm' || first_unit == 'h' || first_unit == 'd');
  FUZZ_CHECK(at < text.size() && text[at++] == ' ');
  const std::int64_t second = numberAt(text, at);
  FUZZ_CHECK(at + 1 == text.size());
  const char second_unit = text[at];
  const std::int64_t limit = first_unit == 'm' ? 60 : first_unit == 'h' ? 60 : 24;
  const char expected_unit = first_unit == 'm' ? 's' : first_unit == 'h' ? 'm' : 'h';
  FUZZ_CHECK(second_unit == expected_unit);
  FUZZ_CHECK(second < limit);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size) {
  fuzz::Reader in(fuzz::asText(data, size));
  const std::uint8_t mode = in.byte() % 3;
  if (mode == 0) {
    const auto parsed = api::parseIsoUtc(in.rest());
    if (parsed) {
      FUZZ_CHECK(inFormattableRange(*parsed));
      checkFormatted(*parsed);
    }
  } else if (mode == 1) {
    const std::uint64_t raw = word(in.rest());
    const api::TimePoint t(milliseconds(static_cast<std::int64_t>(raw)));
    if (inFormattableRange(t)) {
      checkFormatted(t);
    } else {
      checkRefused(t);
    }
    const std::uint64_t span = static_cast<std::uint64_t>(kYear9999 - kYear0) + 1;
    checkFormatted(api::TimePoint(milliseconds(kYear0 + static_cast<std::int64_t>(raw % span))));
  } else {
    checkSpanText(milliseconds(static_cast<std::int64_t>(word(in.rest()))));
  }
  return 0;
}
