// End-to-end tests of usage analytics: records from a sibling module through a real host,
// then api:usage and api:keys:info reading them back.
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <boost/test/unit_test.hpp>

#include "installation.hpp"
#include "process.hpp"

namespace {

namespace json = boost::json;
using testing_support::contains;
using testing_support::describe;
using testing_support::Installation;
using testing_support::ProcessOptions;
using testing_support::ProcessResult;

std::string newKeyId(const Installation& install) {
  const ProcessResult r =
      install.prompt({"api:keys:create", "--name", "n", "--user", "u", "-f", "json"});
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, describe(r));
  return std::string(json::parse(r.out).at("key").at("id").as_string());
}

}  // namespace

BOOST_AUTO_TEST_SUITE(usage_cli)

BOOST_AUTO_TEST_CASE(a_clean_shutdown_writes_every_queued_record) {
  Installation install({"sibling"});
  const std::string id = newKeyId(install);
  const ProcessResult r = install.prompt({"sibling:record", id, "100000"});
  BOOST_TEST(r.exit_code == 0, describe(r));
  BOOST_TEST(contains(r.out, "queued=100000"), r.out);
  const ProcessResult usage = install.prompt({"api:usage", "--format", "json"});
  BOOST_TEST(usage.exit_code == 0, describe(usage));
  const json::object o = json::parse(usage.out).as_object();
  BOOST_TEST(o.at("total_requests").as_int64() == 100000);
  BOOST_TEST(o.at("errors").as_int64() == 10000);
  BOOST_TEST(o.at("unique_keys").as_int64() == 1);
  BOOST_TEST(o.at("error_rate").as_double() == 10.0);
  BOOST_TEST(o.at("response_time_ms").at("p50").as_int64() == 49);
  BOOST_TEST(o.at("response_time_ms").at("p99").as_int64() == 98);
}

BOOST_AUTO_TEST_CASE(usage_json_follows_the_documented_schema) {
  Installation install({"sibling"});
  const std::string id = newKeyId(install);
  BOOST_REQUIRE(install.prompt({"sibling:record", id, "30"}).exit_code == 0);
  const ProcessResult r =
      install.prompt({"api:usage", "--period", "7d", "--key", id, "--top", "2", "-f", "json"});
  BOOST_TEST(r.exit_code == 0, describe(r));
  const json::object o = json::parse(r.out).as_object();
  for (const char* field :
       {"period", "period_start", "period_end", "key_id", "exact", "total_requests", "unique_keys",
        "errors", "error_rate", "response_time_ms", "top_endpoints", "keys", "series"}) {
    BOOST_TEST(o.contains(field), field);
  }
  BOOST_TEST(o.at("period").as_string() == "7d");
  BOOST_TEST(o.at("key_id").as_string() == id);
  const json::array& top = o.at("top_endpoints").as_array();
  BOOST_REQUIRE(top.size() == 2u);                          // --top 2 of three endpoints
  BOOST_TEST(top[0].at("endpoint").as_string() == "/r/0");  // 10 requests, then /r/1, /r/2 tied
  BOOST_TEST(top[0].at("requests").as_int64() == 10);
  BOOST_TEST(top[1].at("endpoint").as_string() == "/r/1");
  BOOST_TEST(o.at("series").at("bucket").as_string() == "day");
  BOOST_TEST(o.at("series").at("points").as_array().size() == 8u);  // 7 days reach 8 dates
  const json::array& keys = o.at("keys").as_array();
  BOOST_REQUIRE(keys.size() == 1u);
  BOOST_TEST(keys[0].at("total").as_int64() == 30);
  BOOST_TEST(keys[0].at("failures").as_int64() == 3);
}

BOOST_AUTO_TEST_CASE(table_and_chart_formats_show_real_data) {
  Installation install({"sibling"});
  const ProcessResult none = install.prompt({"api:usage"});
  BOOST_TEST(none.exit_code == 0, describe(none));
  BOOST_TEST(contains(none.out, "No requests in this period."), none.out);
  BOOST_TEST(contains(none.out, "Error rate     0.00%"), none.out);
  const std::string id = newKeyId(install);
  BOOST_REQUIRE(install.prompt({"sibling:record", id, "20"}).exit_code == 0);
  // The C locale: bars of '#'.
  ProcessOptions c_locale;
  c_locale.env["LANG"] = "C";
  c_locale.unset_env = {"LC_ALL", "LC_CTYPE"};
  const ProcessResult table = install.prompt({"api:usage"}, c_locale);
  BOOST_TEST(table.exit_code == 0, describe(table));
  for (const char* line :
       {"Requests       20", "Unique keys    1", "Top endpoints:", "Per key:",
        "Activity (requests per hour):", "########################################  2",
        "* not over yet: counts so far", "scale: # = 0.5 requests"}) {
    BOOST_TEST(contains(table.out, line), line << "\n" << table.out);
  }
  // Per-key rows name the key beside its id.
  BOOST_TEST(contains(table.out, "  " + id + "  n     20"), table.out);
  // A UTF-8 locale: bars of block elements.
  ProcessOptions utf8 = c_locale;
  utf8.env["LANG"] = "C.UTF-8";
  const ProcessResult chart = install.prompt({"api:usage", "--format", "chart"}, utf8);
  BOOST_TEST(chart.out.rfind("Activity (requests per hour):", 0) == 0u, chart.out);
  BOOST_TEST(!contains(chart.out, "Top endpoints"), chart.out);
  BOOST_TEST(contains(chart.out, "\u2588\u2588\u2588\u2588\u2588"), chart.out);
  BOOST_TEST(!contains(chart.out, "#"), chart.out);
  const ProcessResult info = install.prompt({"api:keys:info", id});
  BOOST_TEST(contains(info.out, "Usage, last 24h:"), info.out);
  BOOST_TEST(contains(info.out, "20 (18 succeeded, 2 failed)"), info.out);
  const ProcessResult bare = install.prompt({"api:keys:info", id, "--no-stats", "-f", "json"});
  BOOST_TEST(!contains(bare.out, "usage_24h"), bare.out);
}

BOOST_AUTO_TEST_CASE(bad_periods_formats_and_keys_are_clear_errors) {
  Installation install;
  for (const char* period : {"30x", "0d", "99999999999y"}) {
    const ProcessResult r = install.prompt({"api:usage", "--period", period});
    BOOST_TEST(r.exit_code == 2, describe(r));
    BOOST_TEST(contains(r.err, std::string("invalid --period \"") + period + "\""), r.err);
  }
  const ProcessResult format = install.prompt({"api:usage", "--format", "xml"});
  BOOST_TEST(format.exit_code == 2, describe(format));
  const ProcessResult key = install.prompt({"api:usage", "--key", "key_0000000000000000"});
  BOOST_TEST(key.exit_code == 1, describe(key));
  BOOST_TEST(contains(key.err, "no key with id"), key.err);
}

BOOST_AUTO_TEST_CASE(a_sibling_reads_statistics_through_the_service) {
  Installation install({"sibling"});
  const std::string id = newKeyId(install);
  BOOST_REQUIRE(install.prompt({"sibling:record", id, "100"}).exit_code == 0);
  const ProcessResult r = install.prompt({"sibling:usage", id});
  BOOST_TEST(r.exit_code == 0, describe(r));
  BOOST_TEST(contains(r.out, "\"total_requests\":100"), r.out);
  BOOST_TEST(contains(r.out, "key total=100 successes=90 failures=10 p95=94"), r.out);
}

BOOST_AUTO_TEST_SUITE_END()
