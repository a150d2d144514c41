// The terminal's width as the host tells a module (sp_command_io.terminal_columns, ABI 1.2),
// and the api commands fitted to it: the real prompt, on pipes and on pseudo-terminals.
#include <pty.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <chrono>
#include <sstream>
#include <string>
#include <vector>

#include "installation.hpp"
#include "process.hpp"

namespace {

using testing_support::contains;
using testing_support::describe;
using testing_support::Installation;
using testing_support::ProcessOptions;
using testing_support::ProcessResult;

const std::string kLongName = "Production API key for the billing service in eu-west-1 (primary)!!";

struct PtyRun {
  int exit_code = -1;
  std::string shown;  // what the terminal showed, "\r\n" as the terminal sends it
};

// Runs `prompt args...` with stdin, stdout and stderr on a new pseudo-terminal `columns` wide,
// with the installation's environment and `env` on top.
PtyRun runOnPty(const Installation& install, const std::vector<std::string>& args,
                unsigned short columns, const ProcessOptions& env = {}) {
  std::vector<std::string> argv{PROMPT_BIN};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> arg_ptrs;
  for (auto& a : argv) {
    arg_ptrs.push_back(a.data());
  }
  arg_ptrs.push_back(nullptr);
  const ProcessOptions options = install.options(env);
  winsize size{};
  size.ws_row = 50;
  size.ws_col = columns;
  int master = -1;
  const pid_t pid = ::forkpty(&master, nullptr, nullptr, &size);
  BOOST_REQUIRE(pid >= 0);
  if (pid == 0) {
    for (const auto& k : options.unset_env) {
      ::unsetenv(k.c_str());
    }
    for (const auto& [k, v] : options.env) {
      ::setenv(k.c_str(), v.c_str(), 1);
    }
    ::signal(SIGPIPE, SIG_DFL);
    ::execv(arg_ptrs[0], arg_ptrs.data());
    ::_exit(127);
  }
  PtyRun run;
  char buffer[4096];
  for (;;) {
    const ssize_t n = ::read(master, buffer, sizeof(buffer));
    if (n <= 0) {
      break;  // EIO: the child closed its side
    }
    run.shown.append(buffer, static_cast<size_t>(n));
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(master);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

// The widest line shown, in characters, with colour codes and carriage returns left out:
// every character the tests below make prompt print (ASCII, the ellipsis, block elements)
// takes one column.
size_t widestLine(const std::string& shown) {
  std::istringstream lines(shown);
  size_t widest = 0;
  for (std::string line; std::getline(lines, line);) {
    size_t width = 0;
    for (size_t i = 0; i < line.size(); ++i) {
      if (line[i] == '\x1b') {
        i = line.find('m', i);
        if (i == std::string::npos) {
          break;
        }
      } else if (line[i] != '\r' && (static_cast<unsigned char>(line[i]) & 0xC0u) != 0x80u) {
        ++width;  // an ASCII character or the first byte of a UTF-8 sequence
      }
    }
    widest = std::max(widest, width);
  }
  return widest;
}

std::string createKey(const Installation& install, const std::string& name,
                      const std::string& user) {
  const ProcessResult r = install.prompt(
      {"api:keys:create", "--name", name, "--user", user, "--limit", "10", "--format", "json"});
  BOOST_REQUIRE_MESSAGE(r.exit_code == 0, describe(r));
  const size_t at = r.out.find("\"id\":\"key_");
  BOOST_REQUIRE(at != std::string::npos);
  return r.out.substr(at + 6, 20);
}

}  // namespace

BOOST_AUTO_TEST_SUITE(terminal_e2e)

BOOST_AUTO_TEST_CASE(the_host_tells_the_width_from_columns_else_from_the_terminal) {
  Installation install({"sibling"});
  const auto terminalInfo = [&](const char* columns) {
    ProcessOptions env;
    if (columns != nullptr) {
      env.env["COLUMNS"] = columns;
    }
    const ProcessResult r = install.prompt({"sibling:terminal"}, env);
    BOOST_TEST(r.exit_code == 0, describe(r));
    return r.out;
  };
  // On a pipe: COLUMNS when it is a whole number 1..65535, else unknown.
  BOOST_TEST(terminalInfo("123") == "columns=123 stdout_terminal=0\n");
  BOOST_TEST(terminalInfo("65535") == "columns=65535 stdout_terminal=0\n");
  for (const char* junk : {"", "0", "-5", "+80", "80 ", "8O", "65536"}) {
    BOOST_TEST(terminalInfo(junk) == "columns=0 stdout_terminal=0\n", '"' << junk << '"');
  }
  BOOST_TEST(terminalInfo(nullptr) == "columns=0 stdout_terminal=0\n");
  // On a terminal: its own width, unless COLUMNS says otherwise.
  const PtyRun own = runOnPty(install, {"sibling:terminal"}, 97);
  BOOST_TEST(own.shown == "columns=97 stdout_terminal=1\r\n");
  ProcessOptions columns;
  columns.env["COLUMNS"] = "80";
  const PtyRun told = runOnPty(install, {"sibling:terminal"}, 97, columns);
  BOOST_TEST(told.shown == "columns=80 stdout_terminal=1\r\n");
}

BOOST_AUTO_TEST_CASE(on_an_80_column_terminal_list_info_status_and_usage_do_not_wrap) {
  Installation install({"sibling"});
  const std::string id = createKey(install, kLongName, "billing-team@payments.example.com");
  createKey(install, "ci", "ann");
  BOOST_REQUIRE(install.prompt({"sibling:hammer", id, "1", "9"}).exit_code == 0);  // 90%: a warning
  BOOST_REQUIRE(install.prompt({"sibling:record", id, "20"}).exit_code == 0);
  for (const std::vector<std::string>& args :
       std::vector<std::vector<std::string>>{{"api:keys:list"},
                                             {"api:keys:info", id},
                                             {"api:ratelimit:status", id},
                                             {"api:usage"},
                                             {"api:usage", "--key", id}}) {
    const PtyRun r = runOnPty(install, args, 80);
    BOOST_TEST(r.exit_code == 0, r.shown);
    BOOST_TEST(widestLine(r.shown) <= 80u, args[0] << ":\n" << r.shown);
    // The statuses and the warning, coloured on a terminal without NO_COLOR; and --wide
    // prints the name whole (list, info and status show it).
    if (args[0] != "api:usage") {
      BOOST_TEST(contains(r.shown, "\x1b[3"), args[0] << "\n" << r.shown);
      std::vector<std::string> wide = args;
      wide.push_back("--wide");
      BOOST_TEST(contains(runOnPty(install, wide, 80).shown, kLongName), args[0]);
    }
  }
  // The same through a pipe, whatever COLUMNS says: whole and plain.
  ProcessOptions columns;
  columns.env["COLUMNS"] = "80";
  const ProcessResult piped = install.prompt({"api:keys:list"}, columns);
  BOOST_TEST(contains(piped.out, kLongName), piped.out);
  BOOST_TEST(!contains(piped.out, "\x1b["), piped.out);
  // NO_COLOR on a terminal: fitted, without a single escape.
  ProcessOptions no_color;
  no_color.env["NO_COLOR"] = "1";
  const PtyRun plain = runOnPty(install, {"api:ratelimit:status", id}, 80, no_color);
  BOOST_TEST(contains(plain.shown, "warning: 90% of the limit is used"), plain.shown);
  BOOST_TEST(!contains(plain.shown, "\x1b"), plain.shown);
}

BOOST_AUTO_TEST_SUITE_END()
