#include "manifest.hpp"

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstdlib>

#include "config_overrides.hpp"
#include "module_graph.hpp"
#include "process.hpp"

namespace {

using testing_support::TempDir;
using testing_support::writeFile;

constexpr const char* kMinimal = R"(name: demo
type: service
version: 1.0.0
library: libdemo.so
config:
  limit: 10
  prefix: "007"
  enabled: true
  path: ""
commands:
  - name: demo:run
    description: Run it
    options:
      - {name: count, alias: c, type: number, default: 3}
)";

std::string errorOf(const std::string& yaml, const std::vector<host::ConfigOverride>& o = {}) {
  TempDir dir;
  writeFile(dir.path() + "/module.yaml", yaml);
  try {
    host::loadManifest(dir.path() + "/module.yaml", o);
  } catch (const host::ManifestError& e) {
    return e.what();
  }
  return "(no error)";
}

bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(manifest)

BOOST_AUTO_TEST_CASE(the_api_module_yaml_declares_every_command_and_both_services) {
  const host::ModuleManifest m = host::loadManifest(REPO_MODULE_YAML, {});
  BOOST_TEST(m.name == "api");
  std::vector<std::string> names;
  for (const auto& c : m.commands) {
    names.push_back(c.name);
  }
  const std::vector<std::string> expected{
      "api:keys:create",      "api:keys:list",   "api:keys:info",        "api:keys:revoke",
      "api:keys:rotate",      "api:keys:verify", "api:ratelimit:status", "api:ratelimit:reset",
      "api:ratelimit:update", "api:usage"};
  BOOST_TEST(names == expected, boost::test_tools::per_element());
  BOOST_REQUIRE(m.exports.size() == 2u);
  BOOST_TEST(m.exports[0].name == "ApiKeyService");
  BOOST_TEST(m.exports[1].name == "RateLimitService");
  const auto config = boost::json::parse(m.config_json).as_object();
  BOOST_TEST(config.at("keyPrefix").as_string() == "sk_");
  BOOST_TEST(config.at("defaultRateLimit").as_int64() == 1000);
  BOOST_TEST(config.at("rateLimitWindowSize").as_int64() == 3600000);
  BOOST_TEST(m.dependencies == (std::vector<std::string>{"logger", "database", "crypto"}),
             boost::test_tools::per_element());
}

BOOST_AUTO_TEST_CASE(config_keeps_quoted_scalars_as_strings) {
  TempDir dir;
  writeFile(dir.path() + "/module.yaml", kMinimal);
  const auto m = host::loadManifest(dir.path() + "/module.yaml", {});
  const auto config = boost::json::parse(m.config_json).as_object();
  BOOST_TEST(config.at("prefix").as_string() == "007");
  BOOST_TEST(config.at("limit").as_int64() == 10);
  BOOST_TEST(config.at("enabled").as_bool());
  BOOST_TEST(m.library == dir.path() + "/libdemo.so");
}

BOOST_AUTO_TEST_CASE(errors_name_the_file_line_and_key) {
  std::string e = errorOf(
      "name: demo\ntype: service\nversion: 1\nlibrary: x.so\ncommands:\n"
      "  - name: demo:run\n    description: d\n    options:\n"
      "      - {name: n, type: strng}\n");
  BOOST_TEST(contains(e, "module.yaml:9:"), e);
  BOOST_TEST(contains(e, "commands[0].options[0].type"), e);
  BOOST_TEST(contains(e, "\"strng\" is not one of string, number, integer, boolean"), e);

  e = errorOf("type: service\nversion: 1\nlibrary: x.so\n");
  BOOST_TEST(contains(e, "name: is required"), e);

  e = errorOf("name: demo\ntype: service\nversion: 1\nlibrary: x.so\nlibary: y\n");
  BOOST_TEST(contains(e, "libary: unknown key"), e);

  e = errorOf("name: demo\ntype: [\n");
  BOOST_TEST(contains(e, "not valid YAML"), e);

  e = errorOf("name: demo\ntype: daemon\nversion: 1\nlibrary: x.so\n");
  BOOST_TEST(contains(e, "type: \"daemon\" is not one of core, service, extension"), e);

  e = errorOf(
      "name: demo\ntype: service\nversion: 1\nlibrary: x.so\ncommands:\n"
      "  - name: other:run\n    description: d\n");
  BOOST_TEST(contains(e, "commands[0].name: \"other:run\" must start with \"demo:\""), e);

  e = errorOf(
      "name: demo\ntype: service\nversion: 1\nlibrary: x.so\ncommands:\n"
      "  - name: demo:run\n    description: d\n    options:\n"
      "      - {name: a}\n      - {name: a}\n");
  BOOST_TEST(contains(e, "\"a\" is declared twice"), e);

  e = errorOf(
      "name: demo\ntype: service\nversion: 1\nlibrary: x.so\ncommands:\n"
      "  - name: demo:run\n    description: d\n    options:\n"
      "      - {name: limit, type: number, default: ten}\n");
  BOOST_TEST(contains(e, "default: \"ten\" is not a number"), e);

  e = errorOf(
      "name: demo\ntype: service\nversion: 1\nlibrary: x.so\ncommands:\n"
      "  - name: demo:run\n    description: d\n    options:\n"
      "      - {name: top, type: integer, default: 1e3}\n");
  BOOST_TEST(contains(e, "module.yaml:9:"), e);
  BOOST_TEST(contains(e, "default: \"1e3\" is not a whole number"), e);

  e = errorOf(
      "name: demo\ntype: service\nversion: 1\nlibrary: x.so\nexports:\n"
      "  - {name: S, version: one}\n");
  BOOST_TEST(contains(e, "exports[0].version"), e);

  e = errorOf(
      "name: demo\ntype: service\nversion: 1\nlibrary: x.so\nexports:\n"
      "  - {name: S, version: \"1.0\"}\n  - {name: S, version: \"1.2\"}\n");
  BOOST_TEST(contains(e, "module.yaml:7:"), e);
  BOOST_TEST(contains(e, "exports[1].version: \"S\" major version 1 is declared twice"), e);
}

BOOST_AUTO_TEST_CASE(keys_must_be_plain_and_unique_everywhere) {
  const std::string head = "name: demo\ntype: service\nversion: 1\nlibrary: x.so\n";
  std::string e = errorOf(head + "config:\n  ? [a, b]\n  : 1\n");
  BOOST_TEST(contains(e, "module.yaml:6:5: config: a key must be a plain string"), e);

  e = errorOf(head + "? {a: 1}\n: 2\n");
  BOOST_TEST(contains(e, "module.yaml:5:3: a key must be a plain string"), e);

  e = errorOf(head + "name: other\n");
  BOOST_TEST(contains(e, "module.yaml:5:1: name: duplicate key (first at line 1)"), e);

  e = errorOf(head + "config:\n  limit: 1\n  nested: {a: 1, a: 2}\n");
  BOOST_TEST(contains(e, "module.yaml:7:18: config.nested.a: duplicate key (first at line 7)"), e);

  e = errorOf(head +
              "commands:\n  - name: demo:run\n    description: d\n    options:\n"
              "      - {name: a, type: string, name: b}\n");
  BOOST_TEST(contains(e, "module.yaml:9:33: commands[0].options[0].name: duplicate key"), e);
}

BOOST_AUTO_TEST_CASE(a_key_with_a_dot_is_quoted_so_it_never_reads_as_a_path) {
  // Found by fuzz_manifest: a top-level key "config.x" was reported as "config.x: unknown
  // key", the path of a key x inside config.
  const std::string head = "name: demo\ntype: service\nversion: 1\nlibrary: x.so\n";
  std::string e = errorOf(head + "config.x: 1\n");
  BOOST_TEST(contains(e, "module.yaml:5:1: \"config.x\": unknown key; accepted here:"), e);

  e = errorOf(head + "config:\n  \"a b\": {c: 1, c: 2}\n");
  BOOST_TEST(contains(e, "module.yaml:6:17: config.\"a b\".c: duplicate key"), e);

  // A quote or backslash inside is escaped, so that 'a"."b' never reads as two keys.
  e = errorOf(head + "config:\n  'a\".\"b': {c: 1, c: 2}\n");
  BOOST_TEST(contains(e, "config.\"a\\\".\\\"b\".c: duplicate key"), e);
}

BOOST_AUTO_TEST_CASE(config_is_opaque_to_the_host_whatever_its_keys_say) {
  // The host reads no key of a module's config: a cleanupInterval of 0, text or a mapping is
  // the module's to accept or refuse at load (it states its cleanup interval in sp_module).
  const std::string head = "name: demo\ntype: service\nversion: 1\nlibrary: x.so\n";
  for (const char* value : {"0", "-5", "soon", "{every: 5}"}) {
    TempDir dir;
    writeFile(dir.path() + "/module.yaml", head + "config:\n  cleanupInterval: " + value + "\n");
    const auto m = host::loadManifest(dir.path() + "/module.yaml", {});
    const auto config = boost::json::parse(m.config_json).as_object();
    BOOST_TEST(config.contains("cleanupInterval"), value);
  }
  TempDir dir;
  writeFile(dir.path() + "/module.yaml", head + "config:\n  cleanupInterval: 10\n");
  const auto m =
      host::loadManifest(dir.path() + "/module.yaml",
                         {{"demo", "cleanupInterval", "-5", "--set demo.cleanupInterval=-5"}});
  BOOST_TEST(boost::json::parse(m.config_json).at("cleanupInterval").as_int64() == -5);
}

BOOST_AUTO_TEST_CASE(one_service_may_be_exported_in_two_majors) {
  TempDir dir;
  writeFile(dir.path() + "/module.yaml",
            "name: demo\ntype: service\nversion: 1\nlibrary: x.so\nexports:\n"
            "  - {name: S, version: \"1.4\"}\n  - {name: S, version: \"2.0\"}\n");
  const auto m = host::loadManifest(dir.path() + "/module.yaml", {});
  BOOST_REQUIRE(m.exports.size() == 2u);
  BOOST_TEST(m.exports[0].version_major == 1u);
  BOOST_TEST(m.exports[1].version_major == 2u);
}

BOOST_AUTO_TEST_CASE(overrides_follow_the_declared_type) {
  TempDir dir;
  writeFile(dir.path() + "/module.yaml", kMinimal);
  const std::string file = dir.path() + "/module.yaml";
  const auto m = host::loadManifest(
      file, {{"demo", "limit", "25", "--set demo.limit=25"},
             {"demo", "prefix", "42", "--set demo.prefix=42"},
             {"other", "limit", "99", "--set other.limit=99"}});  // another module's: ignored
  const auto config = boost::json::parse(m.config_json).as_object();
  BOOST_TEST(config.at("limit").as_int64() == 25);
  BOOST_TEST(config.at("prefix").as_string() == "42");

  std::string e = errorOf(kMinimal, {{"demo", "limit", "ten", "--set demo.limit=ten"}});
  BOOST_TEST(contains(e, "--set demo.limit=ten: \"ten\" is not a whole number"), e);
  // A whole-number key takes only whole-number text; the error shows the text as typed.
  for (const char* typed : {"1e3", "2.5", "+1", " 1", "99999999999999999999"}) {
    e = errorOf(kMinimal, {{"demo", "limit", typed, std::string("PROMPT_DEMO_LIMIT")}});
    BOOST_TEST(contains(e, std::string("PROMPT_DEMO_LIMIT: \"") + typed +
                               "\" is not a whole number, and demo.limit is one"),
               e);
  }
  e = errorOf(kMinimal, {{"demo", "prefix", "\xff", "PROMPT_DEMO_PREFIX"}});
  BOOST_TEST(contains(e, "PROMPT_DEMO_PREFIX: the value is not valid UTF-8"), e);
  e = errorOf(kMinimal, {{"demo", "enabled", "yes", "--set demo.enabled=yes"}});
  BOOST_TEST(contains(e, "must be true or false"), e);
  e = errorOf(kMinimal, {{"demo", "nope", "1", "--set demo.nope=1"}});
  BOOST_TEST(contains(e, "has no config key \"nope\""), e);
}

BOOST_AUTO_TEST_CASE(environment_overrides_use_upper_snake_names) {
  BOOST_TEST(host::overrideVariable("api", "databasePath") == "PROMPT_API_DATABASE_PATH");
  BOOST_TEST(host::overrideVariable("api", "defaultRateLimit") == "PROMPT_API_DEFAULT_RATE_LIMIT");
  TempDir dir;
  writeFile(dir.path() + "/module.yaml", kMinimal);
  ::setenv("PROMPT_DEMO_LIMIT", "77", 1);
  const auto m = host::loadManifest(dir.path() + "/module.yaml", {});
  ::unsetenv("PROMPT_DEMO_LIMIT");
  BOOST_TEST(boost::json::parse(m.config_json).at("limit").as_int64() == 77);
}

BOOST_AUTO_TEST_CASE(discovery_checks_dependencies_and_orders_loading) {
  TempDir dir;
  const std::string base = "type: service\nversion: 1\nlibrary: x.so\n";
  writeFile(dir.path() + "/a/module.yaml", "name: a\n" + base + "dependencies: [b, logger]\n");
  writeFile(dir.path() + "/b/module.yaml", "name: b\n" + base);
  writeFile(dir.path() + "/c/module.yaml", "name: c\n" + base + "dependencies: [a]\n");
  const auto all = host::discoverModules(dir.path(), {});
  BOOST_REQUIRE(all.size() == 3u);
  const auto order = host::loadOrder(all, {"c"});
  BOOST_REQUIRE(order.size() == 3u);
  BOOST_TEST(order[0]->name == "b");
  BOOST_TEST(order[1]->name == "a");
  BOOST_TEST(order[2]->name == "c");

  // A cycle is named whole, from the module whose dependency closes it.
  const auto cycleError = [&]() -> std::string {
    try {
      host::discoverModules(dir.path(), {});
    } catch (const host::ManifestError& e) {
      return e.what();
    }
    return "(a dependency cycle was accepted)";
  };
  writeFile(dir.path() + "/b/module.yaml", "name: b\n" + base + "dependencies: [c]\n");
  std::string e = cycleError();
  BOOST_TEST(contains(e, dir.path() + "/c/module.yaml: dependencies: \"c\", \"a\" and \"b\" depend "
                                      "on each other (c -> a -> b -> c)"),
             e);
  writeFile(dir.path() + "/b/module.yaml", "name: b\n" + base + "dependencies: [a]\n");
  e = cycleError();
  BOOST_TEST(
      contains(e, dir.path() + "/b/module.yaml: dependencies: \"b\" and \"a\" depend on each "
                               "other (b -> a -> b)"),
      e);
  writeFile(dir.path() + "/b/module.yaml", "name: b\n" + base + "dependencies: [b]\n");
  e = cycleError();
  BOOST_TEST(contains(e, dir.path() + "/b/module.yaml: dependencies: \"b\" depends on itself"), e);
  writeFile(dir.path() + "/b/module.yaml", "name: b\n" + base + "dependencies: [missing]\n");
  try {
    host::discoverModules(dir.path(), {});
    BOOST_FAIL("a missing dependency was accepted");
  } catch (const host::ManifestError& e) {
    BOOST_TEST(contains(e.what(), "module \"missing\" is not installed"), e.what());
  }
}

BOOST_AUTO_TEST_CASE(a_file_that_is_not_utf8_is_refused_naming_the_line) {
  // A byte that is not UTF-8 in a config key or value would reach the module's config as
  // text that is not JSON (fuzz reproducers manifest/crash-invalid-utf8-config-*).
  const std::string head = "name: demo\ntype: service\nversion: 1.0.0\nlibrary: libdemo.so\n";
  for (const std::string& config :
       {std::string("config:\n  k\xff: 1\n"), std::string("config:\n  k: \"caf\xc3\"\n")}) {
    const std::string error = errorOf(head + config);
    BOOST_TEST(contains(error, "/module.yaml:6: not valid UTF-8"), error);
  }
  BOOST_TEST(errorOf(head + "description: \"Caf\xc3\xa9 \xe6\x9d\xb1\xe4\xba\xac\"\n") ==
             "(no error)");
}

BOOST_AUTO_TEST_CASE(a_billion_laughs_config_is_refused_fast_naming_the_file) {
  // 412 bytes of nested aliases that expand to 9^9 (387 million) strings.
  std::string yaml = "name: demo\ntype: service\nversion: 1.0.0\nlibrary: libdemo.so\nconfig:\n";
  yaml += "  a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n";
  for (char level = 'b'; level <= 'i'; ++level) {
    const char previous = static_cast<char>(level - 1);
    yaml += std::string("  ") + level + ": &" + level + " [";
    for (int i = 0; i < 9; ++i) {
      yaml += std::string(i == 0 ? "" : ",") + "*" + previous;
    }
    yaml += "]\n";
  }
  TempDir dir;
  const std::string file = dir.path() + "/module.yaml";
  writeFile(file, yaml);
  const auto started = std::chrono::steady_clock::now();
  std::string message = "(no error)";
  try {
    host::loadManifest(file, {});
  } catch (const host::ManifestError& e) {
    message = e.what();
  }
  const auto took = std::chrono::steady_clock::now() - started;
  // A guard against a hang, not a benchmark: expanding it in full takes minutes and
  // gigabytes; the budget stops it in tens of milliseconds (a few hundred under TSan).
  BOOST_TEST(took < std::chrono::seconds(5));
  BOOST_TEST(message.rfind(file + ":", 0) == 0u, message);
  BOOST_TEST(contains(message, "too large once its aliases are expanded"), message);
  // An alias or two in an ordinary config still works.
  writeFile(file,
            "name: demo\ntype: service\nversion: 1.0.0\nlibrary: libdemo.so\n"
            "config:\n  a: &n 5\n  b: *n\n");
  BOOST_TEST(host::loadManifest(file, {}).config_json == R"({"a":5,"b":5})");
}

BOOST_AUTO_TEST_CASE(an_override_of_the_wrong_type_or_an_unknown_key_is_an_override_error) {
  const auto overrideErrorOf = [](const host::ConfigOverride& o) -> std::string {
    TempDir dir;
    writeFile(dir.path() + "/module.yaml", kMinimal);
    try {
      host::loadManifest(dir.path() + "/module.yaml", {o});
    } catch (const host::OverrideError& e) {
      return e.what();
    }
    return "(no override error)";
  };
  BOOST_TEST(contains(overrideErrorOf({"demo", "limit", "abc", "--set demo.limit=abc"}),
                      "--set demo.limit=abc: \"abc\" is not a whole number"));
  BOOST_TEST(contains(overrideErrorOf({"demo", "enabled", "yes", "--set demo.enabled=yes"}),
                      "\"yes\" must be true or false"));
  BOOST_TEST(contains(overrideErrorOf({"demo", "nosuchkey", "1", "--set demo.nosuchkey=1"}),
                      "has no config key \"nosuchkey\""));
}

BOOST_AUTO_TEST_SUITE_END()
