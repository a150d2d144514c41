// CLI adapters for rate limiting: api:ratelimit:{status,reset,update}, and the rate-limit
// section that api:keys:info shows.
#pragma once

#include <string>
#include <string_view>

#include "cli/args.hpp"
#include "cli/output.hpp"
#include "cli/terminal.hpp"
#include "services/rate_limit_service.hpp"
#include "services/services.hpp"

namespace api {

int rateLimitStatus(const Services& services, const CommandArgs& args, const Terminal& terminal);
int rateLimitReset(const Services& services, const CommandArgs& args, const Terminal& terminal);
int rateLimitUpdate(const Services& services, const CommandArgs& args, const Terminal& terminal);

// The status as text lines (with a usage bar and the warnings), shared with api:keys:info;
// at most 75 columns wide, the bar and warnings coloured when style.colour.
std::string limitStatusText(const LimitStatus& status, TimePoint now, std::int64_t sub_windows,
                            const OutputStyle& style = {});

}  // namespace api
