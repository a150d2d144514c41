// Times as text: ISO-8601 UTC with milliseconds ("2026-11-25T06:30:00.123Z"), which sorts
// chronologically and is what the store and `--format json` use.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "clock.hpp"

namespace api {

std::string formatIsoUtc(TimePoint t);

// Accepts "YYYY-MM-DDTHH:MM:SS[.fff]" followed by "Z", an offset ("+02:00", "-0530",
// "+01") or nothing (UTC), and a space in place of the "T", as the original system's
// CURRENT_TIMESTAMP wrote. nullopt for anything else.
std::optional<TimePoint> parseIsoUtc(std::string_view text) noexcept;

// A span of time as a person would say it: "45s", "3m 20s", "2h 5m", "29d 23h".
std::string formatSpan(std::chrono::milliseconds span);

}  // namespace api
