// Config overrides: a module's `config:` values replaced by PROMPT_<MODULE>_<KEY> environment
// variables and by `--set <module>.<key>=<value>`, each typed against the value it replaces.
// The host checks only that an override fits the type module.yaml gives the key; what a key
// means and which values it accepts is the module's business (config stays opaque JSON).
#pragma once

#include <boost/json/object.hpp>
#include <string>
#include <vector>

#include "manifest.hpp"

namespace host {

// The environment variable that overrides `key` of `module`: PROMPT_, the module name and
// the camelCase key in UPPER_SNAKE (PROMPT_API_DATABASE_PATH for api's databasePath).
std::string overrideVariable(const std::string& module, const std::string& key);

// Applies to `config` (module `module`'s, read from `file`) first every environment
// variable set for one of its keys, then every override in `overrides` for `module`, in
// order, so a later --set wins. Throws OverrideError naming the override's origin: a key
// the config does not declare, a value not valid UTF-8 or not of the key's type, a list or
// mapping.
void applyConfigOverrides(boost::json::object& config, const std::string& module,
                          const std::string& file, const std::vector<ConfigOverride>& overrides);

}  // namespace host
