#include "cli.hpp"

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include "text.hpp"

namespace {

host::CommandSpec createCommand() {
  host::CommandSpec c;
  c.name = "api:keys:create";
  c.module = "api";
  c.description = "Create a key";
  c.options = {
      {"name", "n", host::ValueType::kString, true, std::nullopt, "Name"},
      {"limit", "l", host::ValueType::kInteger, false, std::nullopt, "Limit"},
      {"ratio", "r", host::ValueType::kNumber, false, std::nullopt, "Ratio"},
      {"format", "f", host::ValueType::kString, false, std::string("table"), "Format"},
      {"force", "", host::ValueType::kBoolean, false, std::nullopt, "Force"},
  };
  return c;
}

host::CommandSpec updateCommand() {
  host::CommandSpec c;
  c.name = "api:ratelimit:update";
  c.module = "api";
  c.description = "Update";
  c.positionals = {{"key_id", host::ValueType::kString, true, "Key"},
                   {"new_limit", host::ValueType::kInteger, true, "Limit"}};
  return c;
}

boost::json::object parse(const host::CommandSpec& c, const std::vector<std::string>& args) {
  return boost::json::parse(host::parseCommandArgs(c, args).args_json).as_object();
}

std::string usageErrorOf(const host::CommandSpec& c, const std::vector<std::string>& args) {
  try {
    host::parseCommandArgs(c, args);
  } catch (const host::UsageError& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cli)

BOOST_AUTO_TEST_CASE(passes_typed_values_defaults_and_flags) {
  const auto args = parse(createCommand(), {"-n", "Production API", "--limit", "5000"});
  BOOST_TEST(args.at("name").as_string() == "Production API");
  BOOST_TEST(args.at("limit").as_int64() == 5000);
  BOOST_TEST(args.at("format").as_string() == "table");  // default filled in
  BOOST_TEST(args.at("force").as_bool() == false);       // flags always present
  BOOST_TEST(parse(createCommand(), {"--name=x", "--force"}).at("force").as_bool() == true);
}

BOOST_AUTO_TEST_CASE(rejects_a_missing_required_option_by_name) {
  const std::string message = usageErrorOf(createCommand(), {"--limit", "1"});
  BOOST_TEST(message.find("missing required option --name") != std::string::npos, message);
}

BOOST_AUTO_TEST_CASE(rejects_numbers_with_trailing_garbage) {
  const std::string message = usageErrorOf(createCommand(), {"--name", "x", "--limit", "12abc"});
  BOOST_TEST(message.find("\"12abc\"") != std::string::npos, message);
  BOOST_TEST(message.find("--limit") != std::string::npos, message);
  BOOST_TEST(usageErrorOf(updateCommand(), {"k", "12abc"}).find("<new_limit>") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(integers_are_digits_only_and_errors_echo_the_text_as_typed) {
  BOOST_TEST(parse(createCommand(), {"-n", "x", "-l", "-42"}).at("limit").as_int64() == -42);
  BOOST_TEST(parse(createCommand(), {"-n", "x", "-l", "007"}).at("limit").as_int64() == 7);
  BOOST_TEST(
      parse(createCommand(), {"-n", "x", "-l", "-9223372036854775808"}).at("limit").as_int64() ==
      INT64_MIN);
  for (const char* typed : {"1e3", "1E20", "2.5", "1.0", "+5", " 5", "5 ", "0x10", "-", ""}) {
    const std::string message = usageErrorOf(createCommand(), {"-n", "x", "--limit", typed});
    BOOST_TEST(message == std::string("invalid value \"") + typed +
                              "\" for --limit: expected a whole number",
               message);
  }
  BOOST_TEST(usageErrorOf(createCommand(), {"-n", "x", "--limit", "9223372036854775808"}) ==
             "invalid value \"9223372036854775808\" for --limit: expected a whole number from "
             "-9223372036854775808 to 9223372036854775807");
  BOOST_TEST(usageErrorOf(updateCommand(), {"k", "1e3"}) ==
             "invalid value \"1e3\" for <new_limit>: expected a whole number");
  // A number takes decimals and exponents, and passes whole ones as integers.
  BOOST_TEST(parse(createCommand(), {"-n", "x", "-r", "2.5"}).at("ratio").as_double() == 2.5);
  BOOST_TEST(parse(createCommand(), {"-n", "x", "-r", "1e3"}).at("ratio").as_double() == 1000.0);
  BOOST_TEST(parse(createCommand(), {"-n", "x", "-r", "12"}).at("ratio").as_int64() == 12);
  BOOST_TEST(usageErrorOf(createCommand(), {"-n", "x", "-r", "1e999"}) ==
             "invalid value \"1e999\" for --ratio: expected a number");
}

BOOST_AUTO_TEST_CASE(rejects_invalid_utf8_naming_the_option_or_positional) {
  for (const char* bad :
       {"\xff", "ok\xc3", "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xe2\x82"}) {
    BOOST_TEST(usageErrorOf(createCommand(), {"--name", bad}) == "--name is not valid UTF-8");
    BOOST_TEST(usageErrorOf(updateCommand(), {bad, "1"}) == "<key_id> is not valid UTF-8");
  }
  const std::string text = "caf\xc3\xa9 \xe6\x97\xa5\xe6\x9c\xac \xf0\x9f\x94\x91";  // café 日本 🔑
  BOOST_TEST(parse(createCommand(), {"--name", text}).at("name").as_string() == text);
  BOOST_TEST(host::isValidUtf8("\xf4\x8f\xbf\xbf"));               // U+10FFFF
  BOOST_TEST(!host::isValidUtf8(std::string("\xe0\x80\x80", 3)));  // overlong
}

BOOST_AUTO_TEST_CASE(rejects_unknown_options_and_does_not_guess_abbreviations) {
  BOOST_TEST(usageErrorOf(createCommand(), {"--name", "x", "--bogus"}).find("bogus") !=
             std::string::npos);
  BOOST_TEST(usageErrorOf(createCommand(), {"--nam", "x"}).find("nam") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(maps_positionals_by_name_and_checks_their_count) {
  const auto args = parse(updateCommand(), {"key-1", "250"});
  BOOST_TEST(args.at("key_id").as_string() == "key-1");
  BOOST_TEST(args.at("new_limit").as_int64() == 250);
  BOOST_TEST(
      usageErrorOf(updateCommand(), {"key-1"}).find("missing required argument <new_limit>") !=
      std::string::npos);
  BOOST_TEST(usageErrorOf(updateCommand(), {"a", "1", "extra"}).find("takes 2 positional") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(help_wins_over_missing_arguments) {
  BOOST_TEST(host::parseCommandArgs(updateCommand(), {"--help"}).help);
  BOOST_TEST(host::parseCommandArgs(createCommand(), {"-h"}).help);
}

BOOST_AUTO_TEST_CASE(help_text_shows_every_option_with_alias_type_and_default) {
  const std::string help = host::commandHelp(createCommand());
  BOOST_TEST(help.find("Usage: prompt api:keys:create --name <string>") != std::string::npos, help);
  BOOST_TEST(help.find("-n, --name <string>") != std::string::npos, help);
  BOOST_TEST(help.find("(required)") != std::string::npos, help);
  BOOST_TEST(help.find("(default: table)") != std::string::npos, help);
  BOOST_TEST(help.find("--force") != std::string::npos, help);
}

BOOST_AUTO_TEST_CASE(host_commands_have_help_texts_and_module_commands_do_not) {
  for (const char* command : {"health", "serve", "help"}) {
    const auto help = host::hostCommandHelp(command);
    BOOST_REQUIRE(help.has_value());
    BOOST_TEST(help->find(std::string("Usage: prompt ") + command) == 0u, *help);
    BOOST_TEST(help->find("-h, --help") != std::string::npos, *help);
  }
  BOOST_TEST(!host::hostCommandHelp("api:keys:list").has_value());
}

BOOST_AUTO_TEST_CASE(suggests_near_names) {
  const std::vector<std::string> known{"api:keys:create", "api:keys:list", "api:usage", "health"};
  const auto near = host::suggest("api:keys:craete", known);
  BOOST_REQUIRE(!near.empty());
  BOOST_TEST(near.front() == "api:keys:create");
  BOOST_TEST(host::suggest("usage", known).front() == "api:usage");
  BOOST_TEST(host::suggest("zzzzzzzzzzzz", known).empty());
}

BOOST_AUTO_TEST_CASE(option_text_is_never_run_through_a_format_engine) {
  // Boost.Program_options looped forever substituting "%canonical_option%" in its messages.
  BOOST_TEST(usageErrorOf(createCommand(), {"--%canonical_option%"}) ==
             "api:keys:create: unknown option \"--%canonical_option%\"; see 'prompt "
             "api:keys:create --help'");
  BOOST_TEST(usageErrorOf(createCommand(), {"--name=%canonical_option%", "--%option%=1"})
                 .find("unknown option \"--%option%\"") != std::string::npos);
  BOOST_TEST(
      usageErrorOf(createCommand(), {"-x%canonical_option%"}).find("unknown option \"-x\"") !=
      std::string::npos);
  BOOST_TEST(parse(createCommand(), {"--name", "%canonical_option%"}).at("name").as_string() ==
             "%canonical_option%");
}

BOOST_AUTO_TEST_CASE(parses_like_getopt_long) {
  BOOST_TEST(parse(createCommand(), {"-nx"}).at("name").as_string() == "x");
  BOOST_TEST(parse(createCommand(), {"--name=a=b"}).at("name").as_string() == "a=b");
  BOOST_TEST(parse(createCommand(), {"--name", "--force"}).at("name").as_string() == "--force");
  BOOST_TEST(parse(createCommand(), {"--name", ""}).at("name").as_string() == "");
  BOOST_TEST(usageErrorOf(createCommand(), {"--name", "a", "--name", "b"})
                 .find("--name is given more than once") != std::string::npos);
  BOOST_TEST(usageErrorOf(createCommand(), {"--name", "a", "--force=yes"})
                 .find("--force takes no value, got \"--force=yes\"") != std::string::npos);
  BOOST_TEST(usageErrorOf(createCommand(), {"--name"}).find("--name needs a value") !=
             std::string::npos);
  BOOST_TEST(usageErrorOf(createCommand(), {"--nmae", "x"}).find("did you mean --name?") !=
             std::string::npos);
  // A negative number and "-" are positionals; after "--" everything is.
  BOOST_TEST(parse(updateCommand(), {"k", "-5"}).at("new_limit").as_int64() == -5);
  BOOST_TEST(parse(updateCommand(), {"--", "--k", "7"}).at("key_id").as_string() == "--k");
  BOOST_TEST(parse(updateCommand(), {"-", "7"}).at("key_id").as_string() == "-");
}

BOOST_AUTO_TEST_CASE(a_surplus_positional_is_quoted) {
  BOOST_TEST(usageErrorOf(updateCommand(), {"a", "1", "extra", "more"}) ==
             "api:ratelimit:update: unexpected argument \"extra\": it takes 2 positional "
             "arguments (<key_id> <new_limit>); see 'prompt api:ratelimit:update --help'");
  BOOST_TEST(usageErrorOf(createCommand(), {"-n", "x", "stray"})
                 .find("unexpected argument \"stray\": it takes 0 positional arguments;") !=
             std::string::npos);
  BOOST_TEST(usageErrorOf(updateCommand(), {"a", "1", "\x1b[2J"})
                 .find("unexpected argument \"\\x1B[2J\"") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(an_argument_over_64_kib_is_refused_by_position_without_echoing_it) {
  host::checkArgumentSizes(
      {"api:keys:create", "--name", std::string(host::kMaxArgumentBytes, 'a')});
  const auto errorOf = [](const std::vector<std::string>& words) -> std::string {
    try {
      host::checkArgumentSizes(words);
    } catch (const host::UsageError& e) {
      return e.what();
    }
    return "(no error)";
  };
  const std::string huge(128 * 1024, 'a');
  const std::string after = errorOf({"api:keys:create", "--name", huge});
  BOOST_TEST(after ==
                 "argument 3 (the value after \"--name\") is 131072 bytes long; at most 65536 "
                 "bytes are accepted in one argument",
             after);
  BOOST_TEST(errorOf({"api:keys:create", "--name=" + huge}).find("argument 2 (\"--name\"=...)") ==
             0u);
  const std::string alone = errorOf({"api:keys:info", huge});
  BOOST_TEST(alone.find("argument 2 (starting \"aaaaaaaaaaaaaaaa\"...)") == 0u, alone);
  BOOST_TEST(alone.size() < 200u);
}

BOOST_AUTO_TEST_SUITE_END()
