// CLI adapter for usage analytics: api:usage, the activity chart, and the last-24-hours
// section of api:keys:info.
#pragma once

#include <boost/json/object.hpp>
#include <string>
#include <string_view>

#include "cli/terminal.hpp"
#include "usage/usage_service.hpp"

namespace api {

class ApiModule;

int usageCommand(ApiModule& module, std::string_view args_json, const Terminal& terminal);

// Requests per bucket as horizontal bars scaled to the busiest bucket, `width` characters
// at most, with the count and errors after each bar; one line per bucket.
std::string renderActivityChart(const UsageStats& stats, int width = 40);

// The documented JSON of api:usage.
boost::json::object usageObject(const UsageStats& stats, std::string_view period);
// The short summary api:keys:info shows for one key.
std::string keyUsageText(const UsageStats& stats);

// 1234567 -> "1,234,567".
std::string withThousands(std::int64_t n);

}  // namespace api
