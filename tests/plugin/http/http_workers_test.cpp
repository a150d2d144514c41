// The HTTP edge in front of a store whose calls wait on a database (PostgreSQL, or rate limits
// kept in SQLite's database store): decisions run on workers, so one I/O thread keeps
// answering while the database holds a decision back, and a request that waited longer than
// the request timeout for a worker is answered 503 without asking the database. Runs on the
// suites' store (PROMPT_TEST_STORE); a session of the test's own holds the lock a check needs.
#include <future>
#include <string>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <thread>

#include "api_module.hpp"
#include "loopback_http.hpp"
#include "process.hpp"
#include "test_database.hpp"

namespace {

using namespace std::chrono_literals;
using testing_support::httpExchange;
using testing_support::HttpReply;
using testing_support::onPostgres;

std::string get(const std::string& target, const std::string& headers = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n" + headers + "\r\n";
}

// One I/O thread, two workers, a short request timeout; the database waits long.
struct Fixture {
  Fixture() {
    host.size = sizeof(host);
    host.abi_major = SP_ABI_VERSION_MAJOR;
    host.abi_minor = SP_ABI_VERSION_MINOR;
    host.module_name = "api";
    host.state_dir = dir.path().c_str();
    if (onPostgres()) {
      settings.store.database_url = db.location();
      settings.store.pool_size = 2;
      settings.store.database_timeout_ms = 20'000;
    } else {
      settings.store.database_path = db.location();
      settings.store.busy_timeout_ms = 20'000;
    }
    settings.store.window_store = api::StoreSettings::WindowStoreKind::kDatabase;
    settings.http.listen = "127.0.0.1:0";
    settings.http.address = "127.0.0.1";
    settings.http.threads = 1;
    settings.http.request_timeout_ms = 300;
    module = std::make_unique<api::ApiModule>(host, settings, std::make_unique<api::SystemClock>(),
                                              nullptr);
    module->serveStart();
    port = module->httpPort();
  }
  ~Fixture() { module->serveStop(2s); }

  // A key's secret and id.
  std::pair<std::string, std::string> newKey() {
    api::CreateKeyRequest r;
    r.user_id = "ann@example.com";
    r.name = "edge";
    r.rate_limit = 100;
    const api::CreatedKey created = module->keys().createKey(r);
    return {created.secret, created.key.id};
  }

  // Holds back every check of `key_id`: PostgreSQL's advisory lock on the key, SQLite's write
  // lock on the whole file.
  void holdChecks(const std::string& key_id) {
    locker.exec(onPostgres() ? "SELECT pg_advisory_lock(hashtextextended('" + key_id + "', 17))"
                             : "BEGIN IMMEDIATE");
  }
  void releaseChecks() {
    locker.exec(onPostgres() ? "SELECT pg_advisory_unlock_all()" : "ROLLBACK");
  }

  std::future<HttpReply> authLater(const std::string& secret) {
    return std::async(std::launch::async, [this, secret] {
      return httpExchange(port, get("/v1/auth", "X-API-Key: " + secret + "\r\n"));
    });
  }

  // A gauge or counter of /metrics ("" when absent).
  std::string metric(const std::string& name) {
    const HttpReply r = httpExchange(port, get("/metrics"));
    const size_t at = r.body.find("\n" + name + " ");
    if (r.status != 200 || at == std::string::npos) {
      return "";
    }
    const size_t from = at + name.size() + 2;
    return r.body.substr(from, r.body.find('\n', from) - from);
  }

  // Waits (10 s at most) until `metric(name)` reads `value`.
  bool awaitMetric(const std::string& name, const std::string& value) {
    for (int i = 0; i < 1000; ++i) {
      if (metric(name) == value) {
        return true;
      }
      std::this_thread::sleep_for(10ms);
    }
    return false;
  }

  testing_support::TempDir dir;
  testing_support::TestDatabase db{dir.path()};
  sp_host_api host{};
  api::ApiSettings settings;
  std::unique_ptr<api::ApiModule> module;
  std::uint16_t port = 0;
  testing_support::SqlSession locker{db.location()};
};

bool pending(std::future<HttpReply>& reply) {
  return reply.wait_for(0s) != std::future_status::ready;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(http_workers, Fixture)

BOOST_AUTO_TEST_CASE(a_decision_held_by_the_database_leaves_the_io_thread_answering) {
  BOOST_REQUIRE(port != 0);
  const auto [secret, id] = newKey();
  const auto [other_secret, other_id] = newKey();
  BOOST_TEST(metric("api_http_requests_waiting") == "0");
  holdChecks(id);
  auto held = authLater(secret);
  // The decision is on a worker, held by the database...
  BOOST_REQUIRE(awaitMetric("api_http_workers_busy", "1"));
  BOOST_TEST(pending(held));
  // ...while the one I/O thread answers what needs no database,
  const HttpReply metrics = httpExchange(port, get("/metrics"));
  BOOST_TEST(metrics.status == 200);
  BOOST_TEST(pending(held));
  if (onPostgres()) {
    // and, on PostgreSQL, decides another key (the other worker).
    HttpReply other = httpExchange(port, get("/v1/auth", "X-API-Key: " + other_secret + "\r\n"));
    BOOST_TEST(other.status == 200);
    BOOST_TEST(other.headers["x-api-key-id"] == other_id);
    BOOST_TEST(pending(held));
  }
  releaseChecks();
  HttpReply answer = held.get();
  BOOST_TEST(answer.status == 200);
  BOOST_TEST(answer.headers["x-api-key-id"] == id);
  BOOST_TEST(answer.headers["ratelimit"].rfind("\"default\";r=99;", 0) == 0u,
             answer.headers["ratelimit"]);
}

BOOST_AUTO_TEST_CASE(a_request_that_waited_too_long_for_a_worker_is_shed_unasked) {
  BOOST_REQUIRE(port != 0);
  const auto [secret, id] = newKey();
  holdChecks(id);
  // Two decisions hold both workers; the third waits for one.
  auto first = authLater(secret);
  auto second = authLater(secret);
  BOOST_REQUIRE(awaitMetric("api_http_workers_busy", "2"));
  auto third = authLater(secret);
  BOOST_REQUIRE(awaitMetric("api_http_requests_waiting", "1"));
  // What never asks the database does not queue behind it.
  BOOST_TEST(httpExchange(port, get("/v1/nothing-here")).status == 404);
  BOOST_TEST(pending(third));
  std::this_thread::sleep_for(std::chrono::milliseconds(settings.http.request_timeout_ms) + 200ms);
  BOOST_TEST(pending(first));
  BOOST_TEST(pending(third));
  releaseChecks();
  BOOST_TEST(first.get().status == 200);
  BOOST_TEST(second.get().status == 200);
  HttpReply shed = third.get();
  BOOST_TEST(shed.status == 503);
  BOOST_TEST(shed.headers["retry-after"] == "1");
  BOOST_TEST(shed.headers["content-type"] == "application/problem+json");
  BOOST_TEST(shed.body.find("httpRequestTimeout") != std::string::npos, shed.body);
  BOOST_TEST(metric("api_http_requests_shed_total") == "1");
  BOOST_TEST(metric("api_http_requests_waiting") == "0");
  BOOST_TEST(awaitMetric("api_http_workers_busy", "0"));  // it lets go after answering
  BOOST_TEST(metric("api_auth_decisions_total{outcome=\"shed\"}") == "1");
  // Shed, it was never counted: two checks of the key's 100 were made, and the next is third.
  HttpReply next = httpExchange(port, get("/v1/auth", "X-API-Key: " + secret + "\r\n"));
  BOOST_TEST(next.headers["ratelimit"].rfind("\"default\";r=97;", 0) == 0u,
             next.headers["ratelimit"]);
}

BOOST_AUTO_TEST_CASE(decision_workers_follow_the_store) {
  api::StoreSettings store;
  BOOST_TEST(api::decisionWorkers(store) == 0);  // the shared segment: on the I/O threads
  store.window_store = api::StoreSettings::WindowStoreKind::kDatabase;
  BOOST_TEST(api::decisionWorkers(store) == 2);
  store.database_url = "postgresql://api@db/prompt";
  store.pool_size = 12;
  BOOST_TEST(api::decisionWorkers(store) == 12);
}

BOOST_AUTO_TEST_SUITE_END()
