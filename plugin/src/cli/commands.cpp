#include "cli/commands.hpp"

#include <array>
#include <string>

#include "systemprompt/module_abi.h"

namespace api {
namespace {

// A command whose service has not been built yet. It says so and fails: it never pretends
// to have done anything.
template <const std::string_view& kName, const std::string_view& kArrivesWith>
int notImplemented(ApiModule& /*module*/, std::string_view /*args_json*/,
                   const Terminal& terminal) {
  terminal.err("error: " + std::string(kName) + " is not implemented yet (" +
               std::string(kArrivesWith) + " is not built in this version)\n");
  return SP_EXIT_FAILURE;
}

constexpr std::string_view kKeys = "API key management";
constexpr std::string_view kRateLimits = "rate limiting";
constexpr std::string_view kUsage = "usage analytics";

constexpr std::string_view kKeysCreate = "api:keys:create";
constexpr std::string_view kKeysList = "api:keys:list";
constexpr std::string_view kKeysInfo = "api:keys:info";
constexpr std::string_view kKeysRevoke = "api:keys:revoke";
constexpr std::string_view kRateLimitStatus = "api:ratelimit:status";
constexpr std::string_view kRateLimitReset = "api:ratelimit:reset";
constexpr std::string_view kRateLimitUpdate = "api:ratelimit:update";
constexpr std::string_view kUsageCmd = "api:usage";

constexpr std::array kCommands{
    CommandEntry{kKeysCreate, &notImplemented<kKeysCreate, kKeys>},
    CommandEntry{kKeysList, &notImplemented<kKeysList, kKeys>},
    CommandEntry{kKeysInfo, &notImplemented<kKeysInfo, kKeys>},
    CommandEntry{kKeysRevoke, &notImplemented<kKeysRevoke, kKeys>},
    CommandEntry{kRateLimitStatus, &notImplemented<kRateLimitStatus, kRateLimits>},
    CommandEntry{kRateLimitReset, &notImplemented<kRateLimitReset, kRateLimits>},
    CommandEntry{kRateLimitUpdate, &notImplemented<kRateLimitUpdate, kRateLimits>},
    CommandEntry{kUsageCmd, &notImplemented<kUsageCmd, kUsage>},
};

}  // namespace

std::span<const CommandEntry> commandTable() {
  return kCommands;
}

}  // namespace api
