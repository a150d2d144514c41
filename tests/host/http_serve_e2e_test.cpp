// `prompt serve` with the HTTP edge (ABI 1.3 serve_start/serve_stop): the real host and
// module, a key made by the CLI authorized over HTTP, revoked by the CLI and refused on the
// next request, a stop on SIGTERM closing the listener, and a port already taken failing
// the host.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <boost/test/unit_test.hpp>
#include <regex>
#include <string>

#include "installation.hpp"
#include "loopback_http.hpp"
#include "process.hpp"

namespace {

using testing_support::contains;
using testing_support::describe;
using testing_support::Installation;
using testing_support::ProcessOptions;
using testing_support::ProcessResult;

// The status of one HTTP/1.1 request to 127.0.0.1:port (0 when none came back).
int statusOf(int port, const std::string& request) {
  return testing_support::httpExchange(port, request).status;
}

std::string authRequest(const std::string& key) {
  return "GET /v1/auth HTTP/1.1\r\nHost: e\r\nConnection: close\r\nAuthorization: Bearer " + key +
         "\r\n\r\n";
}

}  // namespace

BOOST_AUTO_TEST_SUITE(http_serve)

BOOST_AUTO_TEST_CASE(serve_answers_auth_requests_sees_cli_revocations_and_stops_on_sigterm) {
  Installation install;
  const ProcessResult created = install.prompt(
      {"api:keys:create", "--name", "edge", "--user", "u", "--limit", "100", "-f", "json"});
  BOOST_REQUIRE_MESSAGE(created.exit_code == 0, describe(created));
  const boost::json::object o = boost::json::parse(created.out).as_object();
  const std::string secret(o.at("secret").as_string());
  const std::string id(o.at("key").as_object().at("id").as_string());

  ProcessOptions on_edge;
  on_edge.env["PROMPT_API_HTTP_LISTEN"] = "127.0.0.1:0";
  testing_support::Child serve({PROMPT_BIN, "serve"}, install.options(on_edge));
  BOOST_REQUIRE_MESSAGE(serve.waitForStderr("http edge listening", 1, std::chrono::seconds(20)),
                        serve.err());
  std::smatch m;
  const std::string err = serve.err();
  BOOST_REQUIRE_MESSAGE(std::regex_search(err, m, std::regex("port=(\\d+)")), err);
  const int port = std::stoi(m[1]);
  BOOST_TEST(statusOf(port, "GET /healthz HTTP/1.1\r\nHost: e\r\nConnection: close\r\n\r\n") ==
             200);
  BOOST_TEST(statusOf(port, authRequest(secret)) == 200);
  BOOST_REQUIRE(install.prompt({"api:keys:revoke", id, "--force"}).exit_code == 0);
  BOOST_TEST(statusOf(port, authRequest(secret)) == 401);  // the very next request
  serve.signal(SIGTERM);
  BOOST_TEST(serve.wait(std::chrono::seconds(20)) == 0, serve.err());
  BOOST_TEST(contains(serve.err(), "http edge stopped"), serve.err());
  BOOST_TEST(statusOf(port, authRequest(secret)) == 0);  // nothing listens any more
  BOOST_TEST(!contains(serve.err(), secret));            // the key is never logged
}

BOOST_AUTO_TEST_CASE(a_port_already_taken_fails_serve_with_the_address) {
  const int taken = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  BOOST_REQUIRE(::bind(taken, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0);
  BOOST_REQUIRE(::listen(taken, 1) == 0);
  socklen_t length = sizeof(address);
  ::getsockname(taken, reinterpret_cast<sockaddr*>(&address), &length);
  const std::string listen = "127.0.0.1:" + std::to_string(ntohs(address.sin_port));
  Installation install;
  ProcessOptions on_edge;
  on_edge.env["PROMPT_API_HTTP_LISTEN"] = listen;
  on_edge.timeout = std::chrono::seconds(20);
  const ProcessResult r = install.prompt({"serve"}, on_edge);
  ::close(taken);
  BOOST_TEST(r.exit_code == 1, describe(r));
  BOOST_TEST(contains(r.err, "cannot listen on " + listen), describe(r));
}

BOOST_AUTO_TEST_CASE(a_bad_listen_address_stops_the_load_naming_it) {
  Installation install;
  for (const char* bad : {"localhost:80", "127.0.0.1", "::1:80", "127.0.0.1:70000"}) {
    ProcessOptions on_edge;
    on_edge.env["PROMPT_API_HTTP_LISTEN"] = bad;
    const ProcessResult r = install.prompt({"health"}, on_edge);
    BOOST_TEST(r.exit_code != 0, bad << ": " << describe(r));
    BOOST_TEST(contains(r.err, "httpListen"), bad << ": " << describe(r));
  }
}

BOOST_AUTO_TEST_SUITE_END()
