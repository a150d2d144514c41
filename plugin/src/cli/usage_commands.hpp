// CLI adapter for usage analytics: api:usage, the activity chart, and the last-24-hours
// section of api:keys:info.
#pragma once

#include <string>
#include <string_view>

#include "cli/args.hpp"
#include "cli/terminal.hpp"
#include "services/services.hpp"
#include "usage/usage_service.hpp"

namespace api {

int usageCommand(const Services& services, const CommandArgs& args, const Terminal& terminal);

// How bars are drawn: Unicode block elements in eighths of a column (a UTF-8 terminal), or
// '#' per whole column.
enum class ChartGlyphs { kAscii, kUnicode };

// Requests per bucket as horizontal bars scaled to the busiest bucket, `width` columns at
// most, with the count and errors after each bar; one line per bucket. A bucket that is not
// over by the period's end is marked '*' and explained; a last line gives the scale.
std::string renderActivityChart(const UsageStats& stats, int width = 40,
                                ChartGlyphs glyphs = ChartGlyphs::kAscii);

// The short summary api:keys:info shows for one key.
std::string keyUsageText(const UsageStats& stats);

// 1234567 -> "1,234,567".
std::string withThousands(std::int64_t n);

}  // namespace api
