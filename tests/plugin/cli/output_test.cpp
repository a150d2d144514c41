// The CLI's formatting and the presentation layer's documents, on known values: aligned
// tables, times, windows, numbers, the chart, status text, and the JSON documents byte for
// byte (the e2e tests check them through the host; these pin them without a process).
#include "cli/output.hpp"

#include <boost/json/object.hpp>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <string>

#include "cli/rate_limit_commands.hpp"
#include "cli/usage_commands.hpp"
#include "domain/errors.hpp"
#include "present/documents.hpp"
#include "util/time_text.hpp"

namespace {

api::TimePoint at(const char* iso) {
  return *api::parseIsoUtc(iso);
}

api::KeyRecord sampleKey() {
  api::KeyRecord key;
  key.id = "key_0123456789abcdef";
  key.key_prefix = "sk_abcde";
  key.user_id = "ann";
  key.name = "Prod";
  key.scopes = {"read", "write"};
  key.rate_limit = 100;
  key.created_at = at("2026-11-25T06:00:00.000Z");
  key.expires_at = at("2026-12-25T06:00:00.000Z");
  key.metadata_json = R"({"team":"billing"})";
  return key;
}

api::LimitStatus sampleStatus() {
  api::LimitStatus s;
  s.limit = 10;
  s.used = 9;
  s.remaining = 1;
  s.window_size_ms = 3'600'000;
  s.window_start = at("2026-11-25T05:04:00.000Z");
  s.window_end = at("2026-11-25T06:04:00.000Z");
  s.reset_at = at("2026-11-25T06:10:00.000Z");
  return s;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(cli_output)

BOOST_AUTO_TEST_CASE(tables_align_by_characters_and_show_controls_as_question_marks) {
  api::Table t({"ID", "NAME"});
  t.add({"k1", "caf\xC3\xA9"});  // 4 characters, 5 bytes
  t.add({"key_2", "a\x1B[2Jb"});
  BOOST_TEST(t.render() == "ID     NAME\nk1     caf\xC3\xA9\nkey_2  a?[2Jb\n");
}

BOOST_AUTO_TEST_CASE(tables_align_wide_and_combining_characters_by_terminal_columns) {
  // Found by trying it: a name of wide characters (2 columns each) or with a combining
  // accent (0 columns) shifted every column after it.
  api::Table t({"NAME", "USER"});
  t.add({"\xe6\x9d\xb1\xe4\xba\xac API \xe3\x82\xad\xe3\x83\xbc", "a"});  // 13 columns
  t.add({"Cafe\xcc\x81", "b"});                                           // 4 columns
  t.add({"plain", "c"});
  BOOST_TEST(t.render() ==
             "NAME           USER\n"
             "\xe6\x9d\xb1\xe4\xba\xac API \xe3\x82\xad\xe3\x83\xbc  a\n"
             "Cafe\xcc\x81           b\n"
             "plain          c\n");
}

BOOST_AUTO_TEST_CASE(a_table_fitted_to_a_width_drops_columns_then_shares_the_room) {
  api::Table t({"ID", "NAME", "NOTE", "EXTRA"});
  t.add({"k1", "a rather long name of a key", "short", "x"});
  t.add({"k2", "n", "another long note here", "y"});
  t.shrinkable({1, 2});
  t.droppable({3});
  api::OutputStyle style;
  BOOST_TEST(t.render(style) ==  // no width: whole
             "ID  NAME                         NOTE                    EXTRA\n"
             "k1  a rather long name of a key  short                   x\n"
             "k2  n                            another long note here  y\n");
  // 40 columns: at 20 each the names and notes would not fit beside EXTRA (2 + 20 + 20 + 5
  // and three gaps), so it goes; 34 columns are left, 17 each. A cut ends in the ellipsis,
  // without the space before it.
  style.width = 40;
  BOOST_TEST(t.render(style) ==
             "ID  NAME               NOTE\n"
             "k1  a rather long...   short\n"
             "k2  n                  another long n...\n");
  // Room for everything: whole.
  style.width = 58;
  t = api::Table({"ID", "NAME", "NOTE"});
  t.add({"k1", "a rather long name of a key", "short"});
  t.shrinkable({1, 2});
  BOOST_TEST(t.render(style) ==
             "ID  NAME                         NOTE\nk1  a rather long name of a key  short\n");
  // 20 columns: NOTE needs less than its share and keeps its 5; NAME gets the 9 left.
  style.width = 20;
  BOOST_TEST(t.render(style) == "ID  NAME       NOTE\nk1  a rath...  short\n");
  // 16 columns: NAME would get 5, but stops at kMinShrunkColumns (8): the line is 19 wide.
  style.width = 16;
  BOOST_TEST(t.render(style) == "ID  NAME      NOTE\nk1  a rat...  short\n");
}

BOOST_AUTO_TEST_CASE(a_table_too_narrow_for_its_fixed_columns_stops_cutting_at_the_minimum) {
  api::Table t({"FIXED", "NAME"});
  t.add({std::string(30, 'f'), std::string(30, 'n')});
  t.shrinkable({1});
  api::OutputStyle style;
  style.width = 35;  // the fixed column alone nearly fills it
  BOOST_TEST(t.render(style) == "FIXED                           NAME\n" + std::string(30, 'f') +
                                    "  nnnnn...\n");  // 8 columns: the line is 40 wide
}

BOOST_AUTO_TEST_CASE(coloured_cells_are_padded_by_their_text_alone) {
  api::Table t({"STATUS", "LIMIT"});
  t.add({"active", "10"});
  t.colour(0, api::Colour::kGreen);
  t.add({"revoked", "20"});
  t.colour(0, api::Colour::kRed);
  api::OutputStyle style;
  style.colour = true;
  BOOST_TEST(t.render(style) ==
             "STATUS   LIMIT\n\x1b[32mactive\x1b[0m   10\n\x1b[31mrevoked\x1b[0m  20\n");
  style.colour = false;
  BOOST_TEST(t.render(style) == "STATUS   LIMIT\nactive   10\nrevoked  20\n");
}

BOOST_AUTO_TEST_CASE(windows_times_and_numbers_read_as_documented) {
  BOOST_TEST(api::formatWindow(86'400'000) == "1d");
  BOOST_TEST(api::formatWindow(3'600'000) == "1h");
  BOOST_TEST(api::formatWindow(90'000) == "90s");
  BOOST_TEST(api::formatWindow(1500) == "1500ms");
  BOOST_TEST(api::usageBucketName(3'600'000) == "hour");
  BOOST_TEST(api::usageBucketName(86'400'000) == "day");
  BOOST_TEST(api::usageBucketName(1'800'000) == "30m");
  BOOST_TEST(api::shortTime(at("2026-11-25T06:30:59.999Z")) == "2026-11-25 06:30 UTC");
  BOOST_TEST(api::shortTime(std::nullopt, "never") == "never");
  BOOST_TEST(api::withThousands(0) == "0");
  BOOST_TEST(api::withThousands(1'234'567) == "1,234,567");
  BOOST_TEST(api::withThousands(-1000) == "-1,000");
}

BOOST_AUTO_TEST_CASE(a_format_other_than_table_or_json_is_refused_naming_it) {
  BOOST_TEST((api::parseFormat(std::nullopt) == api::OutputFormat::kTable));
  BOOST_TEST((api::parseFormat(std::string("json")) == api::OutputFormat::kJson));
  try {
    api::parseFormat(std::string("yaml"));
    BOOST_FAIL("yaml accepted");
  } catch (const api::InvalidInput& e) {
    BOOST_TEST(std::string(e.what()) == "invalid --format \"yaml\": use table or json");
  }
}

BOOST_AUTO_TEST_CASE(json_text_writes_fractions_in_plain_decimals) {
  boost::json::object o;
  o["a"] = 10.5;
  o["b"] = 0.0;
  o["c"] = 1e20;
  o["d"] = 7;
  o["e"] = "x\"y";
  BOOST_TEST(api::jsonText(o) ==
             R"({"a":10.5,"b":0.0,"c":100000000000000000000.0,"d":7,"e":"x\"y"})");
  BOOST_TEST(api::jsonLine(boost::json::object()) == "{}\n");
}

BOOST_AUTO_TEST_CASE(the_key_document_holds_every_documented_field_in_order) {
  const api::KeyRecord key = sampleKey();
  BOOST_TEST(api::jsonText(api::keyObject(key, at("2026-11-26T00:00:00.000Z"))) ==
             R"({"id":"key_0123456789abcdef","name":"Prod","user_id":"ann",)"
             R"("key_prefix":"sk_abcde","status":"active","scopes":["read","write"],)"
             R"("rate_limit":100,"created_at":"2026-11-25T06:00:00.000Z",)"
             R"("expires_at":"2026-12-25T06:00:00.000Z","last_used_at":null,"revoked_at":null,)"
             R"("revoked_reason":null,"metadata":{"team":"billing"}})");
  // After its expiry the same key reads expired.
  BOOST_TEST(api::keyObject(key, at("2027-01-01T00:00:00.000Z")).at("status").as_string() ==
             "expired");
}

BOOST_AUTO_TEST_CASE(the_audit_and_verification_documents_use_null_for_absent_values) {
  api::AuditRecord record;
  record.at = at("2026-11-25T06:00:00.000Z");
  record.action = "create";
  record.details_json = "{}";
  BOOST_TEST(api::jsonText(api::auditObject(record)) ==
             R"({"at":"2026-11-25T06:00:00.000Z","action":"create","actor":null,"reason":null,)"
             R"("details":{}})");
  api::KeyValidation v;
  v.reason = api::KeyRejection::kMalformed;
  BOOST_TEST(api::jsonText(api::verificationDocument(v, at("2026-11-25T06:00:00.000Z"))) ==
             R"({"valid":false,"reason":"malformed","key":null})");
}

BOOST_AUTO_TEST_CASE(the_limit_status_document_matches_the_readme_example) {
  BOOST_TEST(api::jsonText(api::limitStatusObject(sampleStatus(), at("2026-11-25T06:03:00.000Z"),
                                                  std::string_view("key_8f59b0c08f5adcfc"))) ==
             R"({"limit":10,"used":9,"remaining":1,"window_size":3600000,)"
             R"("window_start":"2026-11-25T05:04:00.000Z","window_end":"2026-11-25T06:04:00.000Z",)"
             R"("reset_at":"2026-11-25T06:10:00.000Z","reset_in":420000,"over_limit":false,)"
             R"("key_id":"key_8f59b0c08f5adcfc"})");
}

BOOST_AUTO_TEST_CASE(status_text_warns_at_ninety_percent_and_above_a_lowered_limit) {
  const api::TimePoint now = at("2026-11-25T06:03:00.000Z");
  api::LimitStatus s = sampleStatus();
  const std::string text = api::limitStatusText(s, now, 60);
  BOOST_TEST(text.find("  Usage      [##################--] 90%\n") != std::string::npos, text);
  BOOST_TEST(text.find("  Window     2026-11-25 05:04 .. 06:04 UTC (60 steps of 1m)\n") !=
                 std::string::npos,
             text);
  BOOST_TEST(text.find("warning: 90% of the limit is used\n") != std::string::npos, text);
  s.used = 12;
  BOOST_TEST(api::limitStatusText(s, now, 60).find("usage is above the limit (it was lowered)") !=
             std::string::npos);
}

BOOST_AUTO_TEST_CASE(key_details_show_the_expiry_and_a_scheduled_revocation) {
  api::KeyRecord key = sampleKey();
  key.revoked_at = at("2026-11-26T06:00:00.000Z");
  const std::string text = api::keyDetails(key, at("2026-11-25T06:00:00.000Z"), 3'600'000);
  BOOST_TEST(text.find("  Rate limit  100 requests per 1h\n") != std::string::npos, text);
  BOOST_TEST(text.find("  Scopes      read, write\n") != std::string::npos, text);
  BOOST_TEST(text.find("  Revoked at  2026-11-26 06:00 UTC (scheduled, in ") != std::string::npos,
             text);
  BOOST_TEST(text.find("  Reason      (none given)\n") != std::string::npos, text);
}

BOOST_AUTO_TEST_CASE(the_chart_scales_bars_to_the_busiest_bucket) {
  api::UsageStats stats;
  stats.series_bucket_ms = 3'600'000;
  stats.series = {{at("2026-11-25T08:00:00.000Z").time_since_epoch().count(), 10, 1},
                  {at("2026-11-25T09:00:00.000Z").time_since_epoch().count(), 0, 0},
                  {at("2026-11-25T10:00:00.000Z").time_since_epoch().count(), 1234, 12}};
  BOOST_TEST(api::renderActivityChart(stats, 20) ==
             "  HOUR (UTC)        REQUESTS                        ERRORS\n"
             "  2026-11-25 08:00  10        #                     1\n"
             "  2026-11-25 09:00  0                               0\n"
             "  2026-11-25 10:00  1,234     ####################  12\n"
             "  scale: # = 61.7 requests\n");
  const std::string json = api::jsonText(api::usageObject(stats, "24h"));
  BOOST_TEST(json.find(R"("series":{"bucket":"hour","points":[{"start":"2026-11-25T08:00:00.000Z",)"
                       R"("requests":10,"errors":1})") != std::string::npos,
             json);
  BOOST_TEST(
      json.find(R"("error_rate":0.0,"response_time_ms":{"avg":0.0,"p50":0)") != std::string::npos,
      json);
}

BOOST_AUTO_TEST_CASE(the_unicode_chart_draws_eighths_and_marks_the_bucket_not_over) {
  api::UsageStats stats;
  stats.series_bucket_ms = 3'600'000;
  stats.series = {{at("2026-11-25T08:00:00.000Z").time_since_epoch().count(), 100, 0},
                  {at("2026-11-25T09:00:00.000Z").time_since_epoch().count(), 33, 1},
                  {at("2026-11-25T10:00:00.000Z").time_since_epoch().count(), 1, 0}};
  stats.period_end = at("2026-11-25T10:20:00.000Z");  // inside the last hour
  // 100 -> 4 whole columns; 33 -> 10.56 eighths, rounded to 11: one column and three
  // eighths; 1 -> 0.32 eighths, shown as one eighth, never as nothing.
  BOOST_TEST(api::renderActivityChart(stats, 4, api::ChartGlyphs::kUnicode) ==
             "  HOUR (UTC)         REQUESTS        ERRORS\n"
             "  2026-11-25 08:00   100       \u2588\u2588\u2588\u2588  0\n"
             "  2026-11-25 09:00   33        \u2588\u258D    1\n"
             "  2026-11-25 10:00*  1         \u258F     0\n"
             "  * not over yet: counts so far\n"
             "  scale: \u2588 = 25.0 requests\n");
}

BOOST_AUTO_TEST_CASE(the_locale_decides_between_unicode_and_ascii_bars) {
  const char* names[] = {"LC_ALL", "LC_CTYPE", "LANG"};
  std::string saved[3];
  bool had[3];
  for (int i = 0; i < 3; ++i) {
    const char* v = std::getenv(names[i]);
    had[i] = v != nullptr;
    saved[i] = had[i] ? v : "";
    ::unsetenv(names[i]);
  }
  BOOST_TEST(!api::localeIsUtf8());  // nothing set: the C locale
  ::setenv("LANG", "en_US.UTF-8", 1);
  BOOST_TEST(api::localeIsUtf8());
  ::setenv("LC_CTYPE", "C", 1);  // LC_CTYPE outranks LANG
  BOOST_TEST(!api::localeIsUtf8());
  ::setenv("LC_ALL", "de_DE.utf8", 1);  // and LC_ALL outranks both
  BOOST_TEST(api::localeIsUtf8());
  for (int i = 0; i < 3; ++i) {
    if (had[i]) {
      ::setenv(names[i], saved[i].c_str(), 1);
    } else {
      ::unsetenv(names[i]);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
