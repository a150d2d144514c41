// Config overrides: environment variables and --set applied to a module's config, typed
// against the values they replace.
#include "config_overrides.hpp"

#include <cctype>
#include <cstdlib>

#include "text.hpp"
#include "yaml_walk.hpp"

namespace host {
namespace {

namespace json = boost::json;

void applyOverride(json::object& config, const ConfigOverride& o, const std::string& file) {
  auto it = config.find(o.key);
  if (it == config.end()) {
    std::string keys;
    for (const auto& kv : config) {
      keys += (keys.empty() ? "" : ", ") + std::string(kv.key());
    }
    throw OverrideError(o.origin + ": module '" + o.module + "' (" + file + ") has no config key " +
                        quotedText(o.key) + "; its keys: " + keys);
  }
  if (!isValidUtf8(o.value)) {
    throw OverrideError(o.origin + ": the value is not valid UTF-8");
  }
  json::value& target = it->value();
  if (target.is_int64() || target.is_uint64()) {
    const auto integer = parseInteger(o.value);
    if (!integer) {
      throw OverrideError(o.origin + ": " + quotedText(o.value) + " is not a whole number, and " +
                          o.module + "." + o.key + " is one");
    }
    target = *integer;
  } else if (target.is_double()) {
    if (!parseNumber(o.value)) {
      throw OverrideError(o.origin + ": " + quotedText(o.value) + " is not a number, and " +
                          o.module + "." + o.key + " is numeric");
    }
    target = yaml::jsonNumber(o.value);
  } else if (target.is_bool()) {
    if (o.value != "true" && o.value != "false") {
      throw OverrideError(o.origin + ": " + quotedText(o.value) + " must be true or false");
    }
    target = (o.value == "true");
  } else if (target.is_string() || target.is_null()) {
    target = json::string(o.value);
  } else {
    throw OverrideError(o.origin + ": " + o.module + "." + o.key +
                        " is a list or mapping and cannot be overridden");
  }
}

}  // namespace

std::string overrideVariable(const std::string& module, const std::string& key) {
  std::string name = "PROMPT_";
  for (char c : module) {
    name += std::isalnum(static_cast<unsigned char>(c)) ? static_cast<char>(std::toupper(c)) : '_';
  }
  name += '_';
  for (size_t i = 0; i < key.size(); ++i) {
    const auto c = static_cast<unsigned char>(key[i]);
    if (std::isupper(c) && i > 0 && !std::isupper(static_cast<unsigned char>(key[i - 1]))) {
      name += '_';
    }
    name += std::isalnum(c) ? static_cast<char>(std::toupper(c)) : '_';
  }
  return name;
}

void applyConfigOverrides(json::object& config, const std::string& module, const std::string& file,
                          const std::vector<ConfigOverride>& overrides) {
  // The keys as module.yaml declares them: an override never adds one, so walk a copy.
  for (const auto& kv : json::object(config)) {
    const std::string key(kv.key());
    const std::string variable = overrideVariable(module, key);
    if (const char* value = std::getenv(variable.c_str()); value != nullptr) {
      applyOverride(config, {module, key, value, variable}, file);
    }
  }
  for (const ConfigOverride& o : overrides) {
    if (o.module == module) {
      applyOverride(config, o, file);
    }
  }
}

}  // namespace host
