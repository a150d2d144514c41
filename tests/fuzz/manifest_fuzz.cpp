// The manifest reader (host-stub/src/manifest.*): module.yaml text plus config overrides,
// given as `--set module.key=value` and PROMPT_<MODULE>_<KEY> environment variables.
//
// Properties, for a manifest loadManifest accepts:
//  - the only exception it throws is ManifestError;
//  - the file is valid UTF-8 (anything else is refused), and config_json is a JSON object
//    that serialises back to the same text, up to the last bit of a fractional or huge
//    number (see sameNumber);
//  - reading the same file with the same overrides again gives the same manifest;
//  - every override that applies shows in the config: the last --set of a key, else its
//    environment variable, with the value as given (text, true/false, or the number);
//  - the manifest has the shape loadManifest promises: names of [a-z0-9_-] starting with a
//    letter, commands named "<module>:...", options and positionals typed, defaults of
//    their option's type;
//  - config is opaque to the host: a refusal inside `config:` is about the YAML (not a
//    mapping, a duplicate or non-string key, the alias budget), never about what a value
//    says (corpus config-is-opaque: a negative cleanupInterval, which only the module
//    refuses).
//
//  - however its aliases nest, it costs a bounded amount: loadManifest stops expanding
//    them at 100,000 values, 1 MiB of text or 64 levels (libFuzzer's -timeout and
//    -rss_limit_mb catch a reader that does not).
//
// Input: the YAML, then (after a NUL byte) one override per line: "PROMPT_X=value" sets an
// environment variable for this run, "module.key=value" is a --set.
#include <unistd.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "config_overrides.hpp"
#include "fuzz_check.hpp"
#include "manifest.hpp"
#include "reference_text.hpp"

namespace {

namespace json = boost::json;

constexpr size_t kMaxOverrides = 8;

// One file per process, rewritten for every input: loadManifest reads a path.
class ScratchFile {
 public:
  ScratchFile() {
    const auto dir = std::filesystem::temp_directory_path();
    path_ = (dir / ("manifest_fuzz." + std::to_string(::getpid()) + ".yaml")).string();
  }
  ~ScratchFile() {
    std::error_code ec;
    std::filesystem::remove(path_, ec);
  }
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;

  const std::string& write(std::string_view text) {
    std::FILE* f = std::fopen(path_.c_str(), "wb");
    FUZZ_CHECK(f != nullptr);
    FUZZ_CHECK(std::fwrite(text.data(), 1, text.size(), f) == text.size());
    FUZZ_CHECK(std::fclose(f) == 0);
    return path_;
  }

 private:
  std::string path_;
};

// Sets environment variables for one input and removes them after it.
class ScopedEnvironment {
 public:
  ScopedEnvironment() = default;
  ScopedEnvironment(const ScopedEnvironment&) = delete;
  ScopedEnvironment& operator=(const ScopedEnvironment&) = delete;
  ~ScopedEnvironment() {
    for (const auto& [name, value] : values_) {
      ::unsetenv(name.c_str());
    }
  }
  void set(const std::string& name, const std::string& value) {
    FUZZ_CHECK(::setenv(name.c_str(), value.c_str(), 1) == 0);
    values_[name] = value.c_str();  // what the environment holds: up to the first NUL
  }
  const std::string* find(const std::string& name) const {
    const auto it = values_.find(name);
    return it == values_.end() ? nullptr : &it->second;
  }

 private:
  std::map<std::string, std::string> values_;
};

std::string describe(const host::ModuleManifest& m) {
  std::string out = m.manifest_path + "|" + m.name + "|" + m.type + "|" + m.version + "|" +
                    m.description + "|" + m.library + "|" + m.config_json + "|";
  for (const auto& d : m.dependencies) {
    out += "dep " + d + "|";
  }
  for (const auto& c : m.commands) {
    out += "cmd " + c.name + "|" + c.module + "|" + c.description + "|";
    for (const auto& o : c.options) {
      out += "opt " + o.name + "|" + o.alias + "|" + host::valueTypeName(o.type) + "|" +
             (o.required ? "r" : "-") + "|" + o.default_value.value_or("(none)") + "|" +
             o.description + "|";
    }
    for (const auto& p : c.positionals) {
      out += "pos " + p.name + "|" + host::valueTypeName(p.type) + "|" + (p.required ? "r" : "-") +
             "|" + p.description + "|";
    }
  }
  for (const auto& s : m.exports) {
    out += "svc " + s.name + "|" + std::to_string(s.version_major) + "." +
           std::to_string(s.version_minor) + "|" + s.description + "|";
  }
  return out;
}

bool isNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
}

bool isName(const std::string& s, size_t max) {
  if (s.empty() || s.size() > max) {
    return false;
  }
  for (char c : s) {
    if (!isNameChar(c)) {
      return false;
    }
  }
  return true;
}

bool isLetter(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

bool isAlnum(char c) {
  return isLetter(c) || (c >= '0' && c <= '9');
}

// Boost.JSON's parser (1.81, Debian 12) is not correctly rounded: "6E23", the shortest text
// of the double nearest 6e23 that its serializer writes, parses back one step lower. So a
// double that crosses JSON may arrive one unit in the last place away, and no closer check
// can hold on this Boost. Everything else (integers, strings, structure) must be exact.
bool sameNumber(double a, double b) {
  return a == b || std::nextafter(a, b) == b;
}

// Equal JSON, doubles compared by sameNumber.
bool sameJson(const json::value& a, const json::value& b) {
  if (a.is_double() && b.is_double()) {
    return sameNumber(a.as_double(), b.as_double());
  }
  if (a.kind() != b.kind()) {
    return false;
  }
  if (a.is_array()) {
    const json::array& x = a.as_array();
    const json::array& y = b.as_array();
    return x.size() == y.size() && std::equal(x.begin(), x.end(), y.begin(), sameJson);
  }
  if (a.is_object()) {
    const json::object& x = a.as_object();
    const json::object& y = b.as_object();
    if (x.size() != y.size()) {
      return false;
    }
    auto it = y.begin();
    for (const auto& [key, value] : x) {
      if (it->key() != key || !sameJson(value, it->value())) {
        return false;
      }
      ++it;
    }
    return true;
  }
  return a == b;
}

bool holdsDouble(const json::value& value) {
  if (value.is_double()) {
    return true;
  }
  if (value.is_array()) {
    const json::array& items = value.as_array();
    return std::any_of(items.begin(), items.end(), holdsDouble);
  }
  if (value.is_object()) {
    const json::object& items = value.as_object();
    return std::any_of(items.begin(), items.end(),
                       [](const json::key_value_pair& kv) { return holdsDouble(kv.value()); });
  }
  return false;
}

// Whether `value` is what an override of `text` makes of a config value.
bool holdsOverride(const json::value& value, const std::string& text) {
  if (value.is_string()) {
    return value.as_string() == text;
  }
  if (value.is_bool()) {
    return text == (value.as_bool() ? "true" : "false");
  }
  if (value.is_int64()) {
    std::int64_t n = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
    return ec == std::errc() && end == text.data() + text.size() && n == value.as_int64();
  }
  if (value.is_double()) {
    double d = 0;
    const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), d);
    return ec == std::errc() && end == text.data() + text.size() &&
           sameNumber(d, value.as_double());
  }
  return false;  // a list, a mapping or null cannot be what an override left
}

void checkShape(const host::ModuleManifest& m) {
  FUZZ_CHECK(isName(m.name, 40) && isLetter(m.name[0]));
  FUZZ_CHECK(m.type == "core" || m.type == "service" || m.type == "extension");
  FUZZ_CHECK(!m.version.empty());
  FUZZ_CHECK(!m.library.empty());
  FUZZ_CHECK(std::filesystem::path(m.library).is_absolute());
  for (const auto& c : m.commands) {
    FUZZ_CHECK(c.module == m.name);
    FUZZ_CHECK(c.name.size() > m.name.size() + 1 && c.name.rfind(m.name + ":", 0) == 0);
    FUZZ_CHECK(!c.description.empty());
    for (const auto& o : c.options) {
      FUZZ_CHECK(isName(o.name, 40) && isLetter(o.name[0]) && o.name != "help");
      FUZZ_CHECK(o.alias.empty() || (o.alias.size() == 1 && isAlnum(o.alias[0])));
      FUZZ_CHECK(o.alias != "h");
      FUZZ_CHECK(!(o.required && o.default_value));
      FUZZ_CHECK(!(o.type == host::ValueType::kBoolean && (o.required || o.default_value)));
      if (o.default_value && o.type == host::ValueType::kInteger) {
        FUZZ_CHECK(host::parseInteger(*o.default_value).has_value());
      }
      if (o.default_value && o.type == host::ValueType::kNumber) {
        FUZZ_CHECK(host::parseNumber(*o.default_value).has_value());
      }
    }
    bool seen_optional = false;
    for (const auto& p : c.positionals) {
      FUZZ_CHECK(isName(p.name, 40));
      FUZZ_CHECK(p.type != host::ValueType::kBoolean);
      FUZZ_CHECK(!(p.required && seen_optional));
      seen_optional = seen_optional || !p.required;
    }
  }
}

}  // namespace

// A refusal located inside `config:` ("<file>:<line>:<column>: config...: <what>") says
// what is wrong with the YAML, never with a value: the host reads no key of a config.
void checkConfigRefusal(const std::string& path, const std::string& what) {
  if (what.rfind(path + ":", 0) != 0) {
    return;
  }
  size_t at = path.size() + 1;
  for (int field = 0; field < 2; ++field) {  // line, then column
    const size_t digits = what.find_first_not_of("0123456789", at);
    if (digits == at || digits == std::string::npos || what[digits] != ':') {
      return;
    }
    at = digits + 1;
  }
  const std::string_view located = std::string_view(what).substr(at);
  if (!(located.rfind(" config: ", 0) == 0 || located.rfind(" config.", 0) == 0)) {
    return;
  }
  FUZZ_CHECK(located.find("must be a mapping of keys to values") != std::string::npos ||
             located.find("duplicate key") != std::string::npos ||
             located.find("a key must be a plain string") != std::string::npos ||
             located.find("too large once its aliases are expanded") != std::string::npos);
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size) {
  static ScratchFile scratch;
  fuzz::Reader in(fuzz::asText(data, size));
  const std::string_view yaml = in.part('\0');

  ScopedEnvironment environment;
  std::vector<host::ConfigOverride> overrides;
  while (!in.empty() && overrides.size() < kMaxOverrides) {
    const std::string line(in.part('\n'));
    const size_t eq = line.find('=');
    if (line.rfind("PROMPT_", 0) == 0 && eq != std::string::npos) {
      environment.set(line.substr(0, eq), line.substr(eq + 1));
      continue;
    }
    // As main.cpp's parseSet splits a --set.
    const size_t dot = line.find('.');
    if (dot == std::string::npos || eq == std::string::npos || dot == 0 || eq < dot + 2) {
      continue;
    }
    overrides.push_back({line.substr(0, dot), line.substr(dot + 1, eq - dot - 1),
                         line.substr(eq + 1), "--set " + line});
  }

  const std::string& path = scratch.write(yaml);
  host::ModuleManifest m;
  try {
    m = host::loadManifest(path, overrides);
  } catch (const host::OverrideError&) {
    return 0;
  } catch (const host::ManifestError& e) {
    checkConfigRefusal(path, e.what());
    return 0;
  }
  checkShape(m);

  FUZZ_CHECK(describe(host::loadManifest(path, overrides)) == describe(m));
  FUZZ_CHECK(fuzz::isStrictUtf8(yaml));
  boost::system::error_code ec;
  const json::value config = json::parse(m.config_json, ec);
  FUZZ_CHECK(!ec);
  FUZZ_CHECK(config.is_object());
  if (holdsDouble(config)) {
    const json::value again = json::parse(json::serialize(config), ec);
    FUZZ_CHECK(!ec);
    FUZZ_CHECK(sameJson(again, config));
  } else {
    FUZZ_CHECK(json::serialize(config) == m.config_json);
  }

  std::map<std::string, std::string> last_set;
  for (const auto& o : overrides) {
    if (o.module == m.name) {
      last_set[o.key] = o.value;
    }
  }
  for (const auto& [key, value] : config.as_object()) {
    const std::string name(key);
    if (const auto it = last_set.find(name); it != last_set.end()) {
      FUZZ_CHECK(holdsOverride(value, it->second));
    } else if (const std::string* env = environment.find(host::overrideVariable(m.name, name))) {
      FUZZ_CHECK(holdsOverride(value, *env));
    }
  }
  for (const auto& [key, value] : last_set) {
    FUZZ_CHECK(config.as_object().contains(key));
  }
  return 0;
}
