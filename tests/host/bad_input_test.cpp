// Bad input to every api:* command, table-driven, through the real prompt: each row must
// exit with its code (2 usage, 1 operational), print nothing on stdout, say "error:" first on
// stderr naming the offending value or argument, and leave the database exactly as it was.
#include <sqlite3.h>

#include <algorithm>
#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <boost/test/unit_test.hpp>
#include <map>
#include <string>
#include <vector>

#include "installation.hpp"
#include "process.hpp"
#include "text.hpp"

namespace {

namespace json = boost::json;
using testing_support::contains;
using testing_support::describe;
using testing_support::Installation;
using testing_support::ProcessOptions;
using testing_support::ProcessResult;

// Every table's schema and rows, as text, in a stable order: equal dumps, equal databases.
std::string dumpDatabase(const std::string& path) {
  sqlite3* db = nullptr;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
    const std::string message = db != nullptr ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    BOOST_FAIL("cannot open " << path << ": " << message);
  }
  const auto rows = [&](const std::string& sql) {
    std::vector<std::string> out;
    sqlite3_stmt* statement = nullptr;
    BOOST_REQUIRE_MESSAGE(sqlite3_prepare_v2(db, sql.c_str(), -1, &statement, nullptr) == SQLITE_OK,
                          sql << ": " << sqlite3_errmsg(db));
    while (sqlite3_step(statement) == SQLITE_ROW) {
      std::string row;
      for (int i = 0; i < sqlite3_column_count(statement); ++i) {
        const auto* text = sqlite3_column_text(statement, i);
        row += i == 0 ? "" : " | ";
        row += sqlite3_column_type(statement, i) == SQLITE_NULL
                   ? "NULL"
                   : std::string(reinterpret_cast<const char*>(text),
                                 static_cast<size_t>(sqlite3_column_bytes(statement, i)));
      }
      out.push_back(row);
    }
    sqlite3_finalize(statement);
    std::sort(out.begin(), out.end());
    return out;
  };
  std::string dump;
  for (const std::string& entry :
       rows("SELECT type || ' ' || name || ': ' || ifnull(sql, '') FROM sqlite_master")) {
    dump += entry + "\n";
  }
  for (const std::string& table : rows("SELECT name FROM sqlite_master WHERE type = 'table'")) {
    dump += "-- " + table + "\n";
    for (const std::string& row : rows("SELECT * FROM \"" + table + "\"")) {
      dump += row + "\n";
    }
  }
  sqlite3_close(db);
  return dump;
}

struct Row {
  std::vector<std::string> args;  // "{active}" and "{revoked}" stand for the seeded key ids
  int exit_code;
  std::string needle;  // what stderr must contain: the value, a prefix of it, or the option
  std::string stdin_data = {};
};

const std::string kInjection = "x'; DROP TABLE api_keys;--";
const std::string kUnknownId = "key_00000000deadbeef";
// Past the host's 64 KiB; 128 KiB itself cannot be passed: Linux refuses (E2BIG) an argument
// of MAX_ARG_STRLEN (131072) bytes or more, terminator included.
const std::string kHuge(120 * 1024, 'n');
const std::string kLongName(60 * 1024, 'n');  // under the host's 64 KiB, over the module's limit
const std::string kRlo =
    "evil\xe2\x80\xae"
    "gpj.exe";  // U+202E RIGHT-TO-LEFT OVERRIDE
const std::string kEscape = "a\x1b[2Jb";
const std::string kBadUtf8 = "caf\xc3";

std::vector<Row> rows() {
  const std::vector<std::string> create{"api:keys:create", "--name", "n", "--user", "u"};
  const auto with = [](std::vector<std::string> base, std::vector<std::string> more) {
    base.insert(base.end(), more.begin(), more.end());
    return base;
  };
  return {
      // api:keys:create
      {with(create, {"--expires", "99999999999999999999d"}), 2, "--expires"},
      {with(create, {"--expires", "-5d"}), 2, "\"-5d\""},
      {with(create, {"--expires", "NaN"}), 2, "\"NaN\""},
      {with(create, {"--expires", "1e3d"}), 2, "\"1e3d\""},
      {with(create, {"--expires", ""}), 2, "--expires"},
      {with(create, {"--expires", "200y"}), 2, "--expires"},
      {with(create, {"--limit", "99999999999999999999"}), 2, "\"99999999999999999999\""},
      {with(create, {"--limit", "-1"}), 2, "-1"},
      {with(create, {"--limit", "0"}), 2, "rate limit 0"},
      {with(create, {"--limit", "NaN"}), 2, "\"NaN\" for --limit"},
      {with(create, {"--limit", "1e3"}), 2, "\"1e3\" for --limit"},
      {with(create, {"--limit", ""}), 2, "\"\" for --limit"},
      {with(create, {"--limit", "2.5"}), 2, "\"2.5\" for --limit"},
      {{"api:keys:create", "--name", kHuge, "--user", "u"}, 2, "after \"--name\""},
      {{"api:keys:create", "--name=" + kHuge, "--user", "u"}, 2, "\"--name\"=..."},
      {{"api:keys:create", "--name", kLongName, "--user", "u"}, 2, "name"},
      {{"api:keys:create", "--name", kEscape, "--user", "u"}, 2, "name"},
      {{"api:keys:create", "--name", kRlo, "--user", "u"}, 2, "name"},
      {{"api:keys:create", "--name", "n", "--user", kEscape}, 2, "user"},
      {{"api:keys:create", "--name", "n", "--user", kRlo}, 2, "user"},
      {{"api:keys:create", "--name", "tab\there", "--user", "u"}, 2, "name"},
      {{"api:keys:create", "--name", kBadUtf8, "--user", "u"}, 2, "--name is not valid UTF-8"},
      {{"api:keys:create", "--name", "n", "--user", kBadUtf8}, 2, "--user is not valid UTF-8"},
      {{"api:keys:create", "--name", "", "--user", "u"}, 2, "name"},
      {with(create, {"--scopes", "read;DROP"}), 2, "read;DROP"},
      {with(create, {"--format", "xml"}), 2, "\"xml\""},
      {with(create, {"--format", ""}), 2, "--format"},
      {with(create, {"--format", kEscape}), 2, "--format"},
      {with(create, {"--format", kRlo}), 2, "--format"},
      {{"api:keys:create", "--name", "n"}, 2, "--user"},
      {{"api:keys:create", "--user", "u"}, 2, "--name"},
      {with(create, {"surplus"}), 2, "\"surplus\""},
      {with(create, {"--bogus"}), 2, "\"--bogus\""},
      {with(create, {"-n"}), 2, "-n"},
      {with(create, {"--name", "again"}), 2, "--name is given more than once"},
      // api:keys:list
      {{"api:keys:list", "--format", "yaml"}, 2, "\"yaml\""},
      {{"api:keys:list", "surplus"}, 2, "\"surplus\""},
      {{"api:keys:list", "--active=yes"}, 2, "--active"},
      {{"api:keys:list", "--user"}, 2, "--user"},
      {{"api:keys:list", "--user", kBadUtf8}, 2, "--user"},
      {{"api:keys:list", "--%canonical_option%"}, 2, "\"--%canonical_option%\""},
      // api:keys:info
      {{"api:keys:info"}, 2, "<key_id>"},
      {{"api:keys:info", "key_a", "key_b"}, 2, "unexpected argument \"key_b\""},
      {{"api:keys:info", kInjection}, 1, "x'; DROP"},
      {{"api:keys:info", kUnknownId}, 1, kUnknownId},
      {{"api:keys:info", "{active}", "--format", "csv"}, 2, "\"csv\""},
      {{"api:keys:info", kHuge}, 2, "argument 2"},
      {{"api:keys:info", kBadUtf8}, 2, "<key_id>"},
      {{"api:keys:info", kEscape}, 1, "no key with id"},
      {{"api:keys:info", "{active}", "--no-stats=1"}, 2, "--no-stats"},
      // api:keys:revoke
      {{"api:keys:revoke", kUnknownId, "--force"}, 1, kUnknownId},
      {{"api:keys:revoke", kInjection, "--force"}, 1, "x'; DROP"},
      {{"api:keys:revoke", "{revoked}", "--force"}, 1, "revoked"},
      {{"api:keys:revoke", "{active}"}, 1, "--force"},
      {{"api:keys:revoke", "-", "--force"}, 2, "standard input"},
      {{"api:keys:revoke", "-", "--force"}, 2, "longer than 4096", std::string(1 << 20, 'k')},
      {{"api:keys:revoke", "{active}", "--force", "--reason", kEscape}, 2, "reason"},
      {{"api:keys:revoke", "{active}", "--force", "--reason", kRlo}, 2, "reason"},
      {{"api:keys:revoke", "{active}", "--force", "--reason", kBadUtf8}, 2, "--reason"},
      {{"api:keys:revoke", "{active}", "surplus", "--force"}, 2, "\"surplus\""},
      {{"api:keys:revoke"}, 2, "<key>"},
      // api:keys:rotate
      {{"api:keys:rotate", kUnknownId, "--force"}, 1, kUnknownId},
      {{"api:keys:rotate", kInjection, "--force"}, 1, "x'; DROP"},
      {{"api:keys:rotate", "{revoked}", "--force"}, 1, "revoked"},
      {{"api:keys:rotate", "{active}", "--grace", "99999999999999999999h", "--force"},
       2,
       "--grace"},
      {{"api:keys:rotate", "{active}", "--grace", "-1h", "--force"}, 2, "\"-1h\""},
      {{"api:keys:rotate", "{active}", "--grace", "NaN", "--force"}, 2, "\"NaN\""},
      {{"api:keys:rotate", "{active}", "--grace", "2y", "--force"}, 2, "--grace"},
      {{"api:keys:rotate", "{active}", "--format", "xml", "--force"}, 2, "\"xml\""},
      {{"api:keys:rotate", "{active}"}, 1, "--force"},
      {{"api:keys:rotate", "{active}", "surplus", "--force"}, 2, "\"surplus\""},
      // api:keys:verify
      {{"api:keys:verify", "sk_a", "sk_b"}, 2, "unexpected argument"},
      {{"api:keys:verify", "sk_a", "--format", "xml"}, 2, "\"xml\""},
      {{"api:keys:verify"}, 2, "longer than 4096", std::string(1 << 20, 'k')},
      {{"api:keys:verify"}, 2, "no key given"},
      // api:ratelimit:status
      {{"api:ratelimit:status", kUnknownId}, 1, kUnknownId},
      {{"api:ratelimit:status", kInjection}, 1, "x'; DROP"},
      {{"api:ratelimit:status", "{active}", "--format", "xml"}, 2, "\"xml\""},
      {{"api:ratelimit:status", "{active}", "surplus"}, 2, "\"surplus\""},
      {{"api:ratelimit:status"}, 2, "<key_id>"},
      // api:ratelimit:reset
      {{"api:ratelimit:reset", kUnknownId, "--force"}, 1, kUnknownId},
      {{"api:ratelimit:reset", kInjection, "--force"}, 1, "x'; DROP"},
      {{"api:ratelimit:reset", "{active}"}, 1, "--force"},
      {{"api:ratelimit:reset", "{active}", "surplus", "--force"}, 2, "\"surplus\""},
      // api:ratelimit:update
      {{"api:ratelimit:update", kUnknownId, "10"}, 1, kUnknownId},
      {{"api:ratelimit:update", kInjection, "10"}, 1, "x'; DROP"},
      {{"api:ratelimit:update", "{revoked}", "10"}, 1, "revoked"},
      {{"api:ratelimit:update", "{active}", "0"}, 2, "0"},
      {{"api:ratelimit:update", "{active}", "-5"}, 2, "-5"},
      {{"api:ratelimit:update", "{active}", "NaN"}, 2, "\"NaN\" for <new_limit>"},
      {{"api:ratelimit:update", "{active}", "1e3"}, 2, "\"1e3\" for <new_limit>"},
      {{"api:ratelimit:update", "{active}", ""}, 2, "\"\" for <new_limit>"},
      {{"api:ratelimit:update", "{active}", "99999999999999999999"}, 2, "\"99999999999999999999\""},
      {{"api:ratelimit:update", "{active}", "1000000001"}, 2, "1000000001"},
      {{"api:ratelimit:update", "{active}"}, 2, "<new_limit>"},
      {{"api:ratelimit:update", "{active}", "10", "surplus"}, 2, "\"surplus\""},
      // api:usage
      {{"api:usage", "--period", "99999999999999999999d"}, 2, "--period"},
      {{"api:usage", "--period", "-1h"}, 2, "-1h"},
      {{"api:usage", "--period", "NaN"}, 2, "NaN"},
      {{"api:usage", "--period", ""}, 2, "--period"},
      {{"api:usage", "--period", "1e3h"}, 2, "1e3h"},
      {{"api:usage", "--top", "0"}, 2, "--top"},
      {{"api:usage", "--top", "-1"}, 2, "--top"},
      {{"api:usage", "--top", "NaN"}, 2, "\"NaN\" for --top"},
      {{"api:usage", "--top", "1e3"}, 2, "\"1e3\" for --top"},
      {{"api:usage", "--top", "1001"}, 2, "--top"},
      {{"api:usage", "--top", "99999999999999999999"}, 2, "--top"},
      {{"api:usage", "--format", "xml"}, 2, "\"xml\""},
      {{"api:usage", "--format", kEscape}, 2, "--format"},
      {{"api:usage", "--period", kEscape}, 2, "--period"},
      {{"api:usage", "--key", kUnknownId}, 1, kUnknownId},
      {{"api:usage", "--key", kInjection}, 1, "x'; DROP"},
      {{"api:usage", "surplus"}, 2, "\"surplus\""},
      // global options and --set
      {{"--set", "api.defaultRateLimit=abc", "api:keys:list"}, 2, "\"abc\""},
      {{"--set", "api.defaultRateLimit=", "api:keys:list"}, 2, "--set api.defaultRateLimit="},
      {{"--set", "api.failOpen=maybe", "api:keys:list"}, 2, "\"maybe\""},
      {{"--set", "api.busyTimeout=1.5", "api:keys:list"}, 2, "\"1.5\""},
      {{"--set", "api.nosuchkey=1", "api:keys:list"}, 2, "\"nosuchkey\""},
      {{"--set", "nosuchmodule.x=1", "api:keys:list"}, 2, "\"nosuchmodule\""},
      {{"--set", "noequals", "api:keys:list"}, 2, "\"noequals\""},
      {{"--set", "api.keyPrefix=" + kBadUtf8, "api:keys:list"}, 2, "not valid UTF-8"},
      // The host types a --set against module.yaml (a whole number here); the range is the
      // module's to check, at load (exit 1), naming the value and what it accepts.
      {{"--set", "api.cleanupInterval=5", "api:keys:list"}, 1, "10..86400000 ms, got 5"},
      {{"--log-level", "warn", "--set", "api.cleanupInterval=-5", "serve"},
       1,
       "10..86400000 ms, got -5"},
      {{"--set", "api.cleanupInterval=86400001", "health"}, 1, "got 86400001"},
      {{"--set", "api.cleanupInterval=soon", "serve"}, 2, "\"soon\" is not a whole number"},
      {{"--set"}, 2, "--set needs a value"},
      {{"--log-level", "loud", "api:keys:list"}, 2, "\"loud\""},
      {{"--bogus", "api:keys:list"}, 2, "\"--bogus\""},
      {{"--x%canonical_option%", "api:keys:list"}, 2, "\"--x%canonical_option%\""},
      {{"--state-dir"}, 2, "--state-dir needs a value"},
      {{"api:keys:lst"}, 2, "\"api:keys:lst\""},
      {{"api:keys:\x1b[2J"}, 2, "unknown command \"api:keys:\\x1B[2J\""},
      {{"help", "api:keys:list", kEscape}, 2, "help takes one command"},
      {{"health", kRlo}, 2, "health takes no arguments"},
  };
}

std::string describeRow(const Row& row) {
  std::string text;
  for (const std::string& arg : row.args) {
    std::string shown =
        arg.size() > 40 ? arg.substr(0, 12) + "...(" + std::to_string(arg.size()) + " bytes)" : arg;
    text += (text.empty() ? "" : " ") + host::escapeControls(shown);
  }
  if (!row.stdin_data.empty()) {
    text += " <stdin: " + std::to_string(row.stdin_data.size()) + " bytes>";
  }
  return text;
}

std::string idOf(const ProcessResult& r) {
  json::error_code ec;
  const json::value v = json::parse(r.out, ec);
  BOOST_REQUIRE_MESSAGE(!ec && v.is_object(), describe(r));
  return std::string(v.as_object().at("key").as_object().at("id").as_string());
}

}  // namespace

BOOST_AUTO_TEST_SUITE(bad_input)

BOOST_AUTO_TEST_CASE(every_bad_invocation_fails_cleanly_and_changes_nothing) {
  Installation install;
  const std::string active = idOf(install.prompt(
      {"api:keys:create", "--name", "active", "--user", "seed", "--format", "json"}));
  const std::string revoked = idOf(install.prompt(
      {"api:keys:create", "--name", "revoked", "--user", "seed", "--format", "json"}));
  const ProcessResult revoke = install.prompt({"api:keys:revoke", revoked, "--force"});
  BOOST_REQUIRE_MESSAGE(revoke.exit_code == 0, describe(revoke));
  const std::string before = dumpDatabase(install.database());
  BOOST_REQUIRE(contains(before, active));

  const std::vector<Row> table = rows();
  BOOST_TEST(table.size() >= 60u);
  for (Row row : table) {
    const std::string description = describeRow(row);
    for (std::string& arg : row.args) {
      arg = arg == "{active}" ? active : arg == "{revoked}" ? revoked : arg;
    }
    BOOST_TEST_CONTEXT(description) {
      ProcessOptions options;
      options.stdin_data = row.stdin_data;
      options.timeout = std::chrono::seconds(10);
      const ProcessResult r = install.prompt(row.args, options);
      BOOST_TEST(!r.timed_out);
      BOOST_TEST(r.exit_code == row.exit_code, describe(r));
      BOOST_TEST(r.out.empty(), describe(r));
      BOOST_TEST(r.err.rfind("error:", 0) == 0u, describe(r));
      BOOST_TEST(contains(r.err, row.needle), "wanted " << row.needle << " in:\n" << describe(r));
      BOOST_TEST(r.err.size() < 4096u, "stderr is " << r.err.size() << " bytes");
      // What the user typed comes back escaped: no raw ESC, RLO or invalid UTF-8 on stderr.
      BOOST_TEST(r.err.find('\x1b') == std::string::npos, describe(r));
      BOOST_TEST(r.err.find("\xe2\x80\xae") == std::string::npos, describe(r));
      BOOST_TEST(r.err.find("caf\xc3\n") == std::string::npos, describe(r));
      const std::string after = dumpDatabase(install.database());
      BOOST_TEST((after == before), "the database changed:\n" << after);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
