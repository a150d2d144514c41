// The command-line surface generated from module manifests: argument parsing (Boost.
// Program_options), help texts and "did you mean" suggestions.
#pragma once

#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "manifest.hpp"

namespace host {

// A usage error: exit code 2, message on stderr.
class UsageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct ParsedArgs {
  bool help = false;      // --help or -h was given: print the command's help instead
  std::string args_json;  // the arguments as a JSON object (see sp_module_command_fn)
};

// The longest single argument accepted, in bytes: a longer one is refused before any work.
constexpr size_t kMaxArgumentBytes = size_t{64} * 1024;

// Throws UsageError naming the first of `words` (the arguments after the program name)
// longer than kMaxArgumentBytes, by position, with its length and how it starts (it is not
// echoed whole).
void checkArgumentSizes(const std::vector<std::string>& words);

// Parses `args` (the words after the command name) against `command`, as getopt_long does:
// --name value, --name=value, -n value, -nvalue, flags alone or together (-af), "--" ends
// the options. An option's value is the next word whatever it looks like; "-" and negative
// numbers ("-5") are positionals. An option given twice, an unknown one (named, with the
// nearest known one) and a positional too many (quoted) are errors. Values are checked
// to be valid UTF-8 and of their declared type (see ValueType), required options and
// positionals to be present; defaults are filled in and booleans are always present.
// Throws UsageError, whose message quotes a bad value as given, control characters escaped
// (see quotedText() in text.hpp).
ParsedArgs parseCommandArgs(const CommandSpec& command, const std::vector<std::string>& args);

// `prompt <command> --help`.
std::string commandHelp(const CommandSpec& command);

// `prompt help <name>` and `prompt <name> --help` for the host's own commands (health,
// serve, help); nullopt for any other name.
std::optional<std::string> hostCommandHelp(std::string_view name);

// `prompt --help`: usage, every command of every module, host commands, global options.
std::string overviewHelp(const std::vector<ModuleManifest>& modules);

// Known names closest to `unknown` (edit distance, plus names that contain it), best first.
std::vector<std::string> suggest(std::string_view unknown, const std::vector<std::string>& known);

}  // namespace host
