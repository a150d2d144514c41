// The PostgreSQL store's own guarantees, on a real server (tests/with-postgres): one exact
// limit across processes, key changes seen across hosts, connections lost and a server
// restarted under load, migrations by hosts starting together, and no password anywhere.
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <boost/test/unit_test.hpp>
#include <chrono>
#include <cstdlib>
#include <string>
#include <thread>
#include <vector>

#include "services/rate_limit_service.hpp"
#include "store/migrations.hpp"
#include "store/postgres/pg_stores.hpp"
#include "store_fixture.hpp"
#include "usage/usage_recorder.hpp"

namespace {

using namespace std::chrono_literals;
using testing_support::execSql;
using testing_support::queryValue;

// Another "host": a URL naming the same database differently, so that this process keeps a
// second key change listener for it, as a second host would have.
std::string asAnotherHost(const std::string& url, const std::string& name) {
  return url + "&application_name=" + name;
}

struct Fixture : testing_support::StoreFixture {
  Fixture() : StoreFixture(api::formatIsoUtc(api::SystemClock().now())) {}

  std::string createKey(std::int64_t limit) {
    testing_support::ServiceNode node(path, settings, clock);
    api::CreateKeyRequest r;
    r.user_id = "u";
    r.name = "k";
    r.rate_limit = limit;
    return node.keys.createKey(r).secret;
  }
};

// Runs `processes` child processes, each with its own stores and `threads` threads calling
// authorize `attempts` times; returns the admissions of all of them.
std::int64_t admittedByProcesses(const std::string& path, const api::ApiSettings& settings,
                                 const std::string& secret, int processes, int threads,
                                 int attempts) {
  std::vector<std::pair<pid_t, int>> children;
  for (int p = 0; p < processes; ++p) {
    int fds[2];
    BOOST_REQUIRE(::pipe(fds) == 0);
    const pid_t pid = ::fork();
    BOOST_REQUIRE(pid >= 0);
    if (pid == 0) {
      ::close(fds[0]);
      std::int64_t admitted = 0;
      try {
        api::SystemClock clock;
        testing_support::ServiceNode node(path, settings, clock, 30'000);
        api::RateLimitService limits(settings, node.store, clock, node.logger, node.keys);
        std::atomic<std::int64_t> count{0};
        std::vector<std::thread> workers;
        for (int t = 0; t < threads; ++t) {
          workers.emplace_back([&] {
            for (int i = 0; i < attempts; ++i) {
              if (limits.authorize(secret).allowed) {
                count.fetch_add(1);
              }
            }
          });
        }
        for (auto& w : workers) {
          w.join();
        }
        admitted = count.load();
      } catch (...) {
        admitted = -1'000'000;  // the parent sees a failure, never a plausible count
      }
      [[maybe_unused]] const auto n = ::write(fds[1], &admitted, sizeof(admitted));
      ::_exit(0);
    }
    ::close(fds[1]);
    children.emplace_back(pid, fds[0]);
  }
  std::int64_t total = 0;
  for (const auto& [pid, fd] : children) {
    std::int64_t admitted = 0;
    BOOST_TEST(::read(fd, &admitted, sizeof(admitted)) == static_cast<ssize_t>(sizeof(admitted)));
    ::close(fd);
    int status = 0;
    ::waitpid(pid, &status, 0);
    BOOST_TEST((WIFEXITED(status) && WEXITSTATUS(status) == 0));
    total += admitted;
  }
  return total;
}

// Polls `refused` (real time) until it answers true or 5 s pass; returns whether it did.
template <typename Predicate>
bool within5s(Predicate refused) {
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (!refused()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// Preconditions of tests that need the throwaway server tests/with-postgres starts: one this
// suite may restart, and whose URL carries a password. Reported as skipped, saying why, on a
// server of one's own (PROMPT_TEST_POSTGRES_URL set beforehand).
boost::test_tools::assertion_result ourServer(boost::unit_test::test_unit_id) {
  boost::test_tools::assertion_result result(std::getenv("PROMPT_TEST_POSTGRES_DIR") != nullptr);
  result.message() << "needs the throwaway server tests/with-postgres starts (restarts it, "
                      "reads its password)";
  return result;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(postgres_store, Fixture,
                         *boost::unit_test::precondition(testing_support::postgresOnly))

BOOST_AUTO_TEST_CASE(two_and_three_processes_with_several_threads_admit_exactly_the_limit) {
  settings.rate_limits.window_ms = 3'600'000;
  for (const int processes : {2, 3}) {
    const std::string secret = createKey(1000);  // a new key, with a window of its own
    // Each process alone could take the whole limit.
    const std::int64_t admitted = admittedByProcesses(path, settings, secret, processes, 4, 400);
    BOOST_TEST(admitted == 1000, processes << " processes admitted " << admitted);
  }
  BOOST_TEST(queryValue(path, "SELECT sum(request_count) FROM api_rate_limits") == "2000");
}

BOOST_AUTO_TEST_CASE(a_revocation_on_one_host_is_refused_on_another_and_at_once_on_its_own) {
  api::SystemClock real;
  testing_support::ServiceNode a(asAnotherHost(path, "host-a"), settings, real);
  testing_support::ServiceNode b(asAnotherHost(path, "host-b"), settings, real);
  api::CreateKeyRequest r;
  r.user_id = "u";
  r.name = "k";
  const auto one = b.keys.createKey(r);
  const auto two = b.keys.createKey(r);
  BOOST_REQUIRE(a.keys.validateKey(one.secret).valid);  // cached on host A
  BOOST_REQUIRE(b.keys.validateKey(two.secret).valid);  // cached on host B
  b.keys.revokeKey(one.key.id, "compromised", "ops");
  // On host B, which revoked it, at once: its own commit moved its epoch.
  b.keys.revokeKey(two.key.id, "compromised", "ops");
  BOOST_TEST(!b.keys.validateKey(two.secret).valid);
  // On host A as soon as the notification arrives (scripts/bench measures how soon).
  BOOST_TEST(within5s([&] { return !a.keys.validateKey(one.secret).valid; }));
}

BOOST_AUTO_TEST_CASE(while_the_listener_is_down_the_cache_is_not_used) {
  api::SystemClock real;
  testing_support::ServiceNode a(asAnotherHost(path, "host-a"), settings, real);
  testing_support::ServiceNode b(asAnotherHost(path, "host-b"), settings, real);
  auto& listener_a = dynamic_cast<api::PgStores&>(*a.stores).listener();
  api::CreateKeyRequest r;
  r.user_id = "u";
  r.name = "k";
  const auto created = b.keys.createKey(r);
  BOOST_REQUIRE(a.keys.validateKey(created.secret).valid);  // cached on host A
  const std::string database = queryValue(path, "SELECT current_database()");
  // No new connection to the database can be made, and host A's listener loses its own (a
  // session on another database may forbid connections to this one).
  testing_support::SqlSession admin(std::getenv("PROMPT_TEST_POSTGRES_URL"));
  admin.exec("ALTER DATABASE " + database + " ALLOW_CONNECTIONS false");
  admin.exec(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name ="
      " 'systemprompt-api-listener' AND datname = '" +
      database + "'");
  BOOST_REQUIRE(within5s([&] { return !listener_a.listening(); }));
  BOOST_TEST(!a.stores->keys().changeToken().has_value());
  // The revocation's notification cannot reach host A; its validations read the store.
  b.keys.revokeKey(created.key.id, "compromised", "ops");
  BOOST_TEST(a.keys.validateKey(created.secret).reason == api::KeyRejection::kRevoked);
  admin.exec("ALTER DATABASE " + database + " ALLOW_CONNECTIONS true");
  BOOST_TEST(within5s([&] { return listener_a.listening(); }));
  BOOST_TEST(listener_a.connections() >= 2u);
  BOOST_TEST(a.keys.validateKey(created.secret).reason == api::KeyRejection::kRevoked);
}

BOOST_AUTO_TEST_CASE(a_killed_connection_is_replaced_without_a_failed_call) {
  api::SystemClock real;
  testing_support::ServiceNode node(path, settings, real);
  api::RateLimitService limits(settings, node.store, real, node.logger, node.keys);
  const std::string secret = createKey(100);
  BOOST_REQUIRE(limits.authorize(secret).allowed);
  // Every connection of this test's database but the listener's, as an operator's
  // pg_terminate_backend or a failover would end them.
  testing_support::SqlSession admin(path);
  admin.exec(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name ="
      " 'systemprompt-api' AND datname = current_database()");
  std::this_thread::sleep_for(50ms);  // the backends are gone
  const api::AuthorizeResult after = limits.authorize(secret);
  BOOST_TEST(after.allowed, after.reason);
  BOOST_TEST(after.limit.remaining == 98);
}

BOOST_AUTO_TEST_CASE(a_server_restart_under_load_fails_closed_and_never_admits_uncounted,
                     *boost::unit_test::precondition(ourServer)) {
  const char* dir = std::getenv("PROMPT_TEST_POSTGRES_DIR");
  api::SystemClock real;
  settings.rate_limits.window_ms = 3'600'000;
  const std::string secret = createKey(1'000'000);
  testing_support::ServiceNode node(path, settings, real, 1'000);
  api::RateLimitService limits(settings, node.store, real, node.logger, node.keys);
  std::atomic<bool> stop{false};
  std::atomic<std::int64_t> admitted{0};
  std::atomic<std::int64_t> refused{0};
  std::vector<std::thread> workers;
  for (int t = 0; t < 3; ++t) {
    workers.emplace_back([&] {
      while (!stop.load()) {
        const api::AuthorizeResult result = limits.authorize(secret);
        (result.allowed ? admitted : refused).fetch_add(1);
        if (!result.allowed) {
          std::this_thread::sleep_for(5ms);
        }
      }
    });
  }
  std::this_thread::sleep_for(300ms);
  const std::string restart =
      std::string(PROJECT_SOURCE_DIR) + "/scripts/postgres-server restart " + dir;
  BOOST_REQUIRE(std::system(restart.c_str()) == 0);
  const std::int64_t admitted_at_restart = admitted.load();
  // Checks come back without anyone reconnecting by hand.
  BOOST_TEST(within5s([&] { return admitted.load() > admitted_at_restart + 50; }));
  stop = true;
  for (auto& w : workers) {
    w.join();
  }
  BOOST_TEST(refused.load() > 0);  // the server was really away for a while
  const std::int64_t counted =
      std::stoll(queryValue(path, "SELECT sum(request_count) FROM api_rate_limits"));
  // Never admitted without being counted; a check whose COMMIT was cut off may have been
  // counted and still refused (the client cannot know), never the other way round.
  BOOST_TEST(counted >= admitted.load());
  BOOST_TEST(counted - admitted.load() <= refused.load());
}

BOOST_AUTO_TEST_CASE(hosts_starting_together_migrate_once) {
  // A database of its own, never opened: eight "hosts" open it at once.
  testing_support::TempDir dir;
  testing_support::TestDatabase fresh(dir.path());
  std::vector<std::thread> hosts;
  std::atomic<int> opened{0};
  for (int i = 0; i < 8; ++i) {
    hosts.emplace_back([&, i] {
      try {
        auto stores = testing_support::openTestStores(
            asAnotherHost(fresh.location(), "host-" + std::to_string(i)), 30'000);
        opened.fetch_add(stores->health().healthy ? 1 : 0);
      } catch (...) {
      }
    });
  }
  for (auto& h : hosts) {
    h.join();
  }
  BOOST_TEST(opened.load() == 8);
  BOOST_TEST(queryValue(fresh.location(), "SELECT count(*) FROM api_schema_migrations") ==
             std::to_string(api::postgresMigrations().size()));
}

BOOST_AUTO_TEST_CASE(a_schema_newer_than_this_build_is_refused) {
  { testing_support::openTestStores(path, 5'000); }
  execSql(path, "INSERT INTO api_schema_migrations (version, name) VALUES (9999, 'future')");
  try {
    testing_support::openTestStores(path, 5'000);
    BOOST_FAIL("a newer schema was opened");
  } catch (const api::StoreError& e) {
    BOOST_TEST(std::string(e.what()).find("newer than this build knows") != std::string::npos,
               e.what());
  }
}

BOOST_AUTO_TEST_CASE(the_password_appears_in_no_error_and_no_health,
                     *boost::unit_test::precondition(ourServer)) {
  // The URL's password, as the throwaway server writes it (user:password@).
  const std::string url = std::getenv("PROMPT_TEST_POSTGRES_URL");
  const auto at = url.find('@');
  const auto colon = url.rfind(':', at);
  BOOST_REQUIRE(at != std::string::npos && colon != std::string::npos);
  const std::string secret = url.substr(colon + 1, at - colon - 1);
  BOOST_REQUIRE(secret.size() >= 16u);

  auto stores = testing_support::openTestStores(path, 5'000);
  const api::StoreHealth health = stores->health();
  BOOST_TEST(health.healthy, health.problem);
  BOOST_TEST(health.location.find(secret) == std::string::npos, health.location);
  BOOST_TEST(health.location.find("postgresql://") == 0u, health.location);

  std::string wrong = path;
  wrong.replace(wrong.find(secret), secret.size(), "not-the-password-" + secret.substr(0, 4));
  try {
    testing_support::openTestStores(wrong, 2'000);
    BOOST_FAIL("a wrong password was accepted");
  } catch (const api::StoreError& e) {
    const std::string message = e.what();
    BOOST_TEST(message.find("not-the-password") == std::string::npos, message);
    BOOST_TEST(message.find(secret) == std::string::npos, message);
    BOOST_TEST(message.find("password authentication failed") != std::string::npos, message);
    BOOST_TEST(e.transient());
  }  // A URL libpq cannot read, whose reason would quote the bad percent-encoding, in the
  // password here.
  std::string unreadable = path;
  unreadable.replace(unreadable.find(secret), secret.size(), "x%zzsecret-part");
  try {
    testing_support::openTestStores(unreadable, 2'000);
    BOOST_FAIL("an unreadable URL was accepted");
  } catch (const api::StoreError& e) {
    const std::string message = e.what();
    BOOST_TEST(message.find("secret-part") == std::string::npos, message);
    BOOST_TEST(message.find("cannot be read by libpq") != std::string::npos, message);
  }
}

BOOST_AUTO_TEST_CASE(the_readme_least_privilege_role_runs_every_store_and_no_ddl) {
  { testing_support::openTestStores(path, 5'000); }  // migrated by the owner
  const std::string database = queryValue(path, "SELECT current_database()");
  const std::string role = "api_runtime_" + database;
  const std::string password = "pw" + database;
  // examples/postgres/least-privilege.sql as README gives it, with psql's :password filled in
  // and a role name of this test's own (roles belong to the whole server).
  std::string grants = testing_support::readFile(std::string(PROJECT_SOURCE_DIR) +
                                                 "/examples/postgres/least-privilege.sql");
  for (std::size_t at; (at = grants.find(":password")) != std::string::npos;) {
    grants.replace(at, 9, "'" + password + "'");
  }
  for (std::size_t at = 0; (at = grants.find("api_runtime", at)) != std::string::npos;) {
    grants.replace(at, 11, role);
    at += role.size();
  }
  execSql(path, grants);
  // The test URL with the role's name and password in place of the superuser's.
  const auto from = path.find("://") + 3;
  const std::string as_role =
      path.substr(0, from) + role + ":" + password + path.substr(path.find('@', from));
  {
    api::SystemClock real;
    testing_support::ServiceNode node(as_role, settings, real);
    api::RateLimitService limits(settings, node.store, real, node.logger, node.keys);
    api::UsageRecorder recorder(settings, node.store, real, node.logger);
    api::CreateKeyRequest r;
    r.user_id = "u";
    r.name = "k";
    const api::CreatedKey created = node.keys.createKey(r);
    const api::AuthorizeResult authorized = limits.authorize(created.secret);
    BOOST_TEST(authorized.allowed, authorized.reason);
    BOOST_TEST(recorder.record(created.key.id, {"/v1/x", "GET", 200, 5, "10.0.0.1", "t"}));
    recorder.stop();
    BOOST_TEST(recorder.failedRecords() == 0u);
    node.store.counters().add({{"bench", 1}}, real.now());
    node.keys.rotateKey(created.key.id, std::chrono::milliseconds(0), "ops");
    BOOST_TEST(!node.keys.validateKey(created.secret).valid);
    BOOST_TEST(node.store.health().healthy, node.store.health().problem);
    testing_support::SqlSession runtime(as_role);
    BOOST_CHECK_THROW(runtime.exec("CREATE TABLE api_intruder (a int)"), std::runtime_error);
    BOOST_CHECK_THROW(runtime.exec("DROP TABLE api_keys"), std::runtime_error);
  }
  BOOST_TEST(queryValue(path, "SELECT count(*) FROM api_requests") == "1");
  execSql(path, "DROP OWNED BY " + role);
  execSql(path, "DROP ROLE " + role);
}

BOOST_AUTO_TEST_CASE(a_connection_left_in_a_failed_transaction_is_never_lent_again) {
  api::PgOptions options;
  options.url = path;
  options.pool_size = 1;  // the next unit would get the same connection
  api::PgPool pool(options);
  BOOST_CHECK_THROW(pool.run([](api::PgConnection& connection) {
    // A unit that throws with its transaction aborted and no ROLLBACK sent.
    connection.exec("BEGIN; SELECT 1 / 0", "a failing unit");
    return 0;
  }),
                    api::StoreError);
  const int answered = pool.run([](api::PgConnection& connection) {
    connection.exec("SELECT 1", "the next unit");
    return 1;
  });
  BOOST_TEST(answered == 1);
}

BOOST_AUTO_TEST_CASE(an_unreachable_server_fails_fast_within_the_timeout_and_backs_off) {
  api::PgOptions options;
  options.url = "postgresql://nobody@/postgres?host=/nonexistent-socket-dir";
  options.timeout_ms = 500;
  api::PgPool pool(options);
  const auto started = std::chrono::steady_clock::now();
  std::string first;
  std::string second;
  try {
    pool.run([](api::PgConnection&) { return 0; });
  } catch (const api::StoreError& e) {
    first = e.what();
  }
  try {
    pool.run([](api::PgConnection&) { return 0; });  // within the back-off: no new attempt
  } catch (const api::StoreError& e) {
    second = e.what();
  }
  BOOST_TEST((std::chrono::steady_clock::now() - started < 5s));
  BOOST_TEST(first.find("cannot connect to postgresql://nobody@/nonexistent-socket-dir") == 0u,
             first);
  BOOST_TEST(second.find("the database is unreachable") == 0u, second);
  BOOST_TEST(second.find("next attempt in") != std::string::npos, second);
}

BOOST_AUTO_TEST_SUITE_END()
