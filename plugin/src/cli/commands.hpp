// The api module's CLI commands: thin adapters that parse arguments, call one service
// method and format the result. Names and options are declared in module.yaml.
#pragma once

#include <span>
#include <string_view>

#include "cli/terminal.hpp"

namespace api {

class ApiModule;

// Returns an exit code (SP_EXIT_*). May throw; the caller turns exceptions into exit 1.
using CommandHandler = int (*)(ApiModule& module, std::string_view args_json,
                               const Terminal& terminal);

struct CommandEntry {
  std::string_view name;  // as in module.yaml, e.g. "api:keys:create"
  CommandHandler handler;
};

inline constexpr size_t kCommandCount = 10;

std::span<const CommandEntry> commandTable();

// Runs `entry`, turning the services' expected failures into exit codes with a message on
// stderr: InvalidInput exits 2, NotFound and Conflict exit 1. Anything else propagates.
int runCommandEntry(const CommandEntry& entry, ApiModule& module, std::string_view args_json,
                    const Terminal& terminal);

}  // namespace api
