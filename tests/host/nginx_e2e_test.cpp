// A real nginx (Debian's, started here with a temporary prefix on loopback, stopped after)
// in front of an upstream, with examples/nginx/api-auth.conf as shipped and `prompt serve`'s
// HTTP edge as its auth check: a valid key reaches the upstream with the identity headers
// (and not the key); a bad key gets 401; a missing scope 403; over the limit 429 with
// Retry-After and the RateLimit fields; a key revoked from the CLI is refused on the next
// request; /metrics parses as the exposition format; and each decision about a known key is
// recorded as the request nginx asked about (its path, method and client address).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <boost/test/unit_test.hpp>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <thread>

#include "installation.hpp"
#include "loopback_http.hpp"
#include "process.hpp"

namespace {

using namespace std::chrono_literals;
using testing_support::contains;
using testing_support::describe;
using testing_support::Installation;
using testing_support::ProcessOptions;
using testing_support::ProcessResult;

using testing_support::connectLoopback;
using testing_support::HttpReply;

// One request with Connection: close.
HttpReply request(int port, const std::string& target, const std::string& headers = "") {
  return testing_support::httpExchange(
      port,
      "GET " + target + " HTTP/1.1\r\nHost: test\r\nConnection: close\r\n" + headers + "\r\n");
}

// A loopback port free a moment ago.
int freePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  ::close(fd);
  return ntohs(address.sin_port);
}

std::string replaced(std::string text, const std::string& from, const std::string& to) {
  for (size_t at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

struct Key {
  std::string secret;
  std::string id;
};

Key newKey(const Installation& install, const std::string& limit, const std::string& scopes) {
  const ProcessResult r =
      install.prompt({"api:keys:create", "--name", "behind nginx", "--user", "ann", "--limit",
                      limit, "--scopes", scopes, "-f", "json"});
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, describe(r));
  const boost::json::object o = boost::json::parse(r.out).as_object();
  return {std::string(o.at("secret").as_string()),
          std::string(o.at("key").as_object().at("id").as_string())};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(nginx_edge)

BOOST_AUTO_TEST_CASE(nginx_with_the_shipped_configuration_puts_keys_and_limits_in_front) {
  Installation install;
  const Key key = newKey(install, "3", "read");
  const Key unscoped = newKey(install, "10", "write");

  ProcessOptions on_edge;
  on_edge.env["PROMPT_API_HTTP_LISTEN"] = "127.0.0.1:0";
  testing_support::Child serve({PROMPT_BIN, "serve"}, install.options(on_edge));
  BOOST_REQUIRE_MESSAGE(serve.waitForStderr("http edge listening", 1, 20s), serve.err());
  std::smatch m;
  const std::string err = serve.err();
  BOOST_REQUIRE(std::regex_search(err, m, std::regex("port=(\\d+)")));
  const int edge = std::stoi(m[1]);

  // The shipped configuration, its three addresses pointed at this test's, requiring "read".
  testing_support::TempDir prefix;
  const int listen = freePort();
  const int upstream = freePort();
  std::ifstream in(NGINX_EXAMPLE);
  BOOST_REQUIRE_MESSAGE(in, "cannot read " << NGINX_EXAMPLE);
  std::stringstream shipped;
  shipped << in.rdbuf();
  std::string conf = replaced(shipped.str(), "127.0.0.1:8787", "127.0.0.1:" + std::to_string(edge));
  conf = replaced(conf, "127.0.0.1:8080", "127.0.0.1:" + std::to_string(listen));
  conf = replaced(conf, "127.0.0.1:9000", "127.0.0.1:" + std::to_string(upstream));
  conf = replaced(conf, "# proxy_set_header X-Api-Scopes \"read\";",
                  "proxy_set_header X-Api-Scopes \"read\";");
  BOOST_REQUIRE(contains(conf, "proxy_set_header X-Api-Scopes \"read\";"));
  std::ofstream(prefix.path() + "/api-auth.conf") << conf;
  const std::string p = prefix.path();
  std::ofstream(p + "/nginx.conf")
      << "daemon off;\nmaster_process off;\npid " << p << "/nginx.pid;\nerror_log " << p
      << "/error.log info;\nevents { worker_connections 64; }\nhttp {\n  access_log off;\n"
      << "  client_body_temp_path " << p << "/body;\n  proxy_temp_path " << p << "/proxy;\n"
      << "  fastcgi_temp_path " << p << "/fastcgi;\n  uwsgi_temp_path " << p << "/uwsgi;\n"
      << "  scgi_temp_path " << p << "/scgi;\n  include " << p << "/api-auth.conf;\n"
      << "  server {\n    listen 127.0.0.1:" << upstream << ";\n    location / {\n"
      << "      return 200 \"key=$http_x_api_key_id user=$http_x_api_user "
         "scopes=$http_x_api_key_scopes apikey=$http_x_api_key auth=$http_authorization\\n\";\n"
      << "    }\n  }\n}\n";
  testing_support::Child nginx(
      {"/usr/sbin/nginx", "-e", p + "/error.log", "-p", p, "-c", p + "/nginx.conf"});
  bool up = false;
  for (int i = 0; i < 100 && !up; ++i) {
    const int fd = connectLoopback(listen);
    up = fd >= 0;
    if (fd >= 0) {
      ::close(fd);
    } else {
      std::this_thread::sleep_for(100ms);
    }
  }
  BOOST_REQUIRE_MESSAGE(up, "nginx did not start: " << nginx.err());

  // A valid key reaches the upstream with who it is, and without the key.
  HttpReply ok = request(listen, "/orders/1", "X-API-Key: " + key.secret + "\r\n");
  BOOST_TEST(ok.status == 200, ok.body);
  BOOST_TEST(ok.body == "key=" + key.id + " user=ann scopes=read apikey= auth=\n", ok.body);
  BOOST_TEST(ok.headers["ratelimit-policy"] == "\"default\";q=3;w=3600");
  BOOST_TEST(ok.headers["ratelimit"].rfind("\"default\";r=2;", 0) == 0u, ok.headers["ratelimit"]);
  BOOST_TEST(request(listen, "/", "Authorization: Bearer " + key.secret + "\r\n").status == 200);

  HttpReply missing = request(listen, "/");
  BOOST_TEST(missing.status == 401);
  BOOST_TEST(contains(missing.headers["www-authenticate"], "Bearer"));
  HttpReply bad = request(listen, "/", "X-API-Key: sk_" + std::string(48, 'A') + "\r\n");
  BOOST_TEST(bad.status == 401);
  BOOST_TEST(contains(bad.headers["www-authenticate"], "invalid_token"));
  BOOST_TEST(request(listen, "/", "X-API-Key: " + unscoped.secret + "\r\n").status == 403);

  BOOST_TEST(request(listen, "/", "X-API-Key: " + key.secret + "\r\n").status == 200);  // 3 of 3
  HttpReply over = request(listen, "/", "X-API-Key: " + key.secret + "\r\n");
  BOOST_TEST(over.status == 429, over.body);
  BOOST_TEST(!over.headers["retry-after"].empty());
  BOOST_TEST(std::stoi(over.headers["retry-after"].empty() ? "0" : over.headers["retry-after"]) >=
             1);
  BOOST_TEST(over.headers["ratelimit"].rfind("\"default\";r=0;", 0) == 0u,
             over.headers["ratelimit"]);
  BOOST_TEST(over.headers["ratelimit-policy"] == "\"default\";q=3;w=3600");

  BOOST_REQUIRE(install.prompt({"api:keys:revoke", key.id, "--force"}).exit_code == 0);
  BOOST_TEST(request(listen, "/", "X-API-Key: " + key.secret + "\r\n").status == 401);

  // /metrics, from the edge itself: every sample line is `name{labels} value`.
  HttpReply metrics = request(edge, "/metrics");
  BOOST_TEST(metrics.status == 200);
  const std::regex sample(
      R"(^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"]*",?)*\})? -?[0-9.e+Inf]+$)");
  std::istringstream lines(metrics.body);
  int samples = 0;
  for (std::string line; std::getline(lines, line);) {
    if (line.empty() || line[0] == '#') {
      continue;
    }
    BOOST_TEST(std::regex_match(line, sample), line);
    ++samples;
  }
  BOOST_TEST(samples > 20);
  BOOST_TEST(contains(metrics.body, "api_auth_decisions_total{outcome=\"over_limit\"} 1\n"),
             metrics.body);

  nginx.signal(SIGQUIT);
  BOOST_TEST(nginx.wait(20s) == 0, nginx.err());
  serve.signal(SIGTERM);
  BOOST_TEST(serve.wait(20s) == 0, serve.err());
  BOOST_TEST(!contains(serve.err(), key.secret));

  // Usage from the edge: the stop wrote every decision about a known key, as nginx's request.
  sqlite3* db = nullptr;
  BOOST_REQUIRE(sqlite3_open_v2(install.database().c_str(), &db, SQLITE_OPEN_READONLY, nullptr) ==
                SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  BOOST_REQUIRE(
      sqlite3_prepare_v2(db,
                         "SELECT endpoint || ' ' || method || ' ' || status_code || ' ' ||"
                         " ifnull(ip_address, '') FROM api_requests WHERE key_id = ?"
                         " ORDER BY id",
                         -1, &st, nullptr) == SQLITE_OK);
  sqlite3_bind_text(st, 1, key.id.c_str(), -1, SQLITE_TRANSIENT);
  std::vector<std::string> rows;
  while (sqlite3_step(st) == SQLITE_ROW) {
    rows.emplace_back(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
  }
  sqlite3_finalize(st);
  sqlite3_close(db);
  const std::vector<std::string> expected{"/orders/1 GET 200 127.0.0.1", "/ GET 200 127.0.0.1",
                                          "/ GET 200 127.0.0.1", "/ GET 429 127.0.0.1",
                                          "/ GET 401 127.0.0.1"};
  BOOST_TEST(rows == expected, boost::test_tools::per_element());
}

BOOST_AUTO_TEST_SUITE_END()
