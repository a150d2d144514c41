// CLI adapters for rate limiting: api:ratelimit:{status,reset,update}, and the rate-limit
// section that api:keys:info shows.
#pragma once

#include <boost/json/object.hpp>
#include <string>
#include <string_view>

#include "cli/terminal.hpp"
#include "services/rate_limit_service.hpp"

namespace api {

class ApiModule;

int rateLimitStatus(ApiModule& module, std::string_view args_json, const Terminal& terminal);
int rateLimitReset(ApiModule& module, std::string_view args_json, const Terminal& terminal);
int rateLimitUpdate(ApiModule& module, std::string_view args_json, const Terminal& terminal);

// The status as the documented JSON object, and as text lines (with a usage bar and the
// warnings), shared with api:keys:info.
boost::json::object limitStatusObject(const LimitStatus& status, TimePoint now);
std::string limitStatusText(const LimitStatus& status, TimePoint now, std::int64_t sub_windows);

}  // namespace api
