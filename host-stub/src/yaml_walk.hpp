// The YAML walk: reading module.yaml's nodes with errors that name the file, line, column
// and key path, and turning `config:` into JSON under a budget, so that aliases cannot make
// a few hundred bytes expand into billions of values. Knows YAML, not what a manifest holds
// (that is manifest.cpp's job).
#pragma once

#include <yaml-cpp/yaml.h>

#include <boost/json/value.hpp>
#include <set>
#include <string>
#include <string_view>
#include <vector>

namespace host::yaml {

// Where in which file a node sits, and its key path ("commands[2].options[0]",
// `config."a.b"`), for errors.
class Where {
 public:
  Where(std::string file, std::string path) : file_(std::move(file)), path_(std::move(path)) {}

  // A key that is not a plain name ([A-Za-z0-9_-]+) is quoted, so that a key written
  // "config.x" never reads as the key x inside config.
  Where key(const std::string& k) const;
  Where index(size_t i) const { return {file_, path_ + "[" + std::to_string(i) + "]"}; }

  // Throws ManifestError "<file>:<line>:<column>: <path>: <what>" (the position when the
  // node has one).
  [[noreturn]] void fail(const YAML::Node& node, const std::string& what) const;

 private:
  std::string file_;
  std::string path_;
};

// `s` in double quotes, as it was written (manifest text is checked UTF-8 before the walk).
std::string inQuotes(const std::string& s);
// A scalar in quotes, or "a non-scalar value": how an error shows what it found.
std::string scalarText(const YAML::Node& node);

// The keys of a mapping, in order. Each must be a plain scalar, and appear once: YAML
// parsers disagree on which of two equal keys wins, so neither does.
std::vector<std::string> mappingKeys(const YAML::Node& map, const Where& where);
// mappingKeys' checks, and every key one of `keys` (the error lists them).
void allowOnlyKeys(const YAML::Node& map, const Where& where, const std::set<std::string>& keys);
void requireMap(const YAML::Node& node, const Where& where);

// parent[key] as a non-empty string; an error when it is absent, null or not a scalar.
std::string requireString(const YAML::Node& parent, const std::string& key, const Where& where);
// parent[key] as a string, empty when absent or null.
std::string optionalString(const YAML::Node& parent, const std::string& key, const Where& where);
// parent[key] as `true`/`false`, `fallback` when absent or null.
bool optionalBool(const YAML::Node& parent, const std::string& key, const Where& where,
                  bool fallback);

// A number written as text, as JSON: an integer when parseInteger reads it, else a double.
// The one rule for YAML plain scalars and for config overrides alike.
// REQUIRED: parseNumber(text).
boost::json::value jsonNumber(std::string_view text);

// YAML to JSON. A quoted scalar stays a string; a plain one becomes null, a boolean or a
// number when it reads as one. Every mapping passes mappingKeys' checks. Aliases are
// expanded, and counted: past 100,000 values, 1 MiB of scalar text or 64 levels of nesting
// the walk stops with an error at the node where the budget ran out.
boost::json::value toJson(const YAML::Node& node, const Where& where);

}  // namespace host::yaml
