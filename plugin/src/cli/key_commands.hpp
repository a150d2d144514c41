// CLI adapters for the key life cycle: api:keys:{create,list,info,revoke,rotate,verify}.
#pragma once

#include <string_view>

#include "cli/args.hpp"
#include "cli/terminal.hpp"
#include "services/services.hpp"

namespace api {

int keysCreate(const Services& services, const CommandArgs& args, const Terminal& terminal);
int keysList(const Services& services, const CommandArgs& args, const Terminal& terminal);
int keysInfo(const Services& services, const CommandArgs& args, const Terminal& terminal);
int keysRevoke(const Services& services, const CommandArgs& args, const Terminal& terminal);
int keysRotate(const Services& services, const CommandArgs& args, const Terminal& terminal);
int keysVerify(const Services& services, const CommandArgs& args, const Terminal& terminal);

}  // namespace api
