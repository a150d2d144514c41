#include "cli/commands.hpp"

#include <array>
#include <string>

#include "cli/key_commands.hpp"
#include "cli/rate_limit_commands.hpp"
#include "cli/usage_commands.hpp"
#include "domain/errors.hpp"
#include "systemprompt/module_abi.h"

namespace api {
namespace {

constexpr std::array kCommands{
    CommandEntry{"api:keys:create", &keysCreate},
    CommandEntry{"api:keys:list", &keysList},
    CommandEntry{"api:keys:info", &keysInfo},
    CommandEntry{"api:keys:revoke", &keysRevoke},
    CommandEntry{"api:keys:rotate", &keysRotate},
    CommandEntry{"api:keys:verify", &keysVerify},
    CommandEntry{"api:ratelimit:status", &rateLimitStatus},
    CommandEntry{"api:ratelimit:reset", &rateLimitReset},
    CommandEntry{"api:ratelimit:update", &rateLimitUpdate},
    CommandEntry{"api:usage", &usageCommand},
};
static_assert(kCommands.size() == kCommandCount);

}  // namespace

std::span<const CommandEntry> commandTable() {
  return kCommands;
}

int runCommandEntry(const CommandEntry& entry, const Services& services, std::string_view args_json,
                    const Terminal& terminal) {
  const CommandArgs args(args_json);
  try {
    const int exit_code = entry.handler(services, args, terminal);
    if (terminal.outFailed() && exit_code == SP_EXIT_OK) {
      terminal.err("error: the output could not be written to standard output\n");
      return SP_EXIT_FAILURE;
    }
    return exit_code;
  } catch (const InvalidInput& e) {
    terminal.err("error: " + std::string(e.what()) + "\n");
    return SP_EXIT_USAGE;
  } catch (const NotFound& e) {
    terminal.err("error: " + std::string(e.what()) + "\n");
    return SP_EXIT_FAILURE;
  } catch (const Conflict& e) {
    terminal.err("error: " + std::string(e.what()) + "\n");
    return SP_EXIT_FAILURE;
  }
}

}  // namespace api
