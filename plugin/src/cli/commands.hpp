// The api module's CLI commands: thin adapters that take the parsed arguments, call one
// service method and format the result. Names and options are declared in module.yaml.
//
// A handler sees only the narrow Services set (services/services.hpp), never ApiModule; a
// new command is one CommandHandler plus one row of commandTable() and of module.yaml.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

#include "cli/args.hpp"
#include "cli/terminal.hpp"
#include "services/services.hpp"

namespace api {

// Returns an exit code (SP_EXIT_*). May throw; runCommandEntry maps the services' expected
// failures, the caller turns anything else into exit 1.
using CommandHandler = int (*)(const Services& services, const CommandArgs& args,
                               const Terminal& terminal);

struct CommandEntry {
  std::string_view name;  // as in module.yaml, e.g. "api:keys:create"
  CommandHandler handler;
};

inline constexpr size_t kCommandCount = 10;

std::span<const CommandEntry> commandTable();

// Parses `args_json` once (std::invalid_argument when it is not a JSON object) and runs
// `entry`, turning the services' expected failures into exit codes with a message on
// stderr: InvalidInput exits 2, NotFound and Conflict exit 1. Anything else propagates.
int runCommandEntry(const CommandEntry& entry, const Services& services, std::string_view args_json,
                    const Terminal& terminal);

}  // namespace api
