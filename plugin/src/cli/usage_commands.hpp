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

// Requests per bucket as horizontal bars scaled to the busiest bucket, `width` characters
// at most, with the count and errors after each bar; one line per bucket.
std::string renderActivityChart(const UsageStats& stats, int width = 40);

// The short summary api:keys:info shows for one key.
std::string keyUsageText(const UsageStats& stats);

// 1234567 -> "1,234,567".
std::string withThousands(std::int64_t n);

}  // namespace api
