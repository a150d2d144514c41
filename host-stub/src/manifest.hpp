// The manifest schema: what a module declares about itself in module.yaml (library,
// dependencies, config, CLI commands, exported services), read and validated before anything
// is loaded. The YAML walk is yaml_walk's, overrides config_overrides', and the checks of all
// manifests together (dependencies, load order) module_graph's.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace host {

// A module.yaml that cannot be used. The message starts with the file (and line, where
// known) and names the offending key, e.g.
//   /x/module.yaml:14:11: commands[2].options[0].type: "strng" is not one of ...
class ManifestError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A --set or PROMPT_<MODULE>_<KEY> override that does not fit the manifest: an unknown
// module or key, or a value not of the type of the key's default in module.yaml's config
// (a whole number, a number, true/false). A usage error (exit 2): the user's value is wrong,
// not the installation.
class OverrideError : public ManifestError {
 public:
  using ManifestError::ManifestError;
};

// The type of an option or positional. kInteger: an optional '-' and decimal digits, within
// int64 (passed as a JSON integer). kNumber: any finite decimal number, e.g. 2.5 or 1e3
// (passed as a JSON integer when it is one, else as a double).
enum class ValueType { kString, kNumber, kInteger, kBoolean };
const char* valueTypeName(ValueType type);

// `text` as a kInteger: an optional '-' followed by decimal digits, nothing else, within
// int64; nullopt otherwise ("+1", " 1", "1e3", "1.0" and "0x10" are not integers).
std::optional<std::int64_t> parseInteger(std::string_view text);
// `text` as a kNumber; nullopt when it is not a finite decimal number.
std::optional<double> parseNumber(std::string_view text);

struct OptionSpec {
  std::string name;   // long name without dashes: "name" is given as --name
  std::string alias;  // one character, or empty: "n" is given as -n
  ValueType type = ValueType::kString;
  bool required = false;
  std::optional<std::string> default_value;  // already checked against `type`
  std::string description;
};

struct PositionalSpec {
  std::string name;
  ValueType type = ValueType::kString;
  bool required = true;
  std::string description;
};

struct CommandSpec {
  std::string name;  // "api:keys:create"
  std::string module;
  std::string description;
  std::vector<OptionSpec> options;
  std::vector<PositionalSpec> positionals;
};

struct ServiceSpec {
  std::string name;
  std::uint32_t version_major = 0;
  std::uint32_t version_minor = 0;
  std::string description;
};

// `--set module.key=value` or PROMPT_<MODULE>_<KEY>: replaces one config value.
struct ConfigOverride {
  std::string module;
  std::string key;
  std::string value;
  std::string origin;  // "--set api.x=1" or "PROMPT_API_X", for error messages
};

struct ModuleManifest {
  std::string manifest_path;  // absolute path of module.yaml
  std::string name;
  std::string type;  // core | service | extension
  std::string version;
  std::string description;
  std::string library;  // absolute path of the shared library
  std::vector<std::string> dependencies;
  // `config:` as a JSON object, overrides applied. Opaque to the host: the module alone
  // knows what its keys mean (its cleanup interval, say, it states in sp_module).
  std::string config_json;
  std::vector<CommandSpec> commands;
  std::vector<ServiceSpec> exports;
};

// Reads and validates one module.yaml. Config values are overridden first by environment
// variables PROMPT_<MODULE>_<KEY> (camelCase key in UPPER_SNAKE, e.g.
// PROMPT_API_DATABASE_PATH), then by `overrides` whose module matches. An override of a key
// the config does not declare, or of the wrong type, is an error. Throws ManifestError.
ModuleManifest loadManifest(const std::string& path, const std::vector<ConfigOverride>& overrides);

}  // namespace host
