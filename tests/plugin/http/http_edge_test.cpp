// The HTTP edge with a real client on loopback: ApiModule serving on 127.0.0.1 (a port the
// system picks), every status and header of /v1/auth, /healthz, /metrics, malformed and
// oversized requests, a slow client timed out, keep-alive, usage from the edge (decisions
// recorded, POST /v1/usage), the oldest idle connection making room, and a stop under load.
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <tuple>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <string>
#include <thread>

#include "api_module.hpp"
#include "loopback_http.hpp"
#include "process.hpp"
#include "test_stores.hpp"
#include "util/time_text.hpp"

namespace {

using namespace std::chrono_literals;

using testing_support::connectLoopback;
using testing_support::httpExchange;
using testing_support::HttpReply;
using testing_support::readHttpReply;
using testing_support::sendAll;

std::string get(const std::string& target, const std::string& headers = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n" + headers + "\r\n";
}

struct Fixture {
  // On the suite's store (SQLite, or PostgreSQL with PROMPT_TEST_STORE=postgres), with the
  // system clock or, with `manual_clock`, a ManualClock at kStart (`time`).
  explicit Fixture(std::int64_t max_connections = 1'024, std::int64_t request_timeout_ms = 400,
                   std::int64_t idle_timeout_ms = 2'000, api::ApiSettings initial = {},
                   bool manual_clock = false)
      : settings(std::move(initial)) {
    host.size = sizeof(host);
    host.abi_major = SP_ABI_VERSION_MAJOR;
    host.abi_minor = SP_ABI_VERSION_MINOR;
    host.module_name = "api";
    host.state_dir = dir.path().c_str();
    settings.store = testing_support::testStoreSettings(database.location(), 5'000);
    settings.http.listen = "127.0.0.1:0";
    settings.http.address = "127.0.0.1";
    settings.http.port = 0;
    settings.http.request_timeout_ms = request_timeout_ms;
    settings.http.idle_timeout_ms = idle_timeout_ms;
    settings.http.max_connections = max_connections;
    std::unique_ptr<api::Clock> clock = std::make_unique<api::SystemClock>();
    if (manual_clock) {
      auto manual = std::make_unique<api::ManualClock>(kStart);
      time = manual.get();
      clock = std::move(manual);
    }
    module = std::make_unique<api::ApiModule>(host, settings, std::move(clock), nullptr);
    module->serveStart();
    port = module->httpPort();
  }
  ~Fixture() { module->serveStop(2s); }

  static inline const api::TimePoint kStart = *api::parseIsoUtc("2026-11-25T12:30:00.000Z");

  // A key with `limit` and `scopes`; returns {secret, id}.
  std::pair<std::string, std::string> newKey(std::int64_t limit,
                                             std::vector<std::string> scopes = {"read"}) {
    api::CreateKeyRequest r;
    r.user_id = "ann@example.com";
    r.name = "edge";
    r.rate_limit = limit;
    r.scopes = std::move(scopes);
    const api::CreatedKey created = module->keys().createKey(r);
    return {created.secret, created.key.id};
  }

  // POST /v1/usage with `body`, the shipper's key in `key_header` (a whole header line).
  HttpReply postUsage(const std::string& key_header, const std::string& body) {
    return httpExchange(port, "POST /v1/usage HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n" +
                                  key_header + "Content-Type: application/x-ndjson\r\n" +
                                  "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" +
                                  body);
  }

  // Every row of `sql` on the store, after the recorder wrote what it holds.
  std::vector<std::vector<std::string>> stored(const std::string& sql) {
    BOOST_REQUIRE(module->recorder().flushFor(5s));
    return testing_support::querySql(database.location(), sql);
  }

  // The request log as stored, oldest first: endpoint, method, status, ip, user agent, key id.
  using Row = std::tuple<std::string, std::string, int, std::string, std::string, std::string>;
  std::vector<Row> requestRows() {
    std::vector<Row> rows;
    for (const auto& r :
         stored("SELECT endpoint, method, status_code, coalesce(ip_address, ''),"
                " coalesce(user_agent, ''), key_id FROM api_requests ORDER BY id")) {
      rows.emplace_back(r[0], r[1], std::stoi(r[2]), r[3], r[4], r[5]);
    }
    return rows;
  }

  testing_support::TempDir dir;
  testing_support::TestDatabase database{dir.path()};
  sp_host_api host{};
  api::ApiSettings settings;
  api::ManualClock* time = nullptr;  // owned by the module; set with manual_clock
  std::unique_ptr<api::ApiModule> module;
  std::uint16_t port = 0;
};

// An edge that holds two connections at most.
struct TwoConnections : Fixture {
  // Long timeouts: every connection closes by eviction alone, however slow the machine.
  TwoConnections()
      : Fixture(2 /* max_connections */, 60'000 /* request_timeout_ms */,
                60'000 /* idle_timeout_ms */) {}
};

// An edge on simulated time: the clock reads kStart until a test moves it.
struct OnManualTime : Fixture {
  OnManualTime()
      : Fixture(1'024 /* max_connections */, 400 /* request_timeout_ms */,
                2'000 /* idle_timeout_ms */, {}, true /* manual_clock */) {}
};

// An edge whose usage queue holds 10 records.
struct SmallUsageQueue : Fixture {
  static api::ApiSettings tenRecords() {
    api::ApiSettings s;
    s.usage.queue_capacity = 10;
    return s;
  }
  SmallUsageQueue()
      : Fixture(1'024 /* max_connections */, 400 /* request_timeout_ms */,
                2'000 /* idle_timeout_ms */, tenRecords()) {}
};

// A problem's detail as text: the body with the JSON string's escapes of quotes taken out.
std::string unescaped(std::string body) {
  for (size_t at = 0; (at = body.find("\\\"", at)) != std::string::npos;) {
    body.erase(at, 1);
  }
  return body;
}

// Milliseconds since the epoch of an ISO 8601 time, as the store's text shows them.
std::string msText(const char* iso) {
  return std::to_string(api::parseIsoUtc(iso)->time_since_epoch().count());
}

// Sends one kept-alive request on `fd` and reads its answer's status.
int askHealth(int fd) {
  std::string pending;
  if (!sendAll(fd, "GET /healthz HTTP/1.1\r\nHost: edge\r\n\r\n")) {
    return 0;
  }
  return readHttpReply(fd, pending).status;
}

// Whether the edge closed `fd` (a read sees the end of the stream within the read timeout).
bool closedByEdge(int fd) {
  char byte = 0;
  return ::recv(fd, &byte, 1, 0) == 0;
}

}  // namespace

BOOST_FIXTURE_TEST_SUITE(http_edge, Fixture)

BOOST_AUTO_TEST_CASE(a_valid_key_gets_200_with_its_identity_and_the_ratelimit_fields) {
  BOOST_REQUIRE(port != 0);
  const auto [secret, id] = newKey(3, {"read", "write"});
  HttpReply r = httpExchange(port, get("/v1/auth", "Authorization: Bearer " + secret + "\r\n"));
  BOOST_TEST(r.status == 200);
  BOOST_TEST(r.headers["x-api-key-id"] == id);
  BOOST_TEST(r.headers["x-api-user"] == "ann@example.com");
  BOOST_TEST(r.headers["x-api-key-scopes"] == "read,write");
  BOOST_TEST(r.headers["ratelimit-policy"] == "\"default\";q=3;w=3600");
  BOOST_TEST(r.headers["ratelimit"].rfind("\"default\";r=2;t=", 0) == 0u, r.headers["ratelimit"]);
  BOOST_TEST(r.headers["cache-control"] == "no-store");
  // X-API-Key works too; the same key in both is one key.
  HttpReply x = httpExchange(port, get("/v1/auth", "X-API-Key: " + secret + "\r\n"));
  BOOST_TEST(x.status == 200);
  HttpReply both = httpExchange(port, get("/v1/auth", "Authorization: Bearer " + secret +
                                                          "\r\nX-API-Key: " + secret + "\r\n"));
  BOOST_TEST(both.status == 200);
  BOOST_TEST(both.headers["ratelimit"].rfind("\"default\";r=0;", 0) == 0u);
}

BOOST_AUTO_TEST_CASE(bad_keys_get_401_naming_why_and_never_echoing_the_key) {
  HttpReply missing = httpExchange(port, get("/v1/auth"));
  BOOST_TEST(missing.status == 401);
  BOOST_TEST(missing.headers["www-authenticate"] == "Bearer realm=\"api\"");
  BOOST_TEST(missing.headers["content-type"] == "application/problem+json");
  const std::string forged = "sk_" + std::string(48, 'A');
  for (const auto& [key, why] : std::vector<std::pair<std::string, std::string>>{
           {forged, "malformed"}, {"sk_nonsense", "malformed"}}) {
    HttpReply r = httpExchange(port, get("/v1/auth", "Authorization: Bearer " + key + "\r\n"));
    BOOST_TEST(r.status == 401, key);
    BOOST_TEST(r.headers["www-authenticate"] == "Bearer realm=\"api\", error=\"invalid_token\"");
    BOOST_TEST(r.body.find(why) != std::string::npos, r.body);
    BOOST_TEST(r.body.find(key) == std::string::npos, r.body);
  }
  const auto [secret, id] = newKey(10);
  module->keys().revokeKey(id, "leaked", "test");
  HttpReply revoked = httpExchange(port, get("/v1/auth", "X-API-Key: " + secret + "\r\n"));
  BOOST_TEST(revoked.status == 401);
  BOOST_TEST(revoked.body.find("revoked") != std::string::npos, revoked.body);
  BOOST_TEST(revoked.body.find(secret) == std::string::npos);
  const auto [other, other_id] = newKey(10);
  HttpReply two = httpExchange(port, get("/v1/auth", "Authorization: Bearer " + secret +
                                                         "\r\nX-API-Key: " + other + "\r\n"));
  BOOST_TEST(two.status == 400);
  BOOST_TEST(two.body.find("two different keys") != std::string::npos, two.body);
  // Another scheme is no key of ours; beside X-API-Key (a proxy passing the client's own
  // Authorization to the upstream) it is ignored.
  HttpReply basic = httpExchange(port, get("/v1/auth", "Authorization: Basic dXNlcjpwdw==\r\n"));
  BOOST_TEST(basic.status == 401);
  BOOST_TEST(basic.headers["www-authenticate"] == "Bearer realm=\"api\"");
  HttpReply beside = httpExchange(
      port, get("/v1/auth", "Authorization: Basic dXNlcjpwdw==\r\nX-API-Key: " + other + "\r\n"));
  BOOST_TEST(beside.status == 200);
}

BOOST_AUTO_TEST_CASE(missing_scopes_get_403_and_count_nothing) {
  const auto [secret, id] = newKey(2, {"read"});
  const std::string auth = "Authorization: Bearer " + secret + "\r\n";
  HttpReply denied = httpExchange(port, get("/v1/auth", auth + "X-Api-Scopes: read, admin\r\n"));
  BOOST_TEST(denied.status == 403);
  BOOST_TEST(denied.headers["www-authenticate"].find("insufficient_scope") != std::string::npos);
  BOOST_TEST(httpExchange(port, get("/v1/auth", auth + "X-Api-Scopes: read\r\n")).status == 200);
  BOOST_TEST(httpExchange(port, get("/v1/auth", auth)).status == 200);  // the 403 counted nothing
  BOOST_TEST(httpExchange(port, get("/v1/auth", auth)).status == 429);
}

BOOST_AUTO_TEST_CASE(over_the_limit_gets_429_with_retry_after_and_costs_are_checked) {
  const auto [secret, id] = newKey(3);
  const std::string auth = "Authorization: Bearer " + secret + "\r\n";
  BOOST_TEST(httpExchange(port, get("/v1/auth", auth + "X-Api-Cost: 2\r\n")).status == 200);
  BOOST_TEST(httpExchange(port, get("/v1/auth", auth)).status == 200);
  HttpReply over = httpExchange(port, get("/v1/auth", auth));
  BOOST_TEST(over.status == 429);
  BOOST_REQUIRE(over.headers.count("retry-after") == 1u);
  const int retry = std::stoi(over.headers["retry-after"]);
  BOOST_TEST((retry >= 1 && retry <= 3600), retry);
  BOOST_TEST(over.headers["ratelimit-policy"] == "\"default\";q=3;w=3600");
  BOOST_TEST(over.headers["ratelimit"].rfind("\"default\";r=0;t=", 0) == 0u);
  HttpReply too_dear = httpExchange(port, get("/v1/auth", auth + "X-Api-Cost: 4\r\n"));
  BOOST_TEST(too_dear.status == 429);
  BOOST_TEST(too_dear.headers.count("retry-after") == 0u);  // it can never pass
  for (const char* cost : {"0", "-1", "abc", "1000000001", "1.5"}) {
    HttpReply bad = httpExchange(port, get("/v1/auth", auth + "X-Api-Cost: " + cost + "\r\n"));
    BOOST_TEST(bad.status == 400, cost);
    BOOST_TEST(bad.body.find("X-Api-Cost") != std::string::npos, bad.body);
  }
}

BOOST_AUTO_TEST_CASE(healthz_metrics_and_unknown_paths) {
  HttpReply health = httpExchange(port, get("/healthz"));
  BOOST_TEST(health.status == 200);
  BOOST_TEST(health.body.find("\"healthy\":true") != std::string::npos, health.body);
  const auto [secret, id] = newKey(1);
  httpExchange(port, get("/v1/auth", "Authorization: Bearer " + secret + "\r\n"));
  httpExchange(port, get("/v1/auth", "Authorization: Bearer " + secret + "\r\n"));
  httpExchange(port, get("/v1/auth"));
  HttpReply m = httpExchange(port, get("/metrics"));
  BOOST_TEST(m.status == 200);
  BOOST_TEST(m.headers["content-type"].rfind("text/plain; version=0.0.4", 0) == 0u);
  for (const char* line :
       {"api_auth_decisions_total{outcome=\"ok\"} 1\n",
        "api_auth_decisions_total{outcome=\"over_limit\"} 1\n",
        "api_auth_decisions_total{outcome=\"missing\"} 1\n", "api_auth_duration_seconds_count 3\n",
        "# TYPE api_auth_duration_seconds histogram\n",
        "api_http_responses_total{class=\"2xx\"} 2\n",  // /healthz and one ok
        "api_http_responses_total{class=\"4xx\"} 2\n"}) {
    BOOST_TEST(m.body.find(line) != std::string::npos, line << "\n" << m.body);
  }
  BOOST_TEST(m.body.find(id) == std::string::npos);  // no per-key label
  BOOST_TEST(m.body.find("ann@") == std::string::npos);
  BOOST_TEST(httpExchange(port, get("/v2/nothing")).status == 404);
}

BOOST_AUTO_TEST_CASE(oversized_and_malformed_requests_are_refused_before_any_work) {
  HttpReply big_header =
      httpExchange(port, get("/v1/auth", "X-Padding: " + std::string(9'000, 'a') + "\r\n"));
  BOOST_TEST(big_header.status == 431);
  const std::string body(70'000, 'b');
  HttpReply big_body =
      httpExchange(port, "POST /v1/auth HTTP/1.1\r\nHost: edge\r\nContent-Length: " +
                             std::to_string(body.size()) + "\r\n\r\n" + body);
  BOOST_TEST(big_body.status == 413);
  HttpReply garbage = httpExchange(port, "NOT HTTP AT ALL\r\n\r\n");
  BOOST_TEST(garbage.status == 400);
}

BOOST_AUTO_TEST_CASE(a_slow_client_is_timed_out_and_keep_alive_serves_several) {
  const int slow = connectLoopback(port);
  BOOST_REQUIRE(slow >= 0);
  BOOST_REQUIRE(sendAll(slow, "GET /healthz HTTP/1.1\r\nHost: e"));  // and then nothing
  const auto started = std::chrono::steady_clock::now();
  char byte = 0;
  const ssize_t n = ::recv(slow, &byte, 1, 0);  // closed by the edge at its request timeout
  const auto waited = std::chrono::steady_clock::now() - started;
  BOOST_TEST(n == 0);
  BOOST_TEST((waited >= 300ms && waited < 3s),
             std::chrono::duration_cast<std::chrono::milliseconds>(waited).count());
  ::close(slow);

  const int fd = connectLoopback(port);
  BOOST_REQUIRE(fd >= 0);
  std::string pending;
  for (int i = 0; i < 3; ++i) {
    BOOST_REQUIRE(sendAll(fd, "GET /healthz HTTP/1.1\r\nHost: edge\r\n\r\n"));
    HttpReply r = readHttpReply(fd, pending);
    BOOST_TEST(r.status == 200, "request " << i);
  }
  ::close(fd);
}

std::string post(const std::string& target, const std::string& body) {
  return "POST " + target + " HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n" +
         "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
         "\r\n\r\n" + body;
}

BOOST_AUTO_TEST_CASE(verify_answers_the_decision_as_json) {
  const auto [secret, id] = newKey(2, {"read"});
  HttpReply ok = httpExchange(port, post("/v1/keys/verify", R"({"key":")" + secret + R"("})"));
  BOOST_TEST(ok.status == 200);
  BOOST_TEST(ok.headers["content-type"] == "application/json");
  BOOST_TEST(
      ok.body.find(R"("allowed":true,"reason":"ok","key_id":")" + id + "\"") != std::string::npos,
      ok.body);
  BOOST_TEST(ok.body.find(R"("scopes":["read"])") != std::string::npos, ok.body);
  BOOST_TEST(
      ok.body.find(R"("rate_limit":{"limit":2,"remaining":1,"reset_at":")") != std::string::npos,
      ok.body);
  BOOST_TEST(ok.body.find(secret) == std::string::npos);
  HttpReply scoped = httpExchange(
      port, post("/v1/keys/verify", R"({"key":")" + secret + R"(","scopes":["admin"]})"));
  BOOST_TEST(
      scoped.body.find(R"("allowed":false,"reason":"insufficient_scope")") != std::string::npos,
      scoped.body);
  HttpReply dear =
      httpExchange(port, post("/v1/keys/verify", R"({"key":")" + secret + R"(","cost":2})"));
  BOOST_TEST(dear.body.find(R"("reason":"over_limit")") != std::string::npos, dear.body);
  BOOST_TEST(dear.body.find("retry_after_ms") != std::string::npos, dear.body);
  HttpReply unknown = httpExchange(port, post("/v1/keys/verify", R"({"key":"sk_nope"})"));
  BOOST_TEST(unknown.body.find(R"("allowed":false,"reason":"malformed")") != std::string::npos,
             unknown.body);
  for (const char* body :
       {"", "[]", R"({"key":1})", R"({"key":"k","cost":0})", R"({"key":"k","cost":"2"})",
        R"({"key":"k","scopes":"read"})", R"({"key":"k","extra":true})", "{\"key\":"}) {
    HttpReply bad = httpExchange(port, post("/v1/keys/verify", body));
    BOOST_TEST(bad.status == 400, body << ": " << bad.body);
  }
  HttpReply wrong = httpExchange(port, get("/v1/keys/verify"));
  BOOST_TEST(wrong.status == 405);
  BOOST_TEST(wrong.headers["allow"] == "POST");
  // An empty X-API-Key beside a Bearer key is no second key.
  const auto [other, other_id] = newKey(5);
  BOOST_TEST(
      httpExchange(port, get("/v1/auth", "X-API-Key: \r\nAuthorization: Bearer " + other + "\r\n"))
          .status == 200);
}

BOOST_AUTO_TEST_CASE(head_gets_the_header_alone_and_keeps_the_connection_in_step) {
  const int fd = connectLoopback(port);
  BOOST_REQUIRE(fd >= 0);
  std::string pending;
  BOOST_REQUIRE(sendAll(fd,
                        "HEAD /healthz HTTP/1.1\r\nHost: edge\r\n\r\n"
                        "GET /healthz HTTP/1.1\r\nHost: edge\r\n\r\n"));
  char chunk[4096];
  std::string all;
  while (all.find("\"healthy\"") == std::string::npos) {  // until the GET's body is in
    const ssize_t n = ::recv(fd, chunk, sizeof(chunk), 0);
    BOOST_REQUIRE(n > 0);
    all.append(chunk, static_cast<size_t>(n));
  }
  ::close(fd);
  // Two status lines, and one body: the HEAD answer's length is announced, not sent.
  const size_t first = all.find("HTTP/1.1 200");
  const size_t second = all.find("HTTP/1.1 200", first + 1);
  BOOST_REQUIRE(second != std::string::npos);
  BOOST_TEST(all.substr(first, second - first).find("{") == std::string::npos,
             all.substr(first, second - first));
}

BOOST_AUTO_TEST_CASE(auth_decisions_about_known_keys_are_recorded_with_the_proxys_request) {
  const auto [secret, id] = newKey(2, {"read"});
  const std::string auth = "Authorization: Bearer " + secret + "\r\n";
  // nginx's headers: the path without its query (which may carry secrets), the method.
  BOOST_TEST(httpExchange(port, get("/v1/auth", auth + "X-Original-URI: /items/7?token=hush\r\n"
                                                       "X-Original-Method: post\r\n"
                                                       "X-Real-IP: 203.0.113.7\r\n"
                                                       "User-Agent: tester/1.0\r\n"))
                 .status == 200);
  // Envoy's: the client's path after /v1/auth, the client's method; Traefik's X-Forwarded-*.
  BOOST_TEST(httpExchange(port,
                          "DELETE /v1/auth/orders/9?x=1 HTTP/1.1\r\nHost: edge\r\n"
                          "Connection: close\r\nX-Forwarded-For: 2001:db8::1, 10.0.0.1\r\n" +
                              auth + "\r\n")
                 .status == 200);
  BOOST_TEST(httpExchange(port, get("/v1/auth", auth + "X-Forwarded-Uri: /traefik/path\r\n"
                                                       "X-Forwarded-Method: PUT\r\n"))
                 .status == 429);  // over the limit of 2: recorded with the 429
  // Nothing, or what cannot be recorded: documented stand-ins, never a refused record.
  BOOST_TEST(httpExchange(port, get("/v1/auth", auth + "X-Original-URI: /bad\xff\xfe\r\n"
                                                       "X-Original-Method: BREW\r\n"
                                                       "X-Real-IP: not-an-address\r\n"))
                 .status == 429);
  BOOST_TEST(httpExchange(port, get("/v1/auth", auth + "X-Api-Scopes: admin\r\n")).status == 403);
  // A key that is not known is no request of anyone's.
  BOOST_TEST(httpExchange(port, get("/v1/auth", "X-API-Key: sk_nonsense\r\n")).status == 401);
  BOOST_TEST(httpExchange(port, get("/v1/auth")).status == 401);

  const std::vector<Row> rows = requestRows();
  BOOST_REQUIRE(rows.size() == 5u);
  BOOST_TEST((rows[0] == Row{"/items/7", "POST", 200, "203.0.113.7", "tester/1.0", id}));
  BOOST_TEST((rows[1] == Row{"/orders/9", "DELETE", 200, "2001:db8::1", "", id}));
  BOOST_TEST((rows[2] == Row{"/traefik/path", "PUT", 429, "", "", id}));
  BOOST_TEST((rows[3] == Row{"(invalid)", "GET", 429, "", "", id}));
  BOOST_TEST((rows[4] == Row{"(unknown)", "GET", 403, "", "", id}));
  for (const Row& row : rows) {
    for (const std::string& field : {std::get<0>(row), std::get<3>(row), std::get<4>(row)}) {
      BOOST_TEST(field.find("hush") == std::string::npos);
      BOOST_TEST(field.find(secret) == std::string::npos);
    }
  }
}

BOOST_AUTO_TEST_CASE(usage_posts_a_batch_all_or_nothing_from_a_shipper_holding_usage_write) {
  const auto [shipper, shipper_id] = newKey(100, {"usage:write"});
  const auto [client, client_id] = newKey(100, {"read"});
  const std::string as_shipper = "Authorization: Bearer " + shipper + "\r\n";
  const std::string line1 =
      R"({"key_id":")" + client_id +
      R"(","endpoint":"/a","method":"get","status_code":201,)"
      R"("response_time_ms":12,"ip_address":"198.51.100.2","user_agent":"ua"})";
  const std::string line2 = R"({"key_id":")" + client_id +
                            R"(","endpoint":"/b","method":"POST","status_code":502,)"
                            R"("response_time_ms":3000})";
  // The shipper's key: none, a client's without the scope, an unknown one.
  BOOST_TEST(postUsage("", line1).status == 401);
  HttpReply scoped = postUsage("X-API-Key: " + client + "\r\n", line1);
  BOOST_TEST(scoped.status == 403);
  BOOST_TEST(scoped.body.find("usage:write") != std::string::npos, scoped.body);
  BOOST_TEST(postUsage("X-API-Key: sk_nonsense\r\n", line1).status == 401);
  BOOST_TEST(httpExchange(port, get("/v1/usage", as_shipper)).status == 405);
  // A bad line anywhere: 400 naming the line and the field, and nothing of the batch recorded.
  for (const auto& [bad, says] : std::vector<std::pair<std::string, std::string>>{
           {"{\"key_id\":", "line 3: not a JSON object"},
           {"[1]", "line 3: not a JSON object"},
           {R"({"key_id":"key_0000000000000000","endpoint":"/c","method":"GET","status_code":200,)"
            R"("response_time_ms":1})",
            "line 3: no key with id"},
           {R"({"key_id":")" + client_id +
                R"(","endpoint":"/c","method":"BREW","status_code":200,"response_time_ms":1})",
            "line 3: invalid method \"BREW\""},
           {R"({"key_id":")" + client_id +
                R"(","endpoint":"/c","method":"GET","status_code":700,"response_time_ms":1})",
            "line 3: field \"status_code\" must be a whole number 100..599, got 700"},
           {R"({"key_id":")" + client_id + R"(","endpoint":"/c","method":"GET","status_code":200})",
            "line 3: field \"response_time_ms\" must be a whole number 0..86400000, got nothing"},
           {R"({"key_id":")" + client_id +
                R"(","endpoint":"/c","method":"GET","status_code":200,"response_time_ms":1,)"
                R"("ip_address":"nowhere"})",
            "line 3: invalid IP address \"nowhere\""},
           {R"({"key_id":")" + client_id +
                R"(","endpoint":"/c","method":"GET","status_code":200,"response_time_ms":1,"x":1})",
            "line 3: unknown field \"x\""},
           {R"({"endpoint":"/c","method":"GET","status_code":200,"response_time_ms":1})",
            "line 3: field \"key_id\" is required"}}) {
    HttpReply r = postUsage(as_shipper, line1 + "\n\n" + bad + "\n" + line2 + "\n");
    BOOST_TEST(r.status == 400, bad);
    for (size_t at = 0; (at = r.body.find("\\\"", at)) != std::string::npos;) {
      r.body.erase(at, 1);  // the detail as text, not as a JSON string
    }
    BOOST_TEST(r.body.find(says) != std::string::npos, says << " in " << r.body);
    BOOST_TEST(r.body.find("nothing was recorded") != std::string::npos, r.body);
  }
  BOOST_TEST(requestRows().empty());
  HttpReply ok = postUsage(as_shipper, line1 + "\r\n" + line2);
  BOOST_TEST(ok.status == 200, ok.body);
  BOOST_TEST(ok.body == R"({"recorded":2})");
  const std::vector<Row> rows = requestRows();
  BOOST_REQUIRE(rows.size() == 2u);
  BOOST_TEST((rows[0] == Row{"/a", "GET", 201, "198.51.100.2", "ua", client_id}));
  BOOST_TEST((rows[1] == Row{"/b", "POST", 502, "", "", client_id}));
  // The shipper's own calls are no requests of its key.
  BOOST_TEST(postUsage(as_shipper, "").status == 200);
}

BOOST_FIXTURE_TEST_CASE(usage_lines_are_recorded_at_their_own_timestamp_within_bounds,
                        OnManualTime) {
  const auto [shipper, shipper_id] = newKey(100, {"usage:write"});
  const auto [client, client_id] = newKey(100, {"read"});
  const std::string as_shipper = "Authorization: Bearer " + shipper + "\r\n";
  // A line for `endpoint`, with `"timestamp": <timestamp_json>` unless that is empty.
  const auto line = [&](const std::string& endpoint, const std::string& timestamp_json = "") {
    return R"({"key_id":")" + client_id + R"(","endpoint":")" + endpoint +
           R"(","method":"GET","status_code":200,"response_time_ms":5)" +
           (timestamp_json.empty() ? "" : R"(,"timestamp":)" + timestamp_json) + "}";
  };
  // The clock reads 2026-11-25T12:30:00.000Z: accepted are times from requestRetention (30
  // days) before it to 5 minutes after it, both ends included.
  const std::string range =
      "field \"timestamp\" must be a time from 2026-10-26T12:30:00.000Z to "
      "2026-11-25T12:35:00.000Z, at most 30d 0h (requestRetention) before this server's clock "
      "and 5m 0s after it, got ";
  const std::string form =
      "field \"timestamp\" must be a time as text: YYYY-MM-DDTHH:MM:SS[.fff] then Z, an offset "
      "(+02:00) or nothing (UTC), e.g. \"2026-11-25T12:30:00.000Z\", got ";
  for (const auto& [bad, says] : std::vector<std::pair<std::string, std::string>>{
           {R"("2026-11-25T12:35:00.001Z")", range},   // beyond the clock skew
           {R"("2026-11-25T13:35:01+01:00")", range},  // so is this, by its offset
           {R"("2026-10-26T12:29:59.999Z")", range},   // older than requestRetention
           {R"("9999-12-31T23:59:59.999Z")", range},
           {R"("yesterday")", form},
           {R"("2026-02-30T12:00:00Z")", form},  // no such day
           {R"("2026-11-25T12:30:00.000Zulu")", form},
           {R"("1764073800000")", form},
           {"1764073800000", form},  // a number, not a time as text
           {"null", form},
           {R"({"at":"2026-11-25T12:00:00Z"})", form}}) {
    const HttpReply r = postUsage(as_shipper, line("/fine") + "\n" + line("/bad", bad) + "\n");
    BOOST_TEST(r.status == 400, bad);
    const std::string detail = unescaped(r.body);
    BOOST_TEST(detail.find("line 2: " + says + bad + "; nothing was recorded") != std::string::npos,
               bad << " in " << detail);
  }
  BOOST_TEST(requestRows().empty());

  // A quarter second later, one batch: a line without a time, one an hour ago, one in another
  // form of the same hour, and the two ends of the range, which moved with the clock.
  time->set(kStart + 250ms);
  const HttpReply ok = postUsage(
      as_shipper, line("/now") + "\n" + line("/hour-ago", R"("2026-11-25T11:30:00.000Z")") + "\n" +
                      line("/offset", R"("2026-11-25 13:00:00.25+02:00")") + "\n" +
                      line("/ahead", R"("2026-11-25T12:35:00.250Z")") + "\n" +
                      line("/oldest", R"("2026-10-26T12:30:00.25Z")") + "\n");
  BOOST_TEST(ok.status == 200, ok.body);
  BOOST_TEST(ok.body == R"({"recorded":5})");
  // Each raw row carries its line's time; the one without, the clock's when the batch came.
  using Rows = std::vector<std::vector<std::string>>;
  const Rows raw = stored("SELECT endpoint, timestamp FROM api_requests ORDER BY id");
  BOOST_TEST((raw == Rows{{"/now", msText("2026-11-25T12:30:00.250Z")},
                          {"/hour-ago", msText("2026-11-25T11:30:00.000Z")},
                          {"/offset", msText("2026-11-25T11:00:00.250Z")},
                          {"/ahead", msText("2026-11-25T12:35:00.250Z")},
                          {"/oldest", msText("2026-10-26T12:30:00.250Z")}}));
  // Every rollup counts each request in the hour (aggregationInterval) it completed in.
  Rows by_endpoint =
      stored("SELECT endpoint, interval_start, requests FROM api_usage_endpoint_rollups");
  std::sort(by_endpoint.begin(), by_endpoint.end());
  BOOST_TEST((by_endpoint == Rows{{"/ahead", msText("2026-11-25T12:00:00Z"), "1"},
                                  {"/hour-ago", msText("2026-11-25T11:00:00Z"), "1"},
                                  {"/now", msText("2026-11-25T12:00:00Z"), "1"},
                                  {"/offset", msText("2026-11-25T11:00:00Z"), "1"},
                                  {"/oldest", msText("2026-10-26T12:00:00Z"), "1"}}));
  Rows by_key_and_endpoint = stored(
      "SELECT endpoint, interval_start FROM api_usage_rollups WHERE key_id = '" + client_id + "'");
  std::sort(by_key_and_endpoint.begin(), by_key_and_endpoint.end());
  BOOST_TEST((by_key_and_endpoint == Rows{{"/ahead", msText("2026-11-25T12:00:00Z")},
                                          {"/hour-ago", msText("2026-11-25T11:00:00Z")},
                                          {"/now", msText("2026-11-25T12:00:00Z")},
                                          {"/offset", msText("2026-11-25T11:00:00Z")},
                                          {"/oldest", msText("2026-10-26T12:00:00Z")}}));
  const Rows by_key = stored(
      "SELECT interval_start, requests, last_request FROM api_usage_key_rollups"
      " ORDER BY interval_start");
  BOOST_TEST(
      (by_key == Rows{{msText("2026-10-26T12:00:00Z"), "1", msText("2026-10-26T12:30:00.250Z")},
                      {msText("2026-11-25T11:00:00Z"), "2", msText("2026-11-25T11:30:00Z")},
                      {msText("2026-11-25T12:00:00Z"), "2", msText("2026-11-25T12:35:00.250Z")}}));
  const Rows latency = stored("SELECT interval_start FROM api_usage_latency WHERE key_id = '" +
                              client_id + "' ORDER BY interval_start");
  BOOST_TEST((latency == Rows{{msText("2026-10-26T12:00:00Z")},
                              {msText("2026-11-25T11:00:00Z")},
                              {msText("2026-11-25T12:00:00Z")}}));
  // The statistics of the last two hours show the hour-ago requests in their hour.
  const api::UsageStats stats = module->usage().stats(api::Span{2, 'h'}, std::nullopt);
  BOOST_REQUIRE(stats.series.size() == 3u);  // 10:00, 11:00, 12:00
  BOOST_TEST(stats.series[1].start_ms == std::stoll(msText("2026-11-25T11:00:00Z")));
  BOOST_TEST(stats.series[0].requests == 0);
  BOOST_TEST(stats.series[1].requests == 2);
  BOOST_TEST(stats.series[2].requests == 2);
  BOOST_TEST(stats.total_requests == 4);
}

BOOST_FIXTURE_TEST_CASE(usage_answers_503_with_retry_after_when_the_queue_cannot_take_the_batch,
                        SmallUsageQueue) {
  const auto [shipper, shipper_id] = newKey(100, {"usage:write"});
  const auto [client, client_id] = newKey(100, {"read"});
  const std::string as_shipper = "Authorization: Bearer " + shipper + "\r\n";
  const auto batch = [&](const std::string& prefix) {
    std::string body;
    for (int i = 0; i < 6; ++i) {
      body += R"({"key_id":")" + client_id + R"(","endpoint":")" + prefix + std::to_string(i) +
              R"(","method":"GET","status_code":200,"response_time_ms":1})" + "\n";
    }
    return body;
  };
  // The shipper's key is checked (and its last use written) before the writer is held off.
  BOOST_REQUIRE(postUsage(as_shipper, "").status == 200);
  testing_support::WriterLock locker(database.location());            // holding the writer off
  BOOST_TEST(postUsage(as_shipper, batch("/first/")).status == 200);  // 6 of the queue's 10
  // 6 more do not fit: none of them is queued, and none counts as dropped.
  const HttpReply full = postUsage(as_shipper, batch("/second/"));
  BOOST_TEST(full.status == 503, full.body);
  BOOST_TEST(full.headers.at("retry-after") == "1");
  BOOST_TEST(full.body.find("the usage queue cannot take 6 more records now; nothing was "
                            "recorded: send them again") != std::string::npos,
             full.body);
  BOOST_TEST(module->recorder().waitingRecords() == 6u);
  BOOST_TEST(module->recorder().droppedRecords() == 0u);
  locker.release();  // letting the writer in
  std::vector<Row> rows = requestRows();
  BOOST_REQUIRE(rows.size() == 6u);
  for (int i = 0; i < 6; ++i) {
    BOOST_TEST(std::get<0>(rows[static_cast<size_t>(i)]) == "/first/" + std::to_string(i));
  }
  // The shipper sends the refused batch again: recorded whole, once.
  const HttpReply again = postUsage(as_shipper, batch("/second/"));
  BOOST_TEST(again.status == 200, again.body);
  BOOST_TEST(again.body == R"({"recorded":6})");
  rows = requestRows();
  BOOST_REQUIRE(rows.size() == 12u);
  for (int i = 0; i < 6; ++i) {
    BOOST_TEST(std::get<0>(rows[static_cast<size_t>(6 + i)]) == "/second/" + std::to_string(i));
  }
  BOOST_TEST(module->recorder().droppedRecords() == 0u);
}

BOOST_AUTO_TEST_CASE(metrics_show_the_shared_segments_slots_store_errors_and_the_usage_queue) {
  const auto [secret, id] = newKey(5);
  BOOST_TEST(httpExchange(port, get("/v1/auth", "X-API-Key: " + secret + "\r\n")).status == 200);
  HttpReply m = httpExchange(port, get("/metrics"));
  BOOST_TEST(m.status == 200);
  for (const char* line :
       {"api_store_errors_total{path=\"auth\"} 0\n",
        "api_store_errors_total{path=\"usage_write\"} 0\n", "api_usage_records_queued_total 1\n",
        "# TYPE api_usage_records_queued gauge\n", "api_http_connections_evicted_total 0\n"}) {
    BOOST_TEST(m.body.find(line) != std::string::npos, line << "\n" << m.body);
  }
  // The shared segment's slots; on PostgreSQL the windows are in the database, with no slots.
  if (testing_support::onPostgres()) {
    BOOST_TEST(m.body.find("api_rate_limit_slots") == std::string::npos, m.body);
  } else {
    for (const char* line : {"api_rate_limit_slots_in_use 1\n", "api_rate_limit_slots 65536\n"}) {
      BOOST_TEST(m.body.find(line) != std::string::npos, line << "\n" << m.body);
    }
  }
}

BOOST_FIXTURE_TEST_CASE(at_the_connection_limit_the_oldest_idle_connection_makes_room,
                        TwoConnections) {
  // The edge marks a connection idle just after its answer is written: a moment for that.
  const auto settle = [] { std::this_thread::sleep_for(250ms); };
  const int a = connectLoopback(port);
  BOOST_REQUIRE(askHealth(a) == 200);
  settle();
  const int b = connectLoopback(port);
  BOOST_REQUIRE(askHealth(b) == 200);
  settle();
  // A third connection: a, idle the longest, is closed; c is served.
  const int c = connectLoopback(port);
  BOOST_TEST(askHealth(c) == 200);
  settle();  // c idle before b asks again
  BOOST_TEST(closedByEdge(a));
  BOOST_TEST(askHealth(b) == 200);  // b stays, and is now idle more recently than c
  settle();
  // Connections that have sent nothing yet are not idle: d closes c, e closes b, and with
  // only d and e open, neither idle, f is closed as it comes.
  const int d = connectLoopback(port);
  BOOST_TEST(closedByEdge(c));
  const int e = connectLoopback(port);
  BOOST_TEST(closedByEdge(b));
  const int f = connectLoopback(port);
  BOOST_TEST(closedByEdge(f));
  HttpReply m = httpExchange(port, get("/metrics"));  // refused too
  BOOST_TEST(m.status == 0);
  // Once answered, d and e are idle: the next connection closes d, the older.
  BOOST_TEST(askHealth(d) == 200);
  settle();
  BOOST_TEST(askHealth(e) == 200);
  settle();
  m = httpExchange(port, get("/metrics"));
  BOOST_TEST(closedByEdge(d));
  BOOST_TEST(askHealth(e) == 200);
  BOOST_TEST(m.body.find("api_http_connections_evicted_total 4\n") != std::string::npos, m.body);
  BOOST_TEST(m.body.find("api_http_connections_refused_total 2\n") != std::string::npos, m.body);
  for (const int fd : {a, b, c, d, e, f}) {
    ::close(fd);
  }
}

BOOST_AUTO_TEST_CASE(a_stop_under_load_loses_no_answered_usage_record) {
  const auto [secret, id] = newKey(1'000'000);
  std::atomic<std::int64_t> answered{0};
  std::atomic<bool> go{true};
  std::vector<std::thread> clients;
  constexpr int kClients = 4;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&, key = secret] {
      const int fd = connectLoopback(port, 5);
      std::string pending;
      while (fd >= 0 && go.load()) {
        if (!sendAll(fd,
                     "GET /v1/auth HTTP/1.1\r\nHost: edge\r\nX-Original-URI: /load\r\n"
                     "X-API-Key: " +
                         key + "\r\n\r\n")) {
          break;
        }
        HttpReply r = readHttpReply(fd, pending);
        if (r.status != 200) {
          break;  // the edge closed the connection: stopped
        }
        answered.fetch_add(1);
        if (r.headers["connection"] == "close") {
          break;
        }
      }
      if (fd >= 0) {
        ::close(fd);
      }
    });
  }
  while (answered.load() < 500) {
    std::this_thread::sleep_for(1ms);
  }
  module->serveStop(2s);  // while the clients keep asking
  go = false;
  for (std::thread& t : clients) {
    t.join();
  }
  // Every answer the clients read was recorded first; at most one request a client was
  // decided (and recorded) without its answer being read.
  const std::int64_t rows = static_cast<std::int64_t>(requestRows().size());
  BOOST_TEST(rows >= answered.load(), rows << " rows for " << answered.load() << " answers");
  BOOST_TEST(rows <= answered.load() + kClients);
}

BOOST_AUTO_TEST_CASE(a_stop_closes_the_listener) {
  BOOST_TEST(httpExchange(port, get("/healthz")).status == 200);
  module->serveStop(2s);
  BOOST_TEST(connectLoopback(port) == -1);
  module->serveStop(2s);  // idempotent
}

BOOST_AUTO_TEST_SUITE_END()
