// The HTTP edge with a real client on loopback: ApiModule serving on 127.0.0.1 (a port the
// system picks), every status and header of /v1/auth, /healthz, /metrics, malformed and
// oversized requests, a slow client timed out, keep-alive, and a stop.
#include <sys/socket.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <string>
#include <thread>

#include "api_module.hpp"
#include "loopback_http.hpp"
#include "process.hpp"

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
  Fixture() {
    host.size = sizeof(host);
    host.abi_major = SP_ABI_VERSION_MAJOR;
    host.abi_minor = SP_ABI_VERSION_MINOR;
    host.module_name = "api";
    host.state_dir = dir.path().c_str();
    settings.store.database_path = dir.path() + "/api.sqlite3";
    settings.http.listen = "127.0.0.1:0";
    settings.http.address = "127.0.0.1";
    settings.http.port = 0;
    settings.http.request_timeout_ms = 400;
    settings.http.idle_timeout_ms = 2'000;
    module = std::make_unique<api::ApiModule>(host, settings, std::make_unique<api::SystemClock>(),
                                              nullptr);
    module->serveStart();
    port = module->httpPort();
  }
  ~Fixture() { module->serveStop(2s); }

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

  testing_support::TempDir dir;
  sp_host_api host{};
  api::ApiSettings settings;
  std::unique_ptr<api::ApiModule> module;
  std::uint16_t port = 0;
};

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

BOOST_AUTO_TEST_CASE(a_stop_closes_the_listener) {
  BOOST_TEST(httpExchange(port, get("/healthz")).status == 200);
  module->serveStop(2s);
  BOOST_TEST(connectLoopback(port) == -1);
  module->serveStop(2s);  // idempotent
}

BOOST_AUTO_TEST_SUITE_END()
