#include "manifest.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <set>

#include "text.hpp"

namespace host {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;

// Where in which file a node sits, and its key path, for error messages.
class Where {
 public:
  Where(std::string file, std::string path) : file_(std::move(file)), path_(std::move(path)) {}

  Where key(const std::string& k) const { return {file_, path_.empty() ? k : path_ + "." + k}; }
  Where index(size_t i) const { return {file_, path_ + "[" + std::to_string(i) + "]"}; }

  [[noreturn]] void fail(const YAML::Node& node, const std::string& what) const {
    std::string at = file_;
    const YAML::Mark mark = node.Mark();
    if (!node.IsNull() || mark.line >= 0) {
      if (mark.line >= 0) {
        at += ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
      }
    }
    throw ManifestError(at + ": " + (path_.empty() ? "" : path_ + ": ") + what);
  }

 private:
  std::string file_;
  std::string path_;
};

std::string inQuotes(const std::string& s) {
  return "\"" + s + "\"";
}

std::string scalarText(const YAML::Node& node) {
  return node.IsScalar() ? inQuotes(node.Scalar()) : std::string("a non-scalar value");
}

// The keys of a mapping, in order. Each must be a plain scalar, and appear once: YAML
// parsers disagree on which of two equal keys wins, so neither does.
std::vector<std::string> mappingKeys(const YAML::Node& map, const Where& where) {
  std::vector<std::string> keys;
  std::map<std::string, YAML::Mark> first_seen;
  for (const auto& item : map) {
    if (!item.first.IsScalar()) {
      where.fail(item.first, "a key must be a plain string, not a list or mapping");
    }
    const std::string& k = item.first.Scalar();
    if (const auto [it, fresh] = first_seen.emplace(k, item.first.Mark()); !fresh) {
      where.key(k).fail(
          item.first, "duplicate key (first at line " + std::to_string(it->second.line + 1) + ")");
    }
    keys.push_back(k);
  }
  return keys;
}

void allowOnlyKeys(const YAML::Node& map, const Where& where, const std::set<std::string>& keys) {
  mappingKeys(map, where);
  for (const auto& item : map) {
    const std::string& k = item.first.Scalar();
    if (keys.count(k) == 0) {
      std::string accepted;
      for (const auto& a : keys) {
        accepted += (accepted.empty() ? "" : ", ") + a;
      }
      where.key(k).fail(item.first, "unknown key; accepted here: " + accepted);
    }
  }
}

const YAML::Node requireMap(const YAML::Node& node, const Where& where) {
  if (!node.IsMap()) {
    where.fail(node, "must be a mapping of keys to values");
  }
  return node;
}

std::string requireString(const YAML::Node& parent, const std::string& key, const Where& where) {
  const YAML::Node node = parent[key];
  if (!node.IsDefined() || node.IsNull()) {
    where.key(key).fail(parent, "is required");
  }
  if (!node.IsScalar() || node.Scalar().empty()) {
    where.key(key).fail(node, "must be a non-empty string, got " + scalarText(node));
  }
  return node.Scalar();
}

std::string optionalString(const YAML::Node& parent, const std::string& key, const Where& where) {
  const YAML::Node node = parent[key];
  if (!node.IsDefined() || node.IsNull()) {
    return {};
  }
  if (!node.IsScalar()) {
    where.key(key).fail(node, "must be a string");
  }
  return node.Scalar();
}

bool optionalBool(const YAML::Node& parent, const std::string& key, const Where& where,
                  bool fallback) {
  const YAML::Node node = parent[key];
  if (!node.IsDefined() || node.IsNull()) {
    return fallback;
  }
  if (node.IsScalar() && (node.Scalar() == "true" || node.Scalar() == "false")) {
    return node.Scalar() == "true";
  }
  where.key(key).fail(node, "must be true or false, got " + scalarText(node));
}

bool matches(const std::string& s, const std::function<bool(char)>& ok, size_t max) {
  return !s.empty() && s.size() <= max && std::all_of(s.begin(), s.end(), ok);
}

bool isIdentChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

// REQUIRED: parseNumber(text).
json::value numberValue(const std::string& text) {
  if (const auto integer = parseInteger(text)) {
    return *integer;
  }
  return *parseNumber(text);
}

// What converting one config may cost. YAML aliases let a few hundred bytes name a tree of
// billions of nodes ("billion laughs"): the walk counts what it expands and stops at these.
struct ExpansionBudget {
  static constexpr size_t kMaxNodes = 100'000;
  static constexpr size_t kMaxScalarBytes = 1 << 20;
  static constexpr size_t kMaxDepth = 64;
  size_t nodes = 0;
  size_t scalar_bytes = 0;

  void spend(const YAML::Node& node, const Where& where, size_t depth) {
    ++nodes;
    if (node.IsScalar()) {
      scalar_bytes += node.Scalar().size();
    }
    if (nodes > kMaxNodes || scalar_bytes > kMaxScalarBytes || depth > kMaxDepth) {
      where.fail(node, "too large once its aliases are expanded (more than " +
                           std::to_string(kMaxNodes) + " values, " +
                           std::to_string(kMaxScalarBytes) + " bytes of text or " +
                           std::to_string(kMaxDepth) +
                           " levels of nesting); aliases may repeat a value, not multiply the "
                           "config");
    }
  }
};

// YAML to JSON. A quoted scalar stays a string; a plain one becomes null, a boolean or a
// number when it reads as one.
json::value toJson(const YAML::Node& node, const Where& where, ExpansionBudget& budget,
                   size_t depth) {
  budget.spend(node, where, depth);
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      mappingKeys(node, where);
      json::object object;
      for (const auto& item : node) {
        object[item.first.Scalar()] =
            toJson(item.second, where.key(item.first.Scalar()), budget, depth + 1);
      }
      return object;
    }
    case YAML::NodeType::Sequence: {
      json::array array;
      for (size_t i = 0; i < node.size(); ++i) {
        array.push_back(toJson(node[i], where.index(i), budget, depth + 1));
      }
      return array;
    }
    case YAML::NodeType::Scalar: {
      const std::string& text = node.Scalar();
      if (node.Tag() == "!") {
        return json::string(text);
      }
      if (text == "true" || text == "false") {
        return text == "true";
      }
      if (text == "~" || text == "null") {
        return nullptr;
      }
      if (parseNumber(text)) {
        return numberValue(text);
      }
      return json::string(text);
    }
    default:
      return nullptr;
  }
}

ValueType parseType(const YAML::Node& parent, const Where& where) {
  const YAML::Node node = parent["type"];
  if (!node.IsDefined() || node.IsNull()) {
    return ValueType::kString;
  }
  const std::string t = node.IsScalar() ? node.Scalar() : "";
  if (t == "string") {
    return ValueType::kString;
  }
  if (t == "number") {
    return ValueType::kNumber;
  }
  if (t == "integer") {
    return ValueType::kInteger;
  }
  if (t == "boolean") {
    return ValueType::kBoolean;
  }
  where.key("type").fail(node,
                         scalarText(node) + " is not one of string, number, integer, boolean");
}

OptionSpec parseOption(const YAML::Node& node, const Where& where) {
  requireMap(node, where);
  allowOnlyKeys(node, where, {"name", "alias", "type", "required", "default", "description"});
  OptionSpec option;
  option.name = requireString(node, "name", where);
  if (!matches(option.name, isIdentChar, 40) || !std::isalpha(option.name[0])) {
    where.key("name").fail(node["name"], inQuotes(option.name) +
                                             " must be 1..40 characters of [a-z0-9_-], "
                                             "starting with a letter");
  }
  option.alias = optionalString(node, "alias", where);
  if (!option.alias.empty() &&
      (option.alias.size() != 1 || !std::isalnum(static_cast<unsigned char>(option.alias[0])))) {
    where.key("alias").fail(node["alias"],
                            inQuotes(option.alias) + " must be a single letter or digit");
  }
  option.type = parseType(node, where);
  option.required = optionalBool(node, "required", where, false);
  option.description = optionalString(node, "description", where);
  const YAML::Node def = node["default"];
  if (def.IsDefined() && !def.IsNull()) {
    if (!def.IsScalar()) {
      where.key("default").fail(def, "must be a single value");
    }
    if (option.type == ValueType::kBoolean) {
      where.key("default").fail(def, "a boolean option is a flag: it is false unless given");
    }
    if (option.type == ValueType::kNumber && !parseNumber(def.Scalar())) {
      where.key("default").fail(def, scalarText(def) + " is not a number");
    }
    if (option.type == ValueType::kInteger && !parseInteger(def.Scalar())) {
      where.key("default").fail(def, scalarText(def) + " is not a whole number");
    }
    if (option.required) {
      where.key("default").fail(def, "a required option cannot have a default");
    }
    option.default_value = def.Scalar();
  }
  if (option.required && option.type == ValueType::kBoolean) {
    where.key("required").fail(node["required"], "a boolean option cannot be required");
  }
  return option;
}

PositionalSpec parsePositional(const YAML::Node& node, const Where& where) {
  requireMap(node, where);
  allowOnlyKeys(node, where, {"name", "type", "required", "description"});
  PositionalSpec positional;
  positional.name = requireString(node, "name", where);
  if (!matches(positional.name, isIdentChar, 40)) {
    where.key("name").fail(node["name"],
                           inQuotes(positional.name) + " must be 1..40 characters of [a-z0-9_-]");
  }
  positional.type = parseType(node, where);
  if (positional.type == ValueType::kBoolean) {
    where.key("type").fail(node["type"], "a positional argument cannot be a boolean");
  }
  positional.required = optionalBool(node, "required", where, true);
  positional.description = optionalString(node, "description", where);
  return positional;
}

CommandSpec parseCommand(const YAML::Node& node, const Where& where, const std::string& module) {
  requireMap(node, where);
  allowOnlyKeys(node, where, {"name", "description", "options", "positionals"});
  CommandSpec command;
  command.module = module;
  command.name = requireString(node, "name", where);
  const std::string prefix = module + ":";
  const bool shaped = command.name.size() > prefix.size() &&
                      command.name.compare(0, prefix.size(), prefix) == 0 &&
                      matches(
                          command.name, [](char c) { return isIdentChar(c) || c == ':'; }, 80);
  if (!shaped) {
    where.key("name").fail(node["name"], inQuotes(command.name) + " must start with \"" + prefix +
                                             "\" followed by [a-z0-9:_-]");
  }
  command.description = requireString(node, "description", where);
  std::set<std::string> names;
  std::set<std::string> aliases;
  if (const YAML::Node options = node["options"]; options.IsDefined() && !options.IsNull()) {
    if (!options.IsSequence()) {
      where.key("options").fail(options, "must be a list");
    }
    for (size_t i = 0; i < options.size(); ++i) {
      const Where w = where.key("options").index(i);
      OptionSpec option = parseOption(options[i], w);
      if (option.name == "help" || option.alias == "h") {
        w.fail(options[i], "--help and -h are reserved for the host");
      }
      if (!names.insert(option.name).second) {
        w.key("name").fail(options[i]["name"], inQuotes(option.name) + " is declared twice");
      }
      if (!option.alias.empty() && !aliases.insert(option.alias).second) {
        w.key("alias").fail(options[i]["alias"], inQuotes(option.alias) + " is declared twice");
      }
      command.options.push_back(std::move(option));
    }
  }
  if (const YAML::Node positionals = node["positionals"];
      positionals.IsDefined() && !positionals.IsNull()) {
    if (!positionals.IsSequence()) {
      where.key("positionals").fail(positionals, "must be a list");
    }
    bool seen_optional = false;
    for (size_t i = 0; i < positionals.size(); ++i) {
      const Where w = where.key("positionals").index(i);
      PositionalSpec positional = parsePositional(positionals[i], w);
      if (!names.insert(positional.name).second) {
        w.key("name").fail(positionals[i]["name"],
                           inQuotes(positional.name) + " is already an option or positional");
      }
      if (positional.required && seen_optional) {
        w.key("required")
            .fail(positionals[i], "a required positional cannot follow an optional one");
      }
      seen_optional = seen_optional || !positional.required;
      command.positionals.push_back(std::move(positional));
    }
  }
  return command;
}

ServiceSpec parseService(const YAML::Node& node, const Where& where) {
  requireMap(node, where);
  allowOnlyKeys(node, where, {"name", "version", "description"});
  ServiceSpec service;
  service.name = requireString(node, "name", where);
  const std::string version = requireString(node, "version", where);
  unsigned major = 0;
  unsigned minor = 0;
  const char* begin = version.data();
  const char* end = begin + version.size();
  auto r1 = std::from_chars(begin, end, major);
  bool ok = r1.ec == std::errc() && r1.ptr != end && *r1.ptr == '.';
  if (ok) {
    auto r2 = std::from_chars(r1.ptr + 1, end, minor);
    ok = r2.ec == std::errc() && r2.ptr == end;
  }
  if (!ok) {
    where.key("version").fail(node["version"],
                              inQuotes(version) + " must be MAJOR.MINOR, e.g. \"1.0\"");
  }
  service.version_major = major;
  service.version_minor = minor;
  service.description = optionalString(node, "description", where);
  return service;
}

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
    target = numberValue(o.value);
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

// Everything of loadManifest after the YAML parse.
ModuleManifest readManifest(const YAML::Node& root, const std::string& file,
                            const std::vector<ConfigOverride>& overrides) {
  const Where where(file, "");
  if (!root.IsMap()) {
    where.fail(root, "must be a mapping with at least name, type, version and library");
  }
  allowOnlyKeys(root, where,
                {"name", "type", "version", "description", "library", "dependencies", "config",
                 "commands", "exports"});
  ModuleManifest m;
  m.manifest_path = file;
  m.name = requireString(root, "name", where);
  if (!matches(m.name, isIdentChar, 40) || !std::isalpha(m.name[0])) {
    where.key("name").fail(root["name"], inQuotes(m.name) +
                                             " must be 1..40 characters of [a-z0-9_-], "
                                             "starting with a letter");
  }
  m.type = requireString(root, "type", where);
  if (m.type != "core" && m.type != "service" && m.type != "extension") {
    where.key("type").fail(root["type"],
                           inQuotes(m.type) + " is not one of core, service, extension");
  }
  m.version = requireString(root, "version", where);
  m.description = optionalString(root, "description", where);
  const std::string library = requireString(root, "library", where);
  const fs::path lib_path(library);
  m.library = (lib_path.is_absolute() ? lib_path : fs::path(file).parent_path() / lib_path)
                  .lexically_normal()
                  .string();

  if (const YAML::Node deps = root["dependencies"]; deps.IsDefined() && !deps.IsNull()) {
    if (!deps.IsSequence()) {
      where.key("dependencies").fail(deps, "must be a list of module names");
    }
    for (size_t i = 0; i < deps.size(); ++i) {
      if (!deps[i].IsScalar() || deps[i].Scalar().empty()) {
        where.key("dependencies").index(i).fail(deps[i], "must be a module name");
      }
      m.dependencies.push_back(deps[i].Scalar());
    }
  }

  json::object config;
  if (const YAML::Node cfg = root["config"]; cfg.IsDefined() && !cfg.IsNull()) {
    requireMap(cfg, where.key("config"));
    ExpansionBudget budget;
    config = toJson(cfg, where.key("config"), budget, 0).as_object();
  }
  std::map<std::string, ConfigOverride> overridden;  // by key: the override that won
  for (const auto& kv : json::object(config)) {
    const std::string key(kv.key());
    const std::string variable = overrideVariable(m.name, key);
    if (const char* value = std::getenv(variable.c_str()); value != nullptr) {
      const ConfigOverride o{m.name, key, value, variable};
      applyOverride(config, o, file);
      overridden.insert_or_assign(key, o);
    }
  }
  for (const ConfigOverride& o : overrides) {
    if (o.module == m.name) {
      applyOverride(config, o, file);
      overridden.insert_or_assign(o.key, o);
    }
  }
  if (auto it = config.find("cleanupInterval"); it != config.end()) {
    const json::value& v = it->value();
    if (v.is_int64() && v.as_int64() > 0) {
      m.cleanup_interval_ms = v.as_int64();
    } else {
      const std::string expected = "must be a positive whole number of milliseconds, got ";
      if (const auto o = overridden.find("cleanupInterval"); o != overridden.end()) {
        throw OverrideError(o->second.origin + ": config.cleanupInterval " + expected +
                            quotedText(o->second.value));
      }
      const YAML::Node node = root["config"]["cleanupInterval"];
      where.key("config.cleanupInterval").fail(node, expected + scalarText(node));
    }
  }
  m.config_json = json::serialize(config);

  std::set<std::string> command_names;
  if (const YAML::Node commands = root["commands"]; commands.IsDefined() && !commands.IsNull()) {
    if (!commands.IsSequence()) {
      where.key("commands").fail(commands, "must be a list");
    }
    for (size_t i = 0; i < commands.size(); ++i) {
      const Where w = where.key("commands").index(i);
      CommandSpec command = parseCommand(commands[i], w, m.name);
      if (!command_names.insert(command.name).second) {
        w.key("name").fail(commands[i]["name"], inQuotes(command.name) + " is declared twice");
      }
      m.commands.push_back(std::move(command));
    }
  }
  if (const YAML::Node exports = root["exports"]; exports.IsDefined() && !exports.IsNull()) {
    if (!exports.IsSequence()) {
      where.key("exports").fail(exports, "must be a list of services");
    }
    std::set<std::pair<std::string, std::uint32_t>> services;  // two majors may coexist
    for (size_t i = 0; i < exports.size(); ++i) {
      const Where w = where.key("exports").index(i);
      ServiceSpec service = parseService(exports[i], w);
      if (!services.emplace(service.name, service.version_major).second) {
        w.key("version").fail(exports[i]["version"], inQuotes(service.name) + " major version " +
                                                         std::to_string(service.version_major) +
                                                         " is declared twice");
      }
      m.exports.push_back(std::move(service));
    }
  }
  return m;
}

}  // namespace

std::optional<std::int64_t> parseInteger(std::string_view text) {
  const bool negative = !text.empty() && text.front() == '-';
  const std::string_view digits = negative ? text.substr(1) : text;
  if (digits.empty() ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return std::nullopt;
  }
  std::int64_t value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) {
    return std::nullopt;  // out of range
  }
  return value;
}

std::optional<double> parseNumber(std::string_view text) {
  if (text.empty()) {
    return std::nullopt;
  }
  double value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || !std::isfinite(value)) {
    return std::nullopt;
  }
  return value;
}

bool isValidUtf8(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const auto byte = [&](size_t at) { return static_cast<unsigned char>(text[at]); };
    const unsigned char lead = byte(i);
    size_t length = 0;
    unsigned char low = 0x80;   // the range of the second byte, which rules out overlong forms,
    unsigned char high = 0xBF;  // surrogates and code points past U+10FFFF
    if (lead < 0x80) {
      length = 1;
    } else if (lead >= 0xC2 && lead <= 0xDF) {
      length = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
      length = 3;
      low = lead == 0xE0 ? 0xA0 : 0x80;
      high = lead == 0xED ? 0x9F : 0xBF;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
      length = 4;
      low = lead == 0xF0 ? 0x90 : 0x80;
      high = lead == 0xF4 ? 0x8F : 0xBF;
    } else {
      return false;
    }
    if (text.size() - i < length) {
      return false;
    }
    for (size_t k = 1; k < length; ++k) {
      const unsigned char c = byte(i + k);
      if (k == 1 ? (c < low || c > high) : (c < 0x80 || c > 0xBF)) {
        return false;
      }
    }
    i += length;
  }
  return true;
}

const char* valueTypeName(ValueType type) {
  switch (type) {
    case ValueType::kString:
      return "string";
    case ValueType::kNumber:
      return "number";
    case ValueType::kInteger:
      return "integer";
    case ValueType::kBoolean:
      return "boolean";
  }
  return "?";
}

const std::vector<std::string>& builtinDependencies() {
  static const std::vector<std::string> kBuiltins{"crypto", "database", "logger"};
  return kBuiltins;
}

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

ModuleManifest loadManifest(const std::string& path, const std::vector<ConfigOverride>& overrides) {
  std::error_code ec;
  const fs::path absolute = fs::absolute(path, ec);
  const std::string file = ec ? path : absolute.lexically_normal().string();
  constexpr std::uintmax_t kMaxManifestBytes = 1 << 20;
  if (const auto size = fs::file_size(file, ec); !ec && size > kMaxManifestBytes) {
    throw ManifestError(file + ": the file is " + std::to_string(size) + " bytes, more than the " +
                        std::to_string(kMaxManifestBytes) + " a module.yaml may be");
  }
  std::ifstream in(file, std::ios::binary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in && !in.eof()) {
    throw ManifestError(file + ": cannot read the file");
  }
  // YAML is Unicode text, and everything read from it reaches module config JSON and
  // terminals: a byte that is not UTF-8 is refused, naming its line.
  if (!isValidUtf8(text)) {
    size_t line = 1;
    size_t start = 0;
    for (size_t end = text.find('\n'); start <= text.size(); end = text.find('\n', start)) {
      const size_t stop = end == std::string::npos ? text.size() : end;
      if (!isValidUtf8(std::string_view(text).substr(start, stop - start))) {
        break;
      }
      ++line;
      start = stop + 1;
    }
    throw ManifestError(file + ":" + std::to_string(line) + ": not valid UTF-8");
  }
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::ParserException& e) {
    throw ManifestError(file + ":" + std::to_string(e.mark.line + 1) + ":" +
                        std::to_string(e.mark.column + 1) + ": not valid YAML: " + e.msg);
  }
  try {
    return readManifest(root, file, overrides);
  } catch (const YAML::Exception& e) {  // a conversion the checks above did not foresee
    const std::string at = e.mark.is_null() ? ""
                                            : ":" + std::to_string(e.mark.line + 1) + ":" +
                                                  std::to_string(e.mark.column + 1);
    throw ManifestError(file + at + ": " + e.msg);
  }
}

std::vector<ModuleManifest> discoverModules(const std::string& modules_dir,
                                            const std::vector<ConfigOverride>& overrides) {
  std::error_code ec;
  if (!fs::is_directory(modules_dir, ec)) {
    throw ManifestError("modules directory '" + modules_dir +
                        "' does not exist or is not a directory (set it with --modules-dir or "
                        "PROMPT_MODULES_DIR)");
  }
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(modules_dir, ec)) {
    const fs::path candidate = entry.path() / "module.yaml";
    if (entry.is_directory() && fs::exists(candidate)) {
      files.push_back(candidate.string());
    }
  }
  std::sort(files.begin(), files.end());
  std::vector<ModuleManifest> modules;
  std::map<std::string, std::string> owner_of_command;
  std::map<std::string, std::string> file_of_module;
  for (const std::string& file : files) {
    ModuleManifest m = loadManifest(file, overrides);
    if (auto [it, fresh] = file_of_module.emplace(m.name, m.manifest_path); !fresh) {
      throw ManifestError(m.manifest_path + ": name: module \"" + m.name +
                          "\" is also declared by " + it->second);
    }
    for (const CommandSpec& c : m.commands) {
      if (auto [it, fresh] = owner_of_command.emplace(c.name, m.name); !fresh) {
        throw ManifestError(m.manifest_path + ": commands: \"" + c.name +
                            "\" is also declared by module \"" + it->second + "\"");
      }
    }
    modules.push_back(std::move(m));
  }
  std::sort(modules.begin(), modules.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  const auto& builtins = builtinDependencies();
  for (const ModuleManifest& m : modules) {
    for (const std::string& dep : m.dependencies) {
      const bool builtin = std::find(builtins.begin(), builtins.end(), dep) != builtins.end();
      if (!builtin && file_of_module.count(dep) == 0) {
        std::string message = m.manifest_path;
        message += ": dependencies: module \"";
        message += dep;
        message += "\" is not installed in ";
        message += modules_dir;
        throw ManifestError(message);
      }
    }
  }
  for (const ConfigOverride& o : overrides) {
    if (file_of_module.count(o.module) == 0) {
      throw OverrideError(o.origin + ": no module named " + quotedText(o.module) +
                          " is installed in " + modules_dir);
    }
  }
  // Reject cycles now, so loadOrder can trust the graph.
  std::map<std::string, int> state;  // 0 new, 1 visiting, 2 done
  std::function<void(const ModuleManifest&)> visit = [&](const ModuleManifest& m) {
    state[m.name] = 1;
    for (const std::string& dep : m.dependencies) {
      auto it = std::find_if(modules.begin(), modules.end(),
                             [&](const auto& x) { return x.name == dep; });
      if (it == modules.end()) {
        continue;
      }
      if (state[dep] == 1) {
        throw ManifestError(m.manifest_path + ": dependencies: \"" + m.name + "\" and \"" + dep +
                            "\" depend on each other");
      }
      if (state[dep] == 0) {
        visit(*it);
      }
    }
    state[m.name] = 2;
  };
  for (const ModuleManifest& m : modules) {
    if (state[m.name] == 0) {
      visit(m);
    }
  }
  return modules;
}

std::vector<const ModuleManifest*> loadOrder(const std::vector<ModuleManifest>& all,
                                             const std::vector<std::string>& wanted) {
  std::vector<const ModuleManifest*> order;
  std::set<std::string> placed;
  std::function<void(const std::string&)> place = [&](const std::string& name) {
    if (placed.count(name) != 0) {
      return;
    }
    auto it = std::find_if(all.begin(), all.end(), [&](const auto& m) { return m.name == name; });
    if (it == all.end()) {
      return;  // a builtin facility
    }
    placed.insert(name);
    for (const std::string& dep : it->dependencies) {
      place(dep);
    }
    order.push_back(&*it);
  };
  for (const std::string& name : wanted) {
    place(name);
  }
  return order;
}

}  // namespace host
