// End-to-end tests of rate limiting: api:ratelimit:* commands, several processes and threads
// against one key, and a running host seeing CLI changes on its next check.
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

struct Key {
  std::string secret;
  std::string id;
};

Key newKey(const Installation& install, const std::string& limit) {
  const ProcessResult r = install.prompt({"api:keys:create", "--name", "limited", "--user", "u",
                                          "--limit", limit, "--scopes", "read", "-f", "json"});
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, describe(r));
  const json::object o = json::parse(r.out).as_object();
  return {std::string(o.at("secret").as_string()),
          std::string(o.at("key").as_object().at("id").as_string())};
}

long admittedIn(const std::string& out) {
  const auto at = out.find("admitted=");
  return at == std::string::npos ? -1 : std::stol(out.substr(at + 9));
}

}  // namespace

BOOST_AUTO_TEST_SUITE(ratelimit_cli)

BOOST_AUTO_TEST_CASE(processes_and_threads_together_admit_exactly_the_limit) {
  // On each window store: the shared segment (the default) and the database; on PostgreSQL,
  // the database (the only one there).
  const std::vector<std::string> stores = testing_support::onPostgres()
                                              ? std::vector<std::string>{"auto"}
                                              : std::vector<std::string>{"shared", "database"};
  for (const std::string& store : stores) {
    Installation install({"sibling"});
    ProcessOptions on_store;
    on_store.env["PROMPT_API_RATE_LIMIT_STORE"] = store;
    const Key key = newKey(install, "1000");
    for (int round = 0; round < 3; ++round) {
      // 3 processes x 4 threads x 150 attempts = 1800 attempts at a limit of 1000.
      const std::string run = "\"$0\" sibling:hammer " + key.id + " 4 150 >&2";
      std::vector<std::unique_ptr<testing_support::Child>> hammers;
      for (int p = 0; p < 3; ++p) {
        hammers.push_back(std::make_unique<testing_support::Child>(
            std::vector<std::string>{"/bin/sh", "-c", run, PROMPT_BIN}, install.options(on_store)));
      }
      long admitted = 0;
      for (auto& h : hammers) {
        BOOST_TEST(h->wait(std::chrono::seconds(120)) == 0, h->err());
        admitted += admittedIn(h->err());
      }
      BOOST_TEST(admitted == 1000, store << " round " << round);
      const ProcessResult status =
          install.prompt({"api:ratelimit:status", key.id, "-f", "json"}, on_store);
      BOOST_TEST(json::parse(status.out).at("used").as_int64() == 1000, describe(status));
      BOOST_REQUIRE(
          install.prompt({"api:ratelimit:reset", key.id, "--force"}, on_store).exit_code == 0);
    }
    const ProcessResult health = install.prompt({"health"}, on_store);
    BOOST_TEST(contains(health.out + health.err,
                        "rate limits in shared memory (1 of 65536 slots") == (store == "shared"),
               describe(health));
  }
}

BOOST_AUTO_TEST_CASE(status_shows_usage_a_bar_and_warns_near_the_limit) {
  Installation install({"sibling"});
  const Key key = newKey(install, "10");
  BOOST_TEST(install.prompt({"sibling:hammer", key.id, "1", "9"}).exit_code == 0);
  const ProcessResult text = install.prompt({"api:ratelimit:status", key.id});
  BOOST_TEST(text.exit_code == 0, describe(text));
  for (const char* line : {"Limit      10 requests per 1h", "Used       9 (90%)", "Remaining  1",
                           "[##################--] 90%", " UTC (60 steps of 1m)\n",
                           "Next slot  frees in", "warning: 90% of the limit is used"}) {
    BOOST_TEST(contains(text.out, line), line << "\n" << text.out);
  }
  const json::object j =
      json::parse(install.prompt({"api:ratelimit:status", key.id, "-f", "json"}).out).as_object();
  for (const char* field : {"key_id", "limit", "used", "remaining", "window_size", "window_start",
                            "window_end", "reset_at", "reset_in", "over_limit"}) {
    BOOST_TEST(j.contains(field), field);
  }
  BOOST_TEST(j.at("window_size").as_int64() == 3600000);
  const ProcessResult missing = install.prompt({"api:ratelimit:status", "key_nope"});
  BOOST_TEST(missing.exit_code == 1, describe(missing));
  BOOST_TEST(contains(missing.err, "no key with id"), describe(missing));
}

BOOST_AUTO_TEST_CASE(update_checks_its_number_and_reports_old_new_and_usage) {
  Installation install({"sibling"});
  const Key key = newKey(install, "10");
  BOOST_TEST(install.prompt({"sibling:hammer", key.id, "1", "6"}).exit_code == 0);
  const ProcessResult bad = install.prompt({"api:ratelimit:update", key.id, "12abc"});
  BOOST_TEST(bad.exit_code == 2, describe(bad));
  for (const char* value : {"0", "1000000001", "2.5"}) {
    const ProcessResult r = install.prompt({"api:ratelimit:update", key.id, value});
    BOOST_TEST(r.exit_code == 2, value << ": " << describe(r));
  }
  const ProcessResult lower = install.prompt({"api:ratelimit:update", key.id, "4"});
  BOOST_TEST(lower.exit_code == 0, describe(lower));
  BOOST_TEST(contains(lower.out, "updated: 10 -> 4 requests per 1h"), lower.out);
  BOOST_TEST(contains(lower.out, "Current usage: 6"), lower.out);
  BOOST_TEST(contains(lower.out, "warning: current usage is above the new limit"), lower.out);
  const ProcessResult status = install.prompt({"api:ratelimit:status", key.id});
  BOOST_TEST(contains(status.out, "warning: usage is above the limit"), status.out);
  const ProcessResult info = install.prompt({"api:keys:info", key.id, "-f", "json"});
  BOOST_TEST(contains(info.out, R"("action":"update_limit")"), info.out);
}

BOOST_AUTO_TEST_CASE(reset_needs_confirmation_and_is_audited) {
  Installation install({"sibling"});
  const Key key = newKey(install, "10");
  BOOST_TEST(install.prompt({"sibling:hammer", key.id, "1", "3"}).exit_code == 0);
  const ProcessResult refused = install.prompt({"api:ratelimit:reset", key.id});
  BOOST_TEST(refused.exit_code == 1, describe(refused));
  BOOST_TEST(contains(refused.err, "pass --force"), describe(refused));
  const ProcessResult done = install.prompt({"api:ratelimit:reset", key.id, "--force"});
  BOOST_TEST(done.exit_code == 0, describe(done));
  BOOST_TEST(contains(done.out, "3 requests cleared"), done.out);
  const ProcessResult info = install.prompt({"api:keys:info", key.id, "-f", "json"});
  BOOST_TEST(contains(info.out, R"("action":"reset_rate_limit")"), info.out);
}

BOOST_AUTO_TEST_CASE(a_running_host_sees_cli_reset_and_update_on_its_next_check) {
  Installation install({"sibling"});
  for (const bool by_update : {false, true}) {
    const Key key = newKey(install, "5");
    testing_support::Child host({PROMPT_BIN, "sibling:limit-loop", key.id}, install.options());
    BOOST_REQUIRE_MESSAGE(host.waitForStderr("exhausted", 1, std::chrono::seconds(20)), host.err());
    const ProcessResult change = by_update
                                     ? install.prompt({"api:ratelimit:update", key.id, "6"})
                                     : install.prompt({"api:ratelimit:reset", key.id, "--force"});
    BOOST_TEST(change.exit_code == 0, describe(change));
    BOOST_TEST(host.wait(std::chrono::seconds(40)) == 0, host.err());
    BOOST_TEST(contains(host.err(), "admitted again"), host.err());
  }
}

BOOST_AUTO_TEST_CASE(a_sibling_authorizes_requests_in_one_call) {
  Installation install({"sibling"});
  const Key key = newKey(install, "2");
  ProcessOptions with_key;
  with_key.stdin_data = key.secret + "\n";
  const ProcessResult first = install.prompt({"sibling:authorize"}, with_key);
  BOOST_TEST(first.exit_code == 0, describe(first));
  BOOST_TEST(contains(first.out, "allowed=1 reason=ok key_id=" + key.id +
                                     " user=u scopes=read limit=2 remaining=1"),
             first.out);
  BOOST_TEST(install.prompt({"sibling:authorize"}, with_key).exit_code == 0);
  const ProcessResult over = install.prompt({"sibling:authorize"}, with_key);
  BOOST_TEST(over.exit_code == 1, describe(over));
  BOOST_TEST(contains(over.out, "allowed=0 reason=over_limit"), over.out);
  BOOST_TEST(contains(over.out, " outcome=5\n"), over.out);  // SP_AUTHORIZE_OVER_LIMIT
  BOOST_TEST(!contains(over.out, "retry_after_ms=-1"), over.out);
  const ProcessResult heavy = install.prompt({"sibling:authorize", "3"}, with_key);
  BOOST_TEST(contains(heavy.out, "reason=cost_exceeds_limit"), heavy.out);
  ProcessOptions garbage;
  garbage.stdin_data = "sk_garbage\n";
  const ProcessResult bad = install.prompt({"sibling:authorize"}, garbage);
  BOOST_TEST(contains(bad.out, "allowed=0 reason=malformed"), bad.out);
  BOOST_TEST(install.prompt({"api:keys:revoke", key.id, "--force"}).exit_code == 0);
  const ProcessResult revoked = install.prompt({"sibling:authorize"}, with_key);
  BOOST_TEST(contains(revoked.out, "allowed=0 reason=revoked"), revoked.out);
}

BOOST_AUTO_TEST_SUITE_END()
