// CLI adapters for the key life cycle: api:keys:{create,list,info,revoke,rotate,verify}.
#pragma once

#include <string_view>

#include "cli/terminal.hpp"

namespace api {

class ApiModule;

int keysCreate(ApiModule& module, std::string_view args_json, const Terminal& terminal);
int keysList(ApiModule& module, std::string_view args_json, const Terminal& terminal);
int keysInfo(ApiModule& module, std::string_view args_json, const Terminal& terminal);
int keysRevoke(ApiModule& module, std::string_view args_json, const Terminal& terminal);
int keysRotate(ApiModule& module, std::string_view args_json, const Terminal& terminal);
int keysVerify(ApiModule& module, std::string_view args_json, const Terminal& terminal);

}  // namespace api
