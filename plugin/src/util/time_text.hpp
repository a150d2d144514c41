// Times as text: ISO-8601 UTC with milliseconds ("2026-11-25T06:30:00.123Z"), which sorts
// chronologically and is what the store and `--format json` use.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "util/time_point.hpp"

namespace api {

// The times that have this form: years 0000 through 9999. Earlier and later ones would
// need a sign or a fifth digit, which neither sorts as text nor parses back.
inline constexpr TimePoint kEarliestTime{std::chrono::milliseconds(-62'167'219'200'000)};
inline constexpr TimePoint kLatestTime{std::chrono::milliseconds(253'402'300'799'999)};

// Throws std::out_of_range for a time outside kEarliestTime..kLatestTime, naming its
// milliseconds since the epoch: such a time is refused, never written in a form that
// parseIsoUtc would not read back.
std::string formatIsoUtc(TimePoint t);

// Accepts "YYYY-MM-DDTHH:MM:SS[.fff]" followed by "Z", an offset ("+02:00", "-0530",
// "+01") or nothing (UTC), and a space in place of the "T", as the original system's
// CURRENT_TIMESTAMP wrote. nullopt for anything else, and for a time that an offset puts
// outside kEarliestTime..kLatestTime: whatever it accepts, formatIsoUtc writes back.
std::optional<TimePoint> parseIsoUtc(std::string_view text) noexcept;

// A span of time as a person would say it: "45s", "3m 20s", "2h 5m", "29d 23h".
std::string formatSpan(std::chrono::milliseconds span);

}  // namespace api
