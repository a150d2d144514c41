// The host's argument parsing (host-stub/src/cli.* parseCommandArgs) against the command
// specs of the real module.yaml.
//
// Properties, for arguments parseCommandArgs accepts (it may refuse with UsageError only):
//  - with --help, nothing else is produced; otherwise args_json is a JSON object;
//  - each of its keys is a declared option or positional, with the declared type: text for
//    string (and valid UTF-8), an int64 for integer, a finite number for number, a boolean
//    for boolean;
//  - every boolean option is present, and so is every required option and positional and
//    every option with a default.
//
//  - text holding Boost.Program_options' error placeholders ("%canonical_option%" and the
//    like, which once made it loop forever) is parsed like any other text: the host's own
//    parser has no placeholders.
//
// Input: a byte picking the command, then the arguments, separated by NUL bytes.
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "cli.hpp"
#include "fuzz_check.hpp"
#include "manifest.hpp"
#include "reference_text.hpp"

namespace {

namespace json = boost::json;

constexpr size_t kMaxArgs = 16;

const std::vector<host::CommandSpec>& commands() {
  static const std::vector<host::CommandSpec> specs = [] {
    const char* path = std::getenv("FUZZ_MODULE_YAML");
    return host::loadManifest(path != nullptr ? path : REPO_MODULE_YAML, {}).commands;
  }();
  return specs;
}

void checkValue(const json::value& value, host::ValueType type) {
  switch (type) {
    case host::ValueType::kString:
      FUZZ_CHECK(value.is_string());
      FUZZ_CHECK(fuzz::isStrictUtf8(value.as_string()));
      break;
    case host::ValueType::kInteger:
      FUZZ_CHECK(value.is_int64());
      break;
    case host::ValueType::kNumber:
      FUZZ_CHECK(value.is_int64() || (value.is_double() && std::isfinite(value.as_double())));
      break;
    case host::ValueType::kBoolean:
      FUZZ_CHECK(value.is_bool());
      break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  FUZZ_CHECK(!commands().empty());
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, size_t size) {
  fuzz::Reader in(fuzz::asText(data, size));
  const host::CommandSpec& command = commands()[in.byte() % commands().size()];
  std::vector<std::string> args;
  while (!in.empty() && args.size() < kMaxArgs) {
    args.emplace_back(in.part('\0'));
  }

  host::ParsedArgs parsed;
  try {
    parsed = host::parseCommandArgs(command, args);
  } catch (const host::UsageError&) {
    return 0;
  }
  if (parsed.help) {
    FUZZ_CHECK(parsed.args_json.empty());
    return 0;
  }
  boost::system::error_code ec;
  const json::value root = json::parse(parsed.args_json, ec);
  FUZZ_CHECK(!ec);
  FUZZ_CHECK(root.is_object());
  const json::object& object = root.as_object();
  size_t declared = 0;
  for (const host::OptionSpec& o : command.options) {
    const auto* value = object.if_contains(o.name);
    const bool must_be_there =
        o.type == host::ValueType::kBoolean || o.required || o.default_value.has_value();
    FUZZ_CHECK(value != nullptr || !must_be_there);
    if (value != nullptr) {
      checkValue(*value, o.type);
      ++declared;
    }
  }
  for (const host::PositionalSpec& p : command.positionals) {
    const auto* value = object.if_contains(p.name);
    FUZZ_CHECK(value != nullptr || !p.required);
    if (value != nullptr) {
      checkValue(*value, p.type);
      ++declared;
    }
  }
  FUZZ_CHECK(declared == object.size());  // no key that is not declared
  return 0;
}
