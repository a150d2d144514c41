#include "settings.hpp"

#include <boost/test/unit_test.hpp>
#include <stdexcept>

namespace {

std::string errorOf(const std::string& json) {
  try {
    api::parseSettings(json, "/state");
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "(no error)";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(settings)

BOOST_AUTO_TEST_CASE(defaults_match_the_seed) {
  const api::ApiSettings s = api::parseSettings("{}", "/state/api");
  BOOST_TEST(s.default_rate_limit == 1000);
  BOOST_TEST(s.rate_limit_window_ms == 3600000);
  BOOST_TEST(s.key_prefix == "sk_");
  BOOST_TEST(s.cleanup_interval_ms == 300000);
  BOOST_TEST(s.database_path == "/state/api/api.sqlite3");
}

BOOST_AUTO_TEST_CASE(reads_every_key) {
  const api::ApiSettings s = api::parseSettings(
      R"({"defaultRateLimit":5000,"rateLimitWindowSize":60000,"keyPrefix":"pk_live_",)"
      R"("cleanupInterval":1000,"databasePath":"db/x.sqlite3","busyTimeout":0})",
      "/state/");
  BOOST_TEST(s.default_rate_limit == 5000);
  BOOST_TEST(s.rate_limit_window_ms == 60000);
  BOOST_TEST(s.key_prefix == "pk_live_");
  BOOST_TEST(s.cleanup_interval_ms == 1000);
  BOOST_TEST(s.database_path == "/state/db/x.sqlite3");
  BOOST_TEST(s.busy_timeout_ms == 0);
  BOOST_TEST(api::parseSettings(R"({"databasePath":"/abs/a.db"})", "/s").database_path ==
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

BOOST_AUTO_TEST_CASE(accepts_whole_numbers_written_as_decimals) {
  BOOST_TEST(api::parseSettings(R"({"defaultRateLimit":2000.0})", "/s").default_rate_limit == 2000);
}

BOOST_AUTO_TEST_SUITE_END()
