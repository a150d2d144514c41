// End-to-end tests of the api:keys:* commands: the real prompt, the real module, a private
// state directory, one process per command.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>
#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "installation.hpp"
#include "process.hpp"

namespace {

namespace json = boost::json;
using testing_support::contains;
using testing_support::describe;
using testing_support::Installation;
using testing_support::ProcessOptions;
using testing_support::ProcessResult;

json::object parseJson(const ProcessResult& r) {
  json::error_code ec;
  json::value v = json::parse(r.out, ec);
  BOOST_REQUIRE_MESSAGE(!ec && v.is_object(), "not a JSON object: " << describe(r));
  return v.as_object();
}

struct Created {
  std::string secret;
  std::string id;
};

Created create(const Installation& install, std::vector<std::string> extra = {},
               const std::string& user = "user@example.com") {
  std::vector<std::string> args{"api:keys:create", "--name", "Production API", "--user", user,
                                "--format",        "json"};
  args.insert(args.end(), extra.begin(), extra.end());
  const ProcessResult r = install.prompt(args);
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, describe(r));
  const json::object o = parseJson(r);
  return {std::string(o.at("secret").as_string()),
          std::string(o.at("key").as_object().at("id").as_string())};
}

// Every key of the installation but `except_id` is revoked as undelivered (a secret that
// never reached anyone); there are `total` keys in all.
void expectUndeliveredRevoked(const Installation& install, size_t total,
                              const std::string& except_id = "") {
  const json::object listed = parseJson(install.prompt({"api:keys:list", "--format", "json"}));
  const json::array& keys = listed.at("keys").as_array();
  BOOST_REQUIRE(keys.size() == total);
  for (const auto& key : keys) {
    if (key.as_object().at("id").as_string() == except_id) {
      continue;
    }
    BOOST_TEST(key.as_object().at("status").as_string() == "revoked");
    BOOST_TEST(key.as_object().at("revoked_reason").as_string() == "secret_not_delivered");
  }
}

std::string readAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream os;
  os << in.rdbuf();
  return os.str();
}

// Runs `prompt args...` on a fresh pseudo-terminal (its stdin, stdout and stderr, and its
// controlling terminal). Once the terminal's output holds `wait_for` and its echo is off
// (when `wait_for_quiet`), types `typed`. Returns the exit code, everything the terminal
// showed, and whether echo was back on after the process ended.
struct TerminalRun {
  int exit_code = -1;
  std::string shown;
  bool echo_after = false;
};

TerminalRun runOnTerminal(const Installation& install, const std::vector<std::string>& args,
                          const std::string& wait_for, bool wait_for_quiet,
                          const std::string& typed) {
  const int master = ::posix_openpt(O_RDWR | O_NOCTTY);
  BOOST_REQUIRE(master >= 0);
  BOOST_REQUIRE(::grantpt(master) == 0 && ::unlockpt(master) == 0);
  const std::string slave_name = ::ptsname(master);
  std::vector<std::string> argv{PROMPT_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> arg_ptrs;
  for (auto& a : argv) {
    arg_ptrs.push_back(a.data());
  }
  arg_ptrs.push_back(nullptr);
  const ProcessOptions env = install.options();
  const pid_t pid = ::fork();
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0) {
    ::setsid();
    const int slave = ::open(slave_name.c_str(), O_RDWR);  // becomes the controlling terminal
    ::dup2(slave, 0);
    ::dup2(slave, 1);
    ::dup2(slave, 2);
    ::close(master);
    for (const auto& [k, v] : env.env) {
      ::setenv(k.c_str(), v.c_str(), 1);
    }
    for (const auto& k : env.unset_env) {
      ::unsetenv(k.c_str());
    }
    ::signal(SIGPIPE, SIG_DFL);
    ::execv(arg_ptrs[0], arg_ptrs.data());
    ::_exit(127);
  }
  TerminalRun run;
  bool sent = false;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (std::chrono::steady_clock::now() < deadline) {
    if (!sent && contains(run.shown, wait_for)) {
      termios now{};
      const bool quiet = ::tcgetattr(master, &now) == 0 && (now.c_lflag & ECHO) == 0;
      if (quiet || !wait_for_quiet) {
        BOOST_REQUIRE(::write(master, typed.data(), typed.size()) ==
                      static_cast<ssize_t>(typed.size()));
        sent = true;
      }
    }
    pollfd p{master, POLLIN, 0};
    if (::poll(&p, 1, 20) <= 0) {
      continue;
    }
    char buffer[4096];
    const ssize_t n = ::read(master, buffer, sizeof(buffer));
    if (n <= 0) {
      break;  // EIO: the last holder of the terminal closed it
    }
    run.shown.append(buffer, static_cast<size_t>(n));
  }
  int status = 0;
  if (::waitpid(pid, &status, WNOHANG) == 0) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  termios after{};
  run.echo_after = ::tcgetattr(master, &after) == 0 && (after.c_lflag & ECHO) != 0;
  ::close(master);
  return run;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(keys_cli)

BOOST_AUTO_TEST_CASE(create_shows_the_key_once_with_a_warning_then_its_details) {
  Installation install;
  const ProcessResult r =
      install.prompt({"api:keys:create", "-n", "Production API", "-u", "user@example.com",
                      "--limit", "5000", "--expires", "30d", "--scopes", "read,write"});
  BOOST_TEST(r.exit_code == 0, describe(r));
  BOOST_TEST(contains(r.out, "Save this key now: it will not be shown again."), r.out);
  BOOST_TEST(contains(r.out, "    sk_"), r.out);
  BOOST_TEST(contains(r.out, "Rate limit  5000 requests per 1h"), r.out);
  BOOST_TEST(contains(r.out, "Scopes      read, write"), r.out);
  BOOST_TEST(contains(r.out, "(in 29d 23h)"), r.out);
  BOOST_TEST(r.err.empty(), r.err);
}

BOOST_AUTO_TEST_CASE(a_new_key_whose_secret_cannot_be_written_is_revoked) {
  Installation install;
  for (const char* format : {"table", "json"}) {
    const ProcessResult r = testing_support::run(
        {"/bin/sh", "-c", "exec \"$0\" \"$@\" >/dev/full", PROMPT_BIN, "api:keys:create", "--name",
         "lost", "--user", "u", "--format", format},
        install.options());
    BOOST_TEST(r.exit_code == 1, describe(r));
    BOOST_TEST(contains(r.err,
                        "could not be written to standard output, so its secret is lost;"
                        " it was revoked"),
               describe(r));
  }
  expectUndeliveredRevoked(install, 2);
}

BOOST_AUTO_TEST_CASE(a_rotation_whose_new_secret_cannot_be_written_is_undone) {
  Installation install;
  const Created old = create(install);
  for (const char* grace : {"0h", "1d"}) {
    const ProcessResult r =
        testing_support::run({"/bin/sh", "-c", "exec \"$0\" \"$@\" >/dev/full", PROMPT_BIN,
                              "api:keys:rotate", old.id, "--force", "--grace", grace},
                             install.options());
    BOOST_TEST(r.exit_code == 1, describe(r));
    BOOST_TEST(contains(r.err, "the rotation was undone"), describe(r));
    BOOST_TEST(contains(r.err, "the old key " + old.id + " works as before"), describe(r));
    // The owner still holds a working key: the old one, active again, with no end set.
    testing_support::ProcessOptions with_key;
    with_key.stdin_data = old.secret + "\n";
    const ProcessResult verified =
        install.prompt({"api:keys:verify", "--format", "json"}, with_key);
    BOOST_TEST(verified.exit_code == 0, describe(verified));
    const json::object info = parseJson(install.prompt(
        {"api:keys:info", old.id, "--format", "json", "--no-stats", "--no-ratelimit"}));
    BOOST_TEST(info.at("status").as_string() == "active");
    BOOST_TEST(info.at("revoked_at").is_null());
  }
  expectUndeliveredRevoked(install, 3, old.id);  // the old key, two replacements
  // And the audit trail says what happened.
  const ProcessResult info = install.prompt({"api:keys:info", old.id, "--no-stats"});
  BOOST_TEST(contains(info.out, "rotation_undone"), info.out);
}

// `prompt api:keys:create ... | true`: the reader is gone before the secret is written. The
// child starts with SIGPIPE at its default disposition, as a shell starts it, so a host that
// did not ignore SIGPIPE would die of it (no exit code) before the module could revoke.
BOOST_AUTO_TEST_CASE(a_closed_pipe_on_stdout_revokes_the_new_key_instead_of_killing_prompt) {
  Installation install;
  ProcessOptions closed;
  closed.stdout_reader_closed = true;
  for (const char* format : {"table", "json"}) {
    const ProcessResult r = install.prompt(
        {"api:keys:create", "--name", "piped", "--user", "u", "--format", format}, closed);
    BOOST_TEST(r.exit_code == 1, describe(r));
    BOOST_TEST(contains(r.err,
                        "could not be written to standard output, so its secret is lost;"
                        " it was revoked"),
               describe(r));
  }
  expectUndeliveredRevoked(install, 2);
}

BOOST_AUTO_TEST_CASE(a_closed_pipe_on_stdout_revokes_the_key_a_rotation_issued) {
  Installation install;
  const Created old_key = create(install);
  ProcessOptions closed;
  closed.stdout_reader_closed = true;
  const ProcessResult r = install.prompt({"api:keys:rotate", old_key.id, "--force"}, closed);
  BOOST_TEST(r.exit_code == 1, describe(r));
  BOOST_TEST(contains(r.err,
                      "could not be written to standard output, so its secret is lost;"
                      " the rotation was undone"),
             describe(r));
  expectUndeliveredRevoked(install, 2, old_key.id);
  const json::object old_info = parseJson(install.prompt(
      {"api:keys:info", old_key.id, "--format", "json", "--no-stats", "--no-ratelimit"}));
  BOOST_TEST(old_info.at("status").as_string() == "active");  // restored
}

// Text that reaches a terminal from elsewhere than the command line (the login name under
// sudo, rows an older or foreign database holds) is shown printable, never raw.
BOOST_AUTO_TEST_CASE(stored_and_environment_text_reaches_the_terminal_printable) {
  Installation install;
  ProcessOptions sudo;
  sudo.env["SUDO_USER"] = "eve\x1b[2J";
  const ProcessResult created =
      install.prompt({"api:keys:create", "--name", "n", "--user", "u", "--format", "json"}, sudo);
  BOOST_REQUIRE_MESSAGE(created.exit_code == 0, describe(created));
  const std::string id(parseJson(created).at("key").as_object().at("id").as_string());
  // As other software could write it (SQLite spells chr() char()).
  const std::string chr = testing_support::onPostgres() ? "chr" : "char";
  testing_support::execSql(install.store.location(), "UPDATE api_keys SET name = 'a' || " + chr +
                                                         "(27) || '[31mred' || " + chr +
                                                         "(10) || 'b' WHERE id = '" + id + "'");
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"api:keys:list"}, {"api:keys:info", id, "--no-stats"}}) {
    const ProcessResult r = install.prompt(args);
    BOOST_TEST(r.exit_code == 0, describe(r));
    BOOST_TEST(r.out.find('\x1b') == std::string::npos, describe(r));
    BOOST_TEST(contains(r.out, "a?[31mred?b"), describe(r));
  }
  const ProcessResult info = install.prompt({"api:keys:info", id, "--no-stats"});
  BOOST_TEST(contains(info.out, "cli:eve?[2J (via sudo)"), describe(info));
}

BOOST_AUTO_TEST_CASE(create_json_follows_the_documented_schema) {
  Installation install;
  const ProcessResult r = install.prompt(
      {"api:keys:create", "--name", "ci", "--user", "bob", "--format", "json", "--expires", "1y"});
  BOOST_TEST(r.exit_code == 0, describe(r));
  const json::object o = parseJson(r);
  BOOST_TEST(std::string(o.at("secret").as_string()).rfind("sk_", 0) == 0u);
  const json::object& key = o.at("key").as_object();
  for (const char* field :
       {"id", "name", "user_id", "key_prefix", "status", "scopes", "rate_limit", "created_at",
        "expires_at", "last_used_at", "revoked_at", "revoked_reason", "metadata"}) {
    BOOST_TEST(key.contains(field), field);
  }
  BOOST_TEST(key.at("status").as_string() == "active");
  BOOST_TEST(key.at("rate_limit").as_int64() == 1000);
  BOOST_TEST(key.at("last_used_at").is_null());
  const std::string created_at(key.at("created_at").as_string());
  BOOST_TEST((created_at.size() == 24 && created_at[10] == 'T' && created_at.back() == 'Z'),
             created_at);
}

BOOST_AUTO_TEST_CASE(bad_input_exits_2_with_a_clear_message_and_writes_nothing) {
  Installation install;
  struct Case {
    std::vector<std::string> extra;
    const char* expected;
  };
  const std::vector<Case> cases{
      {{"--limit", "0"}, "rate limit 0 is out of range"},
      {{"--limit", "12abc"}, "invalid value \"12abc\" for --limit: expected a whole number"},
      {{"--limit", "2.5"}, "invalid value \"2.5\" for --limit: expected a whole number"},
      {{"--expires", "30x"}, "invalid --expires \"30x\": use <number><h|d|w|m|y>"},
      {{"--expires", "0d"}, "invalid --expires \"0d\": must be at least 1"},
      {{"--expires", "99999999999y"}, "too long: at most 100 years"},
      {{"--scopes", "Read"}, "invalid scope \"Read\""},
      {{"--format", "xml"}, "invalid --format \"xml\": use table or json"},
  };
  for (const Case& c : cases) {
    std::vector<std::string> args{"api:keys:create", "--name", "n", "--user", "u"};
    args.insert(args.end(), c.extra.begin(), c.extra.end());
    const ProcessResult r = install.prompt(args);
    BOOST_TEST(r.exit_code == 2, describe(r));
    BOOST_TEST(contains(r.err, c.expected), "expected: " << c.expected << "\n" << describe(r));
    BOOST_TEST(r.out.empty(), describe(r));
  }
  const ProcessResult name = install.prompt({"api:keys:create", "--name", "", "--user", "u"});
  BOOST_TEST(name.exit_code == 2, describe(name));
  BOOST_TEST(contains(name.err, "name must not be empty"), describe(name));
  const ProcessResult list = install.prompt({"api:keys:list"});
  BOOST_TEST(list.out == "No API keys.\n", describe(list));
}

BOOST_AUTO_TEST_CASE(list_shows_an_aligned_table_a_total_and_filters) {
  Installation install;
  BOOST_TEST(install.prompt({"api:keys:list"}).out == "No API keys.\n");
  BOOST_TEST(install.prompt({"api:keys:list", "--user", "nobody", "--active"}).out ==
             "No active API keys for user \"nobody\".\n");
  const Created a = create(install);
  create(install, {}, "other");
  BOOST_TEST(install.prompt({"api:keys:revoke", a.id, "--force"}).exit_code == 0);

  const ProcessResult table = install.prompt({"api:keys:list"});
  BOOST_TEST(table.exit_code == 0, describe(table));
  BOOST_TEST(table.out.rfind("ID  ", 0) == 0u, table.out);
  for (const char* column :
       {"NAME", "USER", "STATUS", "LIMIT/1h", "LAST USED", "CREATED", "PREFIX"}) {
    BOOST_TEST(contains(table.out, column), column);
  }
  BOOST_TEST(contains(table.out, "2 keys (1 active, 1 revoked, 0 expired)"), table.out);
  const auto status_column = table.out.find("STATUS");
  const auto second_line = table.out.find('\n') + 1;
  BOOST_TEST(table.out.substr(second_line + status_column, 7).find_first_of("ar") == 0u,
             table.out);  // statuses line up under their header

  const json::object active =
      parseJson(install.prompt({"api:keys:list", "--active", "-f", "json"}));
  BOOST_TEST(active.at("total").as_int64() == 1);
  BOOST_TEST(active.at("keys").as_array()[0].as_object().at("user_id").as_string() == "other");
  const json::object mine =
      parseJson(install.prompt({"api:keys:list", "--user", "user@example.com", "-f", "json"}));
  BOOST_TEST(mine.at("total").as_int64() == 1);
  BOOST_TEST(mine.at("keys").as_array()[0].as_object().at("status").as_string() == "revoked");
}

BOOST_AUTO_TEST_CASE(info_shows_every_field_and_the_audit_history) {
  Installation install;
  const Created a = create(install, {"--scopes", "read"});
  BOOST_TEST(install.prompt({"api:keys:revoke", a.id, "--reason", "Security breach", "--force"})
                 .exit_code == 0);
  const ProcessResult text = install.prompt({"api:keys:info", a.id});
  BOOST_TEST(text.exit_code == 0, describe(text));
  for (const char* line : {"ID          ", "Status      revoked", "Reason      Security breach",
                           "Audit history:", "create", "revoke", "cli:"}) {
    BOOST_TEST(contains(text.out, line), line << "\n" << text.out);
  }
  const json::object info = parseJson(install.prompt({"api:keys:info", a.id, "--format", "json"}));
  BOOST_TEST(info.at("id").as_string() == a.id);
  BOOST_TEST(info.at("revoked_reason").as_string() == "Security breach");
  const json::array& audit = info.at("audit").as_array();
  BOOST_REQUIRE(audit.size() == 2u);
  BOOST_TEST(audit[0].as_object().at("action").as_string() == "create");
  BOOST_TEST(audit[1].as_object().at("action").as_string() == "revoke");
  BOOST_TEST(audit[1].as_object().at("reason").as_string() == "Security breach");
  BOOST_TEST(info.at("rate_limit_status").as_object().at("used").as_int64() == 0);
  const json::object bare =
      parseJson(install.prompt({"api:keys:info", a.id, "--no-ratelimit", "--format", "json"}));
  BOOST_TEST(!bare.contains("rate_limit_status"));
  BOOST_TEST(bare.contains("usage_24h"));
  BOOST_TEST(info.at("usage_24h").as_object().at("total_requests").as_int64() == 0);
  const json::object no_stats =
      parseJson(install.prompt({"api:keys:info", a.id, "--no-stats", "--format", "json"}));
  BOOST_TEST(!no_stats.contains("usage_24h"));
  BOOST_TEST(no_stats.contains("rate_limit_status"));

  const ProcessResult missing = install.prompt({"api:keys:info", "key_nope"});
  BOOST_TEST(missing.exit_code == 1, describe(missing));
  BOOST_TEST(contains(missing.err, "no key with id \"key_nope\""), describe(missing));
}

BOOST_AUTO_TEST_CASE(revoke_needs_a_terminal_or_force_and_never_revokes_twice) {
  Installation install;
  const Created a = create(install);
  const ProcessResult refused = install.prompt({"api:keys:revoke", a.id});  // stdin: no tty
  BOOST_TEST(refused.exit_code == 1, describe(refused));
  BOOST_TEST(contains(refused.err, "without confirmation"), describe(refused));
  BOOST_TEST(contains(refused.err, "pass --force"), describe(refused));
  BOOST_TEST(install.prompt({"api:keys:verify", a.secret}).exit_code == 0);  // still valid

  const ProcessResult by_key = install.prompt({"api:keys:revoke", a.secret, "--force"});
  BOOST_TEST(by_key.exit_code == 0, describe(by_key));
  BOOST_TEST(contains(by_key.out, "Revoked key " + a.id), describe(by_key));
  const ProcessResult twice = install.prompt({"api:keys:revoke", a.id, "--force"});
  BOOST_TEST(twice.exit_code == 1, describe(twice));
  BOOST_TEST(contains(twice.err, "was already revoked at 20"), describe(twice));
  const ProcessResult unknown = install.prompt({"api:keys:revoke", "key_nope", "--force"});
  BOOST_TEST(unknown.exit_code == 1, describe(unknown));
}

BOOST_AUTO_TEST_CASE(revoke_asks_on_a_terminal_and_acts_only_on_yes) {
  Installation install;
  const Created a = create(install);
  // script(1) runs the command on a pseudo-terminal fed from our stdin.
  const auto on_terminal = [&](const std::string& answer) {
    ProcessOptions o;
    o.stdin_data = answer;
    return testing_support::run(
        {"/usr/bin/script", "-q", "-e", "-c",
         std::string(PROMPT_BIN) + " api:keys:revoke " + a.id + " --reason typed", "/dev/null"},
        install.options(o));
  };
  const ProcessResult no = on_terminal("n\n");
  BOOST_TEST(no.exit_code == 1, describe(no));
  BOOST_TEST(contains(no.out, "Revoke \"" + a.id + "\"? It stops working at once. [y/N]"),
             describe(no));
  BOOST_TEST(contains(no.out, "Not revoked."), describe(no));
  BOOST_TEST(install.prompt({"api:keys:verify", a.secret}).exit_code == 0);
  const ProcessResult yes = on_terminal("y\n");
  BOOST_TEST(yes.exit_code == 0, describe(yes));
  BOOST_TEST(contains(yes.out, "Revoked key " + a.id), describe(yes));
  BOOST_TEST(install.prompt({"api:keys:verify", a.secret}).exit_code == 1);
}

BOOST_AUTO_TEST_CASE(rotate_issues_a_replacement_and_keeps_the_old_key_for_the_grace) {
  Installation install;
  const Created a = create(install, {"--limit", "77"});
  const ProcessResult refused = install.prompt({"api:keys:rotate", a.id});
  BOOST_TEST(refused.exit_code == 1, describe(refused));
  const ProcessResult r =
      install.prompt({"api:keys:rotate", a.id, "--grace", "24h", "--force", "--format", "json"});
  BOOST_TEST(r.exit_code == 0, describe(r));
  const json::object o = parseJson(r);
  const std::string fresh(o.at("secret").as_string());
  BOOST_TEST(o.at("replaced_key_id").as_string() == a.id);
  BOOST_TEST(o.at("key").as_object().at("rate_limit").as_int64() == 77);
  BOOST_TEST(install.prompt({"api:keys:verify", a.secret}).exit_code == 0);  // within grace
  BOOST_TEST(install.prompt({"api:keys:verify", fresh}).exit_code == 0);

  const Created b = create(install);
  const ProcessResult now = install.prompt({"api:keys:rotate", b.id, "--force"});
  BOOST_TEST(now.exit_code == 0, describe(now));
  BOOST_TEST(contains(now.out, "is revoked (reason: rotated)"), now.out);
  const ProcessResult old = install.prompt({"api:keys:verify", b.secret});
  BOOST_TEST(old.exit_code == 1, describe(old));
  BOOST_TEST(contains(old.out, "invalid: revoked"), describe(old));
}

BOOST_AUTO_TEST_CASE(verify_reads_stdin_and_explains_every_verdict) {
  Installation install;
  const Created a = create(install, {"--scopes", "read,write"});
  ProcessOptions stdin_key;
  stdin_key.stdin_data = a.secret + "\n";
  const ProcessResult valid = install.prompt({"api:keys:verify"}, stdin_key);
  BOOST_TEST(valid.exit_code == 0, describe(valid));
  BOOST_TEST(valid.out.rfind("valid\n", 0) == 0u, valid.out);
  BOOST_TEST(contains(valid.out, a.id), valid.out);
  BOOST_TEST(contains(valid.out, "read, write"), valid.out);
  BOOST_TEST(!contains(valid.out, a.secret), valid.out);

  const json::object j = parseJson(install.prompt({"api:keys:verify", "-f", "json"}, stdin_key));
  BOOST_TEST(j.at("valid").as_bool());
  BOOST_TEST(j.at("reason").is_null());
  BOOST_TEST(j.at("key").as_object().at("id").as_string() == a.id);

  std::string typo = a.secret;
  typo[10] = typo[10] == 'A' ? 'B' : 'A';
  const ProcessResult malformed = install.prompt({"api:keys:verify", typo});
  BOOST_TEST(malformed.exit_code == 1, describe(malformed));
  BOOST_TEST(contains(malformed.out, "invalid: malformed"), describe(malformed));
  const ProcessResult empty = install.prompt({"api:keys:verify"});  // no stdin at all
  BOOST_TEST(empty.exit_code == 2, describe(empty));
  BOOST_TEST(contains(empty.err, "no key given"), describe(empty));
}

// The host reads stdin line by line with a bound (ABI 1.1 read_line/read_secret): a
// megabyte without a newline is refused after the module's 4096 bytes, not read whole.
BOOST_AUTO_TEST_CASE(verify_refuses_a_line_on_stdin_longer_than_4096_bytes_promptly) {
  Installation install;
  ProcessOptions huge;
  huge.stdin_data = std::string(1 << 20, 'k');
  huge.timeout = std::chrono::seconds(10);
  const auto started = std::chrono::steady_clock::now();
  const ProcessResult r = install.prompt({"api:keys:verify"}, huge);
  const auto took = std::chrono::steady_clock::now() - started;
  BOOST_TEST(r.exit_code == 2, describe(r));
  BOOST_TEST(r.out.empty(), describe(r));
  BOOST_TEST(contains(r.err, "error: the key on standard input is longer than 4096 bytes"),
             describe(r));
  BOOST_TEST(took < std::chrono::seconds(5));
  // 4096 bytes and a newline fit (the module then judges the key), as does a "\r\n" ending.
  for (const std::string ending : {"\n", "\r\n", ""}) {
    ProcessOptions fits;
    fits.stdin_data = std::string(4096, 'k') + ending;
    const ProcessResult ok = install.prompt({"api:keys:verify"}, fits);
    BOOST_TEST(ok.exit_code == 1, describe(ok));
    BOOST_TEST(contains(ok.out, "invalid: malformed"), describe(ok));
  }
  ProcessOptions one_more;
  one_more.stdin_data = std::string(4097, 'k') + "\n";
  BOOST_TEST(install.prompt({"api:keys:verify"}, one_more).exit_code == 2);
}

// read_secret (ABI 1.1): a key typed at the terminal is not echoed, and echo comes back.
BOOST_AUTO_TEST_CASE(verify_on_a_terminal_reads_the_key_without_echo_and_restores_it) {
  Installation install;
  const Created a = create(install);
  const TerminalRun r =
      runOnTerminal(install, {"api:keys:verify"},
                    "Paste the key and press Enter (it is not shown): ", true, a.secret + "\r");
  BOOST_TEST(r.exit_code == 0, r.shown);
  // The Enter, then the verdict (in green: a terminal without NO_COLOR).
  BOOST_TEST(contains(r.shown, "shown): \r\n\x1b[32mvalid\x1b[0m\r\n"), r.shown);
  BOOST_TEST(!contains(r.shown, a.secret), r.shown);
  BOOST_TEST(r.echo_after);
  // The end of input (Ctrl-D) instead of a key: refused, and echo still comes back. (A line
  // too long cannot be typed: the terminal itself keeps at most 4095 bytes of a line.)
  const TerminalRun none =
      runOnTerminal(install, {"api:keys:verify"},
                    "Paste the key and press Enter (it is not shown): ", true, "\x04");
  BOOST_TEST(none.exit_code == 2, none.shown);
  BOOST_TEST(contains(none.shown, "error: no key given"), none.shown);
  BOOST_TEST(none.echo_after);
}

BOOST_AUTO_TEST_CASE(two_processes_creating_keys_never_exceed_max_keys_per_user) {
  Installation install;
  const std::string loop =
      "ok=0; for i in 1 2 3 4 5 6 7 8; do \"$0\" --set api.maxKeysPerUser=5 api:keys:create "
      "--name n --user shared >/dev/null 2>&1 && ok=$((ok+1)); done; echo created=$ok >&2";
  ProcessOptions options = install.options();
  testing_support::Child first({"/bin/sh", "-c", loop, PROMPT_BIN}, options);
  testing_support::Child second({"/bin/sh", "-c", loop, PROMPT_BIN}, options);
  BOOST_TEST(first.wait(std::chrono::seconds(60)) == 0, first.err());
  BOOST_TEST(second.wait(std::chrono::seconds(60)) == 0, second.err());
  const auto created = [](const std::string& err) {
    const auto at = err.find("created=");
    return at == std::string::npos ? -1 : std::stoi(err.substr(at + 8));
  };
  BOOST_TEST(created(first.err()) + created(second.err()) == 5, first.err() << second.err());
  const json::object list =
      parseJson(install.prompt({"api:keys:list", "--user", "shared", "-f", "json"}));
  BOOST_TEST(list.at("total").as_int64() == 5);
}

BOOST_AUTO_TEST_CASE(a_running_host_sees_a_cli_revocation_on_its_next_validation) {
  Installation install({"sibling"});
  const Created a = create(install);
  ProcessOptions options = install.options();
  options.stdin_data = a.secret + "\n";
  testing_support::Child host({PROMPT_BIN, "sibling:validate-loop"}, options);
  BOOST_REQUIRE_MESSAGE(host.waitForStderr("ready", 1, std::chrono::seconds(20)), host.err());
  // Another process comes and goes first: were the host's connections not holding their
  // locks, it would take itself for the last one and delete the WAL the host reads.
  BOOST_REQUIRE(install.prompt({"api:keys:list"}).exit_code == 0);
  const ProcessResult revoke = install.prompt({"api:keys:revoke", a.id, "--force"});
  // The revoke has committed by now: no validation the host starts from here may pass.
  const long long committed_ns = std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count();
  BOOST_TEST(revoke.exit_code == 0, describe(revoke));
  BOOST_TEST(host.wait(std::chrono::seconds(60)) == 0, host.err());
  BOOST_TEST(contains(host.err(), "revoked=200"), host.err());
  BOOST_TEST(!contains(host.err(), "valid after revoked"), host.err());
  const auto at = host.err().find("last_valid_started_ns=");
  BOOST_REQUIRE_MESSAGE(at != std::string::npos, host.err());
  BOOST_TEST(std::stoll(host.err().substr(at + 22)) < committed_ns, host.err());
}

BOOST_AUTO_TEST_CASE(a_sibling_module_creates_validates_and_revokes_through_the_service) {
  Installation install({"sibling"});
  const ProcessResult r = install.prompt({"sibling:keys-roundtrip", "sib@example.com"});
  BOOST_TEST(r.exit_code == 0, describe(r));
  BOOST_TEST(contains(r.out, "first: valid"), r.out);
  BOOST_TEST(contains(r.out, "listed 1 key(s) of sib@example.com, first key_"), r.out);
  BOOST_TEST(contains(r.out, "user=sib@example.com scopes=read,write limit=42"), r.out);
  BOOST_TEST(contains(r.out, "after revoke: revoked"), r.out);
  BOOST_TEST(contains(r.out, "get: revoked reason=done with it"), r.out);
  BOOST_TEST(contains(r.out, "revoke again: conflict"), r.out);  // SP_ERROR_CONFLICT
  BOOST_TEST(contains(r.out, "garbage: malformed"), r.out);
  const json::object list = parseJson(install.prompt({"api:keys:list", "-f", "json"}));
  BOOST_TEST(list.at("total").as_int64() == 1);
}

BOOST_AUTO_TEST_CASE(secrets_never_leak_into_output_logs_or_the_database) {
  Installation install({"sibling"});
  ProcessOptions debug;  // the most the log says: trace
  debug.env["PROMPT_LOG_LEVEL"] = "trace";
  std::string everything_else;  // every byte printed, except the two create responses
  auto run = [&](std::vector<std::string> args, ProcessOptions o = {}) {
    o.env["PROMPT_LOG_LEVEL"] = "trace";
    ProcessResult r = install.prompt(std::move(args), o);
    everything_else += r.out + r.err;
    return r;
  };
  const ProcessResult created =
      install.prompt({"api:keys:create", "--name", "n", "--user", "u", "-f", "json"}, debug);
  BOOST_REQUIRE(created.exit_code == 0);
  BOOST_TEST(contains(created.err, "api key created"), created.err);  // debug logging is on
  const json::object o = parseJson(created);
  const std::string secret(o.at("secret").as_string());
  const std::string id(o.at("key").as_object().at("id").as_string());
  BOOST_TEST(!contains(created.err, secret), created.err);

  ProcessOptions via_stdin;
  via_stdin.stdin_data = secret + "\n";
  // A sibling module on the request path: validation, limiter decisions, the usage
  // writer's batches and the statements behind them, all traced.
  const ProcessResult authorized = run({"sibling:authorize"}, via_stdin);
  BOOST_TEST(authorized.exit_code == 0, describe(authorized));
  run({"sibling:record", id, "50"});
  for (const char* record :
       {"key cache miss", "rate limit check", "usage batch written", "sql statement run"}) {
    BOOST_TEST(contains(everything_else, record), "no trace record \"" << record << "\"");
  }
  run({"api:keys:verify"}, via_stdin);
  run({"api:keys:verify", "-f", "json"}, via_stdin);
  run({"api:keys:list"});
  run({"api:keys:list", "-f", "json"});
  run({"api:keys:info", id});
  run({"api:keys:info", id, "-f", "json"});
  const ProcessResult rotated =
      install.prompt({"api:keys:rotate", id, "--grace", "1h", "--force", "-f", "json"}, debug);
  everything_else += rotated.err;
  const std::string second(parseJson(rotated).at("secret").as_string());
  run({"api:keys:revoke", secret, "--force", "--reason", "test"});
  run({"api:keys:revoke", second, "--force"});
  run({"api:keys:verify", secret});
  run({"api:keys:info", id, "-f", "json"});
  run({"health"});
  // Secrets pasted where an id belongs, or mangled, or under another prefix: never echoed.
  for (const std::string& s : {secret, second}) {
    run({"api:keys:info", s});
    run({"api:keys:rotate", s, "--force"});
    run({"api:keys:revoke", " " + s, "--force"});
    run({"api:ratelimit:status", s});
    run({"api:ratelimit:reset", s, "--force"});
    run({"api:ratelimit:update", s, "5"});
    run({"--set", "api.keyPrefix=pk_", "api:keys:revoke", s, "--force"});
    run({"api:keys:revoke", s});  // no terminal: refused, with the confirmation message
  }

  BOOST_TEST(!everything_else.empty());
  for (const std::string& s : {secret, second}) {
    BOOST_TEST(!contains(everything_else, s), "secret leaked into output or logs");
    BOOST_TEST(!contains(everything_else, s.substr(8)), "secret body leaked");
    for (const char* suffix : {"", "-wal", "-shm"}) {
      const std::string file = install.database() + suffix;
      if (std::filesystem::exists(file)) {
        BOOST_TEST(!contains(readAll(file), s.substr(8)), "secret in " << file);
      }
    }
    if (testing_support::onPostgres()) {  // every row of every table, as text
      for (const auto& row : testing_support::querySql(
               install.store.location(),
               "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")) {
        BOOST_TEST(testing_support::queryValue(install.store.location(),
                                               "SELECT count(*) FROM " + row.front() +
                                                   " t WHERE"
                                                   " t::text LIKE '%" +
                                                   s.substr(8) + "%'") == "0",
                   "secret in " << row.front());
      }
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
