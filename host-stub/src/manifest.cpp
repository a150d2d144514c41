// The manifest schema: module.yaml read into a ModuleManifest, every field checked against
// what the host accepts (names, types, commands, options, positionals, exports).
#include "manifest.hpp"

#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>
#include <cctype>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <set>

#include "config_overrides.hpp"
#include "text.hpp"
#include "yaml_walk.hpp"

namespace host {
namespace {

namespace fs = std::filesystem;
namespace json = boost::json;
using yaml::allowOnlyKeys;
using yaml::inQuotes;
using yaml::optionalBool;
using yaml::optionalString;
using yaml::requireMap;
using yaml::requireString;
using yaml::scalarText;
using yaml::Where;

bool matches(const std::string& s, const std::function<bool(char)>& ok, size_t max) {
  return !s.empty() && s.size() <= max && std::all_of(s.begin(), s.end(), ok);
}

bool isIdentChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
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
    yaml::requireMap(cfg, where.key("config"));
    config = yaml::toJson(cfg, where.key("config")).as_object();
  }
  applyConfigOverrides(config, m.name, file, overrides);
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

}  // namespace host
