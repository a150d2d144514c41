// The YAML walk: located errors for module.yaml's nodes and YAML to JSON under an alias
// expansion budget.
#include "yaml_walk.hpp"

#include <algorithm>
#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/string.hpp>
#include <map>

#include "manifest.hpp"

namespace host::yaml {
namespace {

namespace json = boost::json;

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

json::value walk(const YAML::Node& node, const Where& where, ExpansionBudget& budget,
                 size_t depth) {
  budget.spend(node, where, depth);
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      mappingKeys(node, where);
      json::object object;
      for (const auto& item : node) {
        object[item.first.Scalar()] =
            walk(item.second, where.key(item.first.Scalar()), budget, depth + 1);
      }
      return object;
    }
    case YAML::NodeType::Sequence: {
      json::array array;
      for (size_t i = 0; i < node.size(); ++i) {
        array.push_back(walk(node[i], where.index(i), budget, depth + 1));
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
        return jsonNumber(text);
      }
      return json::string(text);
    }
    default:
      return nullptr;
  }
}

}  // namespace

Where Where::key(const std::string& k) const {
  const bool plain = !k.empty() && std::all_of(k.begin(), k.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
  });
  std::string shown = k;
  if (!plain) {  // quoted with " and \ escaped, so that no key reads as two
    shown = "\"";
    for (const char c : k) {
      if (c == '"' || c == '\\') {
        shown += '\\';
      }
      shown += c;
    }
    shown += '"';
  }
  return {file_, path_.empty() ? shown : path_ + "." + shown};
}

void Where::fail(const YAML::Node& node, const std::string& what) const {
  std::string at = file_;
  const YAML::Mark mark = node.Mark();
  if (!node.IsNull() || mark.line >= 0) {
    if (mark.line >= 0) {
      at += ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
    }
  }
  throw ManifestError(at + ": " + (path_.empty() ? "" : path_ + ": ") + what);
}

std::string inQuotes(const std::string& s) {
  return "\"" + s + "\"";
}

std::string scalarText(const YAML::Node& node) {
  return node.IsScalar() ? inQuotes(node.Scalar()) : std::string("a non-scalar value");
}

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

void requireMap(const YAML::Node& node, const Where& where) {
  if (!node.IsMap()) {
    where.fail(node, "must be a mapping of keys to values");
  }
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

json::value jsonNumber(std::string_view text) {
  if (const auto integer = parseInteger(text)) {
    return *integer;
  }
  return *parseNumber(text);
}

json::value toJson(const YAML::Node& node, const Where& where) {
  ExpansionBudget budget;
  return walk(node, where, budget, 0);
}

}  // namespace host::yaml
