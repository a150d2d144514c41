#include "config/settings.hpp"

#include <boost/test/unit_test.hpp>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>
#include <string>

namespace {

std::string errorOf(const std::string& json) {
  try {
    api::parseSettings(json, "/state");
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no error)";
}

// README's configuration table: key -> the rest of its row.
std::map<std::string, std::string> readmeConfigRows() {
  std::ifstream in(REPO_README);
  BOOST_REQUIRE(in);
  std::map<std::string, std::string> rows;
  std::string line;
  bool in_table = false;
  while (std::getline(in, line)) {
    if (line == "## Configuration of the api module") {
      in_table = true;
    } else if (in_table && line.rfind("## ", 0) == 0) {
      break;
    } else if (in_table && line.rfind("| `", 0) == 0) {
      const std::string_view rest = std::string_view(line).substr(3);
      const size_t end = rest.find('`');
      if (end != std::string_view::npos) {
        rows[std::string(rest.substr(0, end))] = std::string(rest.substr(end + 1));
      }
    }
  }
  return rows;
}

// 1234567 -> "1,234,567", as README writes numbers.
std::string withCommas(std::int64_t n) {
  const std::string digits = std::to_string(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0 && digits[i - 1] != '-') {
      out += ',';
    }
    out += digits[i];
  }
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(settings)

BOOST_AUTO_TEST_CASE(readme_documents_every_key_its_default_and_its_range) {
  const auto rows = readmeConfigRows();
  BOOST_TEST(rows.size() == api::settingKeys().size());
  for (std::string_view key : api::settingKeys()) {
    BOOST_TEST(rows.count(std::string(key)) == 1, "README has no row for " << key);
  }
  const api::ApiSettings defaults;
  for (const api::IntegerSetting& row : api::integerSettings()) {
    const auto it = rows.find(std::string(row.key));
    BOOST_REQUIRE_MESSAGE(it != rows.end(), "README has no row for " << row.key);
    const std::string& text = it->second;
    BOOST_TEST(text.rfind(" | `" + std::to_string(row.of(defaults)) + "` |", 0) == 0,
               row.key << ": README's default differs: " << text);
    const std::string range = withCommas(row.min) + ".." + withCommas(row.max);
    BOOST_TEST(text.find(range) != std::string::npos,
               row.key << ": README's row lacks the range " << range << ": " << text);
  }
}

BOOST_AUTO_TEST_CASE(an_unknown_key_lists_every_accepted_key) {
  const std::string error = errorOf(R"({"rateLimitWindow": 5})");
  BOOST_TEST(error.find("'rateLimitWindow'") != std::string::npos, error);
  for (std::string_view key : api::settingKeys()) {
    BOOST_TEST(error.find(std::string(key)) != std::string::npos, key << " missing: " << error);
  }
}

BOOST_AUTO_TEST_CASE(every_integer_key_refuses_just_outside_its_range) {
  for (const api::IntegerSetting& row : api::integerSettings()) {
    const std::string key(row.key);
    const std::string below = errorOf("{\"" + key + "\": " + std::to_string(row.min - 1) + "}");
    BOOST_TEST(below.find(key) != std::string::npos, below);
    BOOST_TEST(
        below.find(std::to_string(row.min) + ".." + std::to_string(row.max)) != std::string::npos,
        below);
    const std::string above = errorOf("{\"" + key + "\": " + std::to_string(row.max + 1) + "}");
    BOOST_TEST(above.find(key) != std::string::npos, above);
  }
}

BOOST_AUTO_TEST_CASE(defaults_match_the_seed) {
  const api::ApiSettings s = api::parseSettings("{}", "/state/api");
  BOOST_TEST(s.rate_limits.default_limit == 1000);
  BOOST_TEST(s.rate_limits.window_ms == 3600000);
  BOOST_TEST(s.keys.prefix == "sk_");
  BOOST_TEST(s.cleanup.interval_ms == 300000);
  BOOST_TEST(s.store.database_path == "/state/api/api.sqlite3");
}

BOOST_AUTO_TEST_CASE(reads_every_key) {
  const api::ApiSettings s = api::parseSettings(
      R"({"defaultRateLimit":5000,"rateLimitWindowSize":60000,"keyPrefix":"pk_live_",)"
      R"("cleanupInterval":1000,"databasePath":"db/x.sqlite3","busyTimeout":0})",
      "/state/");
  BOOST_TEST(s.rate_limits.default_limit == 5000);
  BOOST_TEST(s.rate_limits.window_ms == 60000);
  BOOST_TEST(s.keys.prefix == "pk_live_");
  BOOST_TEST(s.cleanup.interval_ms == 1000);
  BOOST_TEST(s.store.database_path == "/state/db/x.sqlite3");
  BOOST_TEST(s.store.busy_timeout_ms == 0);
  BOOST_TEST(api::parseSettings(R"({"databasePath":"/abs/a.db"})", "/s").store.database_path ==
             "/abs/a.db");
}

BOOST_AUTO_TEST_CASE(rejects_bad_values_naming_key_value_and_range) {
  struct Case {
    const char* json;
    const char* expected;
  };
  const Case cases[] = {
      {R"({"defaultRateLimit":0})",
       "config key 'defaultRateLimit' must be an integer 1..1000000000 requests, got 0"},
      {R"({"defaultRateLimit":1000000001})", "got 1000000001"},
      {R"({"defaultRateLimit":"many"})",
       "'defaultRateLimit' must be an integer 1..1000000000 "
       "requests, got \"many\""},
      {R"({"defaultRateLimit":1.5})", "got 1.5E0"},
      {R"({"rateLimitWindowSize":999})",
       "'rateLimitWindowSize' must be an integer 1000..2678400000"},
      {R"({"keyPrefix":""})", "'keyPrefix' must be 1..16 characters of [A-Za-z0-9_], got \"\""},
      {R"({"keyPrefix":"sk-"})", "got \"sk-\""},
      {R"({"keyPrefix":7})", "'keyPrefix' must be a string, got 7"},
      {R"({"keyPrefix":"key"})", "'keyPrefix' must not overlap \"key_\""},
      {R"({"keyPrefix":"key_live"})", "got \"key_live\""},
      {R"({"aggregationInterval":2700000})", "'aggregationInterval' must divide an hour"},
      {R"({"aggregationInterval":18000000})", "got 18000000"},
      {R"({"cleanupInterval":-1})", "'cleanupInterval' must be an integer 10..86400000 ms"},
      {R"({"busyTimeout":600001})", "'busyTimeout' must be an integer 0..600000 ms"},
      {R"({"databasePath":false})", "'databasePath' must be a string, got false"},
      {R"({"rateLimit":5})", "unknown config key 'rateLimit'; accepted keys: defaultRateLimit"},
      {R"([1,2])", "must be a mapping"},
      {R"({"a":)", "not valid JSON"},
  };
  for (const Case& c : cases) {
    const std::string message = errorOf(c.json);
    BOOST_TEST(message.find(c.expected) != std::string::npos,
               c.json << " gave: " << message << "; expected to contain: " << c.expected);
  }
}

// Either key may be given a URL holding a password: an error names the key and what is
// accepted, never the value.
BOOST_AUTO_TEST_CASE(database_locations_are_refused_without_showing_a_password) {
  const std::string by_url = errorOf(R"({"databaseUrl":"mysql://api:s3cret-pw@db/prompt"})");
  BOOST_TEST(by_url.find("'databaseUrl' must be empty") != std::string::npos, by_url);
  BOOST_TEST(by_url.find("postgresql://") != std::string::npos, by_url);
  const std::string by_path = errorOf(R"({"databasePath":"postgresql://api:s3cret-pw@db/prompt"})");
  BOOST_TEST(by_path.find("'databasePath' must be a file path") != std::string::npos, by_path);
  BOOST_TEST(by_path.find("'databaseUrl'") != std::string::npos, by_path);
  for (const std::string& message : {by_url, by_path}) {
    BOOST_TEST(message.find("s3cret-pw") == std::string::npos, message);
  }
  BOOST_TEST(errorOf(R"({"databaseUrl":42})")
                 .find("'databaseUrl' must be a string, got a value "
                       "of another type") != std::string::npos);
  BOOST_TEST(api::parseSettings(R"({"databasePath":"data/api.db"})", "/s").store.database_path ==
             "/s/data/api.db");
}

BOOST_AUTO_TEST_CASE(the_usage_writer_writes_in_pieces_on_sqlite_only) {
  api::ApiSettings s;
  BOOST_TEST(api::usageShortestFlushIntervalMs(s) == 2);
  s.usage.flush_interval_ms = 10;
  BOOST_TEST(api::usageShortestFlushIntervalMs(s) == 2);
  s.usage.flush_interval_ms = 500;
  s.store.database_url = "postgresql://api@db/prompt";
  BOOST_TEST(api::usageShortestFlushIntervalMs(s) == 500);
}

BOOST_AUTO_TEST_CASE(accepts_whole_numbers_written_as_decimals) {
  BOOST_TEST(api::parseSettings(R"({"defaultRateLimit":2000.0})", "/s").rate_limits.default_limit ==
             2000);
}

BOOST_AUTO_TEST_SUITE_END()
