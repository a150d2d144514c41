// End-to-end tests of the `prompt` executable with the real libapi_module.so and the
// test-only modules, each run as a real child process.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <boost/test/unit_test.hpp>
#include <cerrno>
#include <ctime>
#include <filesystem>
#include <regex>
#include <thread>

#include "installation.hpp"
#include "process.hpp"
#include "systemprompt/api_services.h"

namespace {

namespace fs = std::filesystem;
using testing_support::contains;
using testing_support::describe;
using testing_support::Installation;
using testing_support::ProcessOptions;
using testing_support::ProcessResult;

// Runs the installation's prompt with its stdout on /dev/full, where every write fails.
ProcessResult promptIntoFullDisk(const Installation& install, std::vector<std::string> args) {
  args.insert(args.begin(), {"/bin/sh", "-c", "exec \"$0\" \"$@\" >/dev/full", PROMPT_BIN});
  return testing_support::run(args, install.options());
}

}  // namespace

BOOST_AUTO_TEST_SUITE(prompt_cli)

BOOST_AUTO_TEST_CASE(help_lists_every_api_command_from_the_manifest) {
  Installation install;
  for (const auto& args : {std::vector<std::string>{"--help"}, {"help"}}) {
    const ProcessResult r = install.prompt(args);
    BOOST_TEST(r.exit_code == 0, describe(r));
    for (const char* command :
         {"api:keys:create", "api:keys:list", "api:keys:info", "api:keys:revoke", "api:keys:rotate",
          "api:keys:verify", "api:ratelimit:status", "api:ratelimit:reset", "api:ratelimit:update",
          "api:usage"}) {
      BOOST_TEST(contains(r.out, command), command);
    }
  }
}

BOOST_AUTO_TEST_CASE(command_help_comes_from_the_manifest_both_ways) {
  Installation install;
  const ProcessResult a = install.prompt({"api:keys:create", "--help"});
  const ProcessResult b = install.prompt({"help", "api:keys:create"});
  BOOST_TEST(a.exit_code == 0, describe(a));
  BOOST_TEST(b.exit_code == 0, describe(b));
  BOOST_TEST(a.out == b.out);
  BOOST_TEST(contains(a.out, "-n, --name <string>"), a.out);
  BOOST_TEST(contains(a.out, "-e, --expires <string>"), a.out);
}

BOOST_AUTO_TEST_CASE(host_commands_have_help_both_ways) {
  Installation install;
  for (const std::string command : {"health", "serve", "help"}) {
    const ProcessResult a = install.prompt({command, "--help"});
    const ProcessResult b = install.prompt({"help", command});
    const ProcessResult c = install.prompt({command, "-h"});
    BOOST_TEST(a.exit_code == 0, command << ": " << describe(a));
    BOOST_TEST(b.exit_code == 0, command << ": " << describe(b));
    BOOST_TEST(contains(a.out, "Usage: prompt " + command), command << ": " << describe(a));
    BOOST_TEST(a.out == b.out, command);
    BOOST_TEST(a.out == c.out, command);
  }
  BOOST_TEST(contains(install.prompt({"help", "serve"}).out, "SIGTERM"));
  const ProcessResult extra = install.prompt({"serve", "now"});
  BOOST_TEST(extra.exit_code == 2, describe(extra));
  BOOST_TEST(contains(extra.err, "serve takes no arguments, got \"now\""), describe(extra));
}

BOOST_AUTO_TEST_CASE(an_unknown_command_suggests_and_exits_2) {
  Installation install;
  const ProcessResult r = install.prompt({"api:keys:craete"});
  BOOST_TEST(r.exit_code == 2, describe(r));
  BOOST_TEST(contains(r.err, "unknown command \"api:keys:craete\""), r.err);
  BOOST_TEST(contains(r.err, "prompt api:keys:create"), r.err);
}

BOOST_AUTO_TEST_CASE(a_missing_required_option_exits_2_naming_it) {
  Installation install;
  const ProcessResult r = install.prompt({"api:keys:create", "--name", "x"});
  BOOST_TEST(r.exit_code == 2, describe(r));
  BOOST_TEST(contains(r.err, "missing required option --user"), r.err);
  const ProcessResult bad = install.prompt({"api:ratelimit:update", "k", "12abc"});
  BOOST_TEST(bad.exit_code == 2, describe(bad));
  BOOST_TEST(contains(bad.err, "\"12abc\""), bad.err);
}

BOOST_AUTO_TEST_CASE(output_that_cannot_be_written_is_an_error_exit) {
  Installation install({"sibling"});
  for (const auto& args : std::vector<std::vector<std::string>>{
           {"--help"}, {"--version"}, {"help", "api:keys:list"}, {"health"}, {"api:keys:list"}}) {
    const ProcessResult r = promptIntoFullDisk(install, args);
    BOOST_TEST(r.exit_code == 1, args.front() << ": " << describe(r));
    BOOST_TEST(contains(r.err, "error: writing standard output: No space left on device"),
               args.front() << ": " << describe(r));
  }
  // The module is told too, by the io's write, on the write that fails and every one after.
  const ProcessResult much = promptIntoFullDisk(install, {"sibling:write-much"});
  BOOST_TEST(much.exit_code == 1, describe(much));
  BOOST_TEST(contains(much.err, "big=failed small=failed"), describe(much));
  BOOST_TEST(contains(much.err, "error: writing standard output: No space left on device"),
             describe(much));
}

BOOST_AUTO_TEST_CASE(numbers_are_echoed_as_typed_and_each_source_is_named) {
  Installation install;
  ProcessResult r = install.prompt({"api:keys:create", "-n", "x", "-u", "u", "--limit", "1e3"});
  BOOST_TEST(r.exit_code == 2, describe(r));
  BOOST_TEST(contains(r.err, "error: invalid value \"1e3\" for --limit: expected a whole number"),
             describe(r));
  r = install.prompt({"api:usage", "--top", "1E20"});
  BOOST_TEST(r.exit_code == 2, describe(r));
  BOOST_TEST(contains(r.err, "invalid value \"1E20\" for --top: expected a whole number"),
             describe(r));
  // A --set or PROMPT_API_* value of the wrong type is the user's mistake: exit 2.
  r = install.prompt({"--set", "api.cleanupInterval=1e3", "health"});
  BOOST_TEST(r.exit_code == 2, describe(r));
  BOOST_TEST(contains(r.err, "--set api.cleanupInterval=1e3: \"1e3\" is not a whole number"),
             describe(r));
  ProcessOptions env;
  env.env["PROMPT_API_DEFAULT_RATE_LIMIT"] = "5e2";
  r = install.prompt({"health"}, env);
  BOOST_TEST(r.exit_code == 2, describe(r));
  BOOST_TEST(contains(r.err, "PROMPT_API_DEFAULT_RATE_LIMIT: \"5e2\" is not a whole number"),
             describe(r));
  ProcessOptions level;
  level.env["PROMPT_LOG_LEVEL"] = "loud";
  r = install.prompt({"--help"}, level);
  BOOST_TEST(r.exit_code == 2, describe(r));
  BOOST_TEST(contains(r.err, "invalid PROMPT_LOG_LEVEL \"loud\""), describe(r));
  r = install.prompt({"--log-level", "loud", "--help"});
  BOOST_TEST(contains(r.err, "invalid --log-level \"loud\""), describe(r));
}

BOOST_AUTO_TEST_CASE(invalid_utf8_in_an_argument_is_a_usage_error_naming_it) {
  Installation install;
  ProcessResult r = install.prompt({"api:keys:create", "-n", "\xff", "-u", "a"});
  BOOST_TEST(r.exit_code == 2, describe(r));
  BOOST_TEST(contains(r.err, "error: --name is not valid UTF-8"), describe(r));
  r = install.prompt({"api:keys:info", "key_\xc0\xaf"});
  BOOST_TEST(r.exit_code == 2, describe(r));
  BOOST_TEST(contains(r.err, "error: <key_id> is not valid UTF-8"), describe(r));
  r = install.prompt({"--set", "api.keyPrefix=\xff", "api:keys:list"});
  BOOST_TEST(r.exit_code == 2, describe(r));
  BOOST_TEST(contains(r.err, "error: --set is not valid UTF-8"), describe(r));
  BOOST_TEST(install.prompt({"api:keys:list"}).out == "No API keys.\n");
}

BOOST_AUTO_TEST_CASE(health_migrates_a_private_store) {
  Installation install;
  const ProcessResult r = install.prompt({"health"});
  BOOST_TEST(r.exit_code == 0, describe(r));
  BOOST_TEST(contains(r.out, "api"), r.out);
  BOOST_TEST(contains(r.out, "healthy"), r.out);
  BOOST_TEST(std::regex_search(r.out, std::regex("schema version ([0-9]+) of \\1\\b")), r.out);
  struct stat st {};
  if (testing_support::onPostgres()) {
    BOOST_TEST(contains(r.out, "postgresql://"), r.out);
    return;
  }
  BOOST_REQUIRE(::stat((install.state + "/api/api.sqlite3").c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0600u);
  BOOST_REQUIRE(::stat((install.state + "/api").c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0700u);
}

// The SQLite file's place (on PostgreSQL the URL names the database).
BOOST_AUTO_TEST_CASE(database_location_follows_flag_and_environment,
                     *boost::unit_test::precondition(testing_support::sqliteOnly)) {
  Installation install;
  const std::string by_flag = install.root.path() + "/flag.db";
  ProcessResult r = install.prompt({"--set", "api.databasePath=" + by_flag, "health"});
  BOOST_TEST(r.exit_code == 0, describe(r));
  BOOST_TEST(fs::exists(by_flag));
  const std::string by_env = install.root.path() + "/env.db";
  ProcessOptions options;
  options.env["PROMPT_API_DATABASE_PATH"] = by_env;
  std::vector<std::string> args{PROMPT_BIN, "health"};
  options.env["PROMPT_MODULES_DIR"] = install.modules;
  options.env["PROMPT_STATE_DIR"] = install.state;
  r = testing_support::run(args, options);
  BOOST_TEST(r.exit_code == 0, describe(r));
  BOOST_TEST(fs::exists(by_env));
}

// Boost.Program_options spun forever on "%canonical_option%" in an argument, and before the
// command word it did so with SIGINT and SIGTERM blocked.
BOOST_AUTO_TEST_CASE(format_placeholders_in_arguments_fail_fast_naming_the_option) {
  Installation install;
  ProcessOptions quick;
  quick.timeout = std::chrono::seconds(5);
  struct Case {
    std::vector<std::string> args;
    std::string expected;
  };
  const std::vector<Case> cases{
      {{"api:keys:list", "--%canonical_option%"},
       "error: api:keys:list: unknown option \"--%canonical_option%\""},
      {{"--x%canonical_option%", "api:keys:list"},
       "error: unknown global option \"--x%canonical_option%\""},
      {{"api:keys:list", "-x%canonical_option%"}, "error: api:keys:list: unknown option \"-x\""},
      {{"api:keys:info", "--%canonical_option%=%option%"},
       "unknown option \"--%canonical_option%\""},
  };
  for (const Case& c : cases) {
    const ProcessResult r = install.prompt(c.args, quick);
    BOOST_TEST(!r.timed_out, describe(r));
    BOOST_TEST(r.exit_code == 2, describe(r));
    BOOST_TEST(r.out.empty(), describe(r));
    BOOST_TEST(contains(r.err, c.expected), describe(r));
  }
}

BOOST_AUTO_TEST_CASE(a_state_directory_others_could_change_is_refused_and_left_alone) {
  Installation install;
  fs::create_directory(install.state);
  ::chmod(install.state.c_str(), 0777);
  ProcessResult r = install.prompt({"api:keys:list"});
  BOOST_TEST(r.exit_code == 1, describe(r));
  BOOST_TEST(contains(r.err, "error: state directory '" + install.state +
                                 "' is refused: it is writable by its group and by others "
                                 "(mode 0777"),
             describe(r));
  BOOST_TEST(!fs::exists(install.state + "/api"));
  ::chmod(install.state.c_str(), 0700);
  fs::create_directory(install.state + "/api");
  BOOST_REQUIRE(::chown((install.state + "/api").c_str(), 65534, 65534) == 0);
  r = install.prompt({"api:keys:list"});
  BOOST_TEST(r.exit_code == 1, describe(r));
  BOOST_TEST(contains(r.err, "module 'api' state directory '" + install.state +
                                 "/api' is refused: it is owned by uid 65534"),
             describe(r));
  fs::remove(install.state + "/api");
  fs::create_directory_symlink(install.root.path(), install.state + "/api");
  r = install.prompt({"api:keys:list"});
  BOOST_TEST(r.exit_code == 1, describe(r));
  BOOST_TEST(contains(r.err, "/api' is refused: it is a symbolic link"), describe(r));
}

BOOST_AUTO_TEST_CASE(state_directories_are_made_0700_under_umask_000) {
  Installation install;
  const std::string root = install.root.path() + "/deep/er/state";
  const ProcessResult r = testing_support::run({"/bin/sh", "-c", "umask 000; exec \"$0\" \"$@\"",
                                                PROMPT_BIN, "--state-dir", root, "api:keys:list"},
                                               install.options());
  BOOST_TEST(r.exit_code == 0, describe(r));
  for (const std::string& dir :
       {install.root.path() + "/deep", install.root.path() + "/deep/er", root, root + "/api"}) {
    struct stat st {};
    BOOST_REQUIRE(::stat(dir.c_str(), &st) == 0);
    BOOST_TEST((st.st_mode & 07777) == 0700u, dir);
  }
}

BOOST_AUTO_TEST_CASE(a_bad_config_value_fails_the_load_naming_the_key) {
  Installation install;
  const ProcessResult r = install.prompt({"--set", "api.rateLimitWindowSize=5", "health"});
  BOOST_TEST(r.exit_code == 1, describe(r));
  BOOST_TEST(contains(r.err, "'rateLimitWindowSize' must be an integer 1000..2678400000 ms, got 5"),
             r.err);
  const ProcessResult unknown = install.prompt({"--set", "api.nope=1", "health"});
  BOOST_TEST(unknown.exit_code == 2, describe(unknown));
  BOOST_TEST(contains(unknown.err, "no config key \"nope\""), unknown.err);
}

BOOST_AUTO_TEST_CASE(a_module_built_for_another_abi_major_is_refused) {
  Installation install({"abi_mismatch"});
  const ProcessResult r = install.prompt({"future:hello"});
  BOOST_TEST(r.exit_code == 1, describe(r));
  BOOST_TEST(contains(r.err, "built for module ABI 2.3"), r.err);
  BOOST_TEST(contains(r.err, "this host speaks " + std::to_string(SP_ABI_VERSION_MAJOR) + "." +
                                 std::to_string(SP_ABI_VERSION_MINOR)),
             r.err);
}

BOOST_AUTO_TEST_CASE(a_library_without_module_init_is_refused) {
  Installation install({"no_entry"});
  const ProcessResult r = install.prompt({"noentry:hello"});
  BOOST_TEST(r.exit_code == 1, describe(r));
  BOOST_TEST(contains(r.err, "does not export module_init"), r.err);
}

BOOST_AUTO_TEST_CASE(a_library_with_an_unresolved_symbol_is_refused_at_load) {
  Installation install({"unresolved"});
  const ProcessResult r = install.prompt({"unresolved:call"});
  BOOST_TEST(r.exit_code == 1, describe(r));
  BOOST_TEST(contains(r.err, "cannot load library"), r.err);
  BOOST_TEST(contains(r.err, "sp_test_function_nobody_defines"), r.err);
}

BOOST_AUTO_TEST_CASE(tables_that_break_the_abi_rules_are_a_clear_load_error) {
  Installation install({"bad_tables"});
  const std::vector<std::pair<std::string, std::string>> cases{
      {"null_commands", "sp_module.commands is NULL but command_count is 2"},
      {"null_command_name", "command #1 has a NULL name"},
      {"null_handler", "command #1 has a NULL handler"},
      {"small_command_size", "sp_module.command_size is 8; it must be the module's sizeof"},
      {"duplicate_command", "the library handles command badtables:fill twice"},
      {"huge_command_count", "the library handles command badtables:fill twice"},
      {"null_services", "sp_module.services is NULL but service_count is 3"},
      {"null_service_name", "service #1 has a NULL name"},
      {"null_service_table", "service #1 has a NULL table"},
      {"huge_service_count", "sp_module.service_count is 1099511627776, more than"},
      {"no_log_field_size", "sp_module.log_field_size is 0"},
  };
  for (const auto& [defect, expected] : cases) {
    const ProcessResult r = install.prompt({"--set", "badtables.defect=" + defect, "badtables:ok"});
    BOOST_TEST(r.exit_code == 1, defect << ": " << describe(r));
    BOOST_TEST(contains(r.err, "module 'badtables' (" + install.modules +
                                   "/bad_tables/libbad_tables_module.so) is refused: " + expected),
               defect << ": " << describe(r));
  }
  BOOST_TEST(install.prompt({"badtables:ok"}).out == "ok\n");
}

BOOST_AUTO_TEST_CASE(message_buffers_without_a_nul_are_cut_at_their_capacity) {
  Installation install({"bad_tables"});
  const ProcessResult fill = install.prompt({"badtables:fill"});
  BOOST_TEST(fill.exit_code == 1, describe(fill));
  BOOST_TEST(fill.err == "error: " + std::string(SP_ERROR_MESSAGE_CAPACITY - 1, 'A') + "\n",
             describe(fill));
  const ProcessResult init =
      install.prompt({"--set", "badtables.defect=unterminated_init_error", "badtables:ok"});
  BOOST_TEST(init.exit_code == 1, describe(init));
  BOOST_TEST(contains(init.err, "initialisation failed: " +
                                    std::string(SP_ERROR_MESSAGE_CAPACITY - 1, 'I') + "\n"),
             describe(init));
  const ProcessResult health = install.prompt({"health"});
  BOOST_TEST(health.exit_code == 0, describe(health));
  BOOST_TEST(contains(health.out, "badtables    healthy   " +
                                      std::string(SP_ERROR_MESSAGE_CAPACITY - 1, 'H') + "\n"),
             describe(health));
}

BOOST_AUTO_TEST_CASE(arrays_are_read_at_the_element_size_the_module_declares) {
  Installation install({"bad_tables"});
  // Elements larger than 1.0's, as from a later minor: the host steps by their size.
  const ProcessResult r =
      install.prompt({"--log-level", "info", "--set", "badtables.defect=grown", "badtables:ok"});
  BOOST_TEST(r.exit_code == 0, describe(r));
  BOOST_TEST(r.out == "ok\n", describe(r));
  BOOST_TEST(contains(r.err, "badtables: grown tables a=1 b=2"), describe(r));
  const ProcessResult health = install.prompt({"--set", "badtables.defect=grown", "health"});
  BOOST_TEST(health.exit_code == 0, describe(health));
}

BOOST_AUTO_TEST_CASE(a_missing_library_is_a_clear_error) {
  Installation install;
  testing_support::writeFile(install.modules + "/ghost/module.yaml",
                             "name: ghost\ntype: extension\nversion: 1\nlibrary: libghost.so\n"
                             "commands:\n  - {name: 'ghost:boo', description: d}\n");
  const ProcessResult r = install.prompt({"ghost:boo"});
  BOOST_TEST(r.exit_code == 1, describe(r));
  BOOST_TEST(contains(r.err, "libghost.so"), r.err);
  BOOST_TEST(contains(r.err, "does not exist"), r.err);
  // A command loads only its own module and its dependencies, so the api still answers.
  const ProcessResult api = install.prompt({"api:keys:list"});
  BOOST_TEST(api.exit_code == 0, describe(api));
  BOOST_TEST(contains(api.out, "No API keys."), describe(api));
}

BOOST_AUTO_TEST_CASE(a_manifest_promising_a_newer_service_than_the_library_serves_is_refused) {
  Installation install;
  fs::remove(install.modules + "/api");
  std::string manifest = testing_support::readFile(std::string(API_MODULE_DIR) + "/module.yaml");
  const auto service = manifest.find("name: ApiKeyService");
  const auto at = manifest.find("version: \"", service);
  BOOST_REQUIRE(service != std::string::npos && at != std::string::npos);
  manifest.replace(at, manifest.find('\n', at) - at, "version: \"1.99\"");
  const auto lib = manifest.find("library: libapi_module.so");
  manifest.replace(lib, 25, "library: " + std::string(API_MODULE_DIR) + "/libapi_module.so");
  testing_support::writeFile(install.modules + "/api/module.yaml", manifest);
  const ProcessResult r = install.prompt({"health"});
  BOOST_TEST(r.exit_code == 1, describe(r));
  BOOST_TEST(contains(r.err, "exports ApiKeyService v1.99, but the library does not serve"), r.err);
}

BOOST_AUTO_TEST_CASE(an_invalid_manifest_names_file_and_key) {
  Installation install;
  testing_support::writeFile(install.modules + "/broken/module.yaml",
                             "name: broken\ntype: extension\nversion: 1\n");
  const ProcessResult r = install.prompt({"--help"});
  BOOST_TEST(r.exit_code == 1, describe(r));
  BOOST_TEST(contains(r.err, install.modules + "/broken/module.yaml"), r.err);
  BOOST_TEST(contains(r.err, "library: is required"), r.err);
}

BOOST_AUTO_TEST_CASE(a_sibling_module_reaches_the_api_services_through_the_host) {
  Installation install({"sibling"});
  const ProcessResult r = install.prompt({"sibling:api-health"});
  BOOST_TEST(r.exit_code == 0, describe(r));
  BOOST_TEST(contains(r.out, "ApiKeyService: healthy"), r.out);
  BOOST_TEST(contains(r.out, "RateLimitService: healthy"), r.out);

  const ProcessResult found = install.prompt({"sibling:lookup", "api", "ApiKeyService", "1", "0"});
  BOOST_TEST(found.exit_code == 0, describe(found));
  BOOST_TEST(
      contains(found.out, "serving minor " + std::to_string(SP_API_KEY_SERVICE_VERSION_MINOR)),
      found.out);
  const ProcessResult newer = install.prompt({"sibling:lookup", "api", "ApiKeyService", "2", "0"});
  BOOST_TEST(newer.exit_code == 1, describe(newer));
  BOOST_TEST(contains(newer.err, "is not available"), newer.err);
}

BOOST_AUTO_TEST_CASE(a_cleanup_interval_out_of_range_is_refused_by_the_module_at_load) {
  // The host reads no key of a module's config: the api module itself refuses a bad
  // cleanupInterval, from module.yaml or from an override, naming the value and the range.
  Installation install;
  ProcessResult r = install.prompt({"--set", "api.cleanupInterval=5", "serve"});
  BOOST_TEST(r.exit_code == 1, describe(r));
  BOOST_TEST(contains(r.err,
                      "error: module 'api': initialisation failed: config key "
                      "'cleanupInterval' must be an integer 10..86400000 ms, got 5"),
             describe(r));
  ProcessOptions env;
  env.env["PROMPT_API_CLEANUP_INTERVAL"] = "0";
  r = install.prompt({"api:keys:list"}, env);
  BOOST_TEST(r.exit_code == 1, describe(r));
  BOOST_TEST(contains(r.err, "'cleanupInterval' must be an integer 10..86400000 ms, got 0"),
             describe(r));

  // The same in module.yaml itself: a copy of the manifest beside a link to the library.
  testing_support::TempDir modules;
  std::string manifest = testing_support::readFile(std::string(API_MODULE_DIR) + "/module.yaml");
  for (const auto& [from, to] : std::vector<std::pair<std::string, std::string>>{
           {"cleanupInterval: 300000", "cleanupInterval: 0"},
           {"library: libapi_module.so",
            "library: " + std::string(API_MODULE_DIR) + "/libapi_module.so"}}) {
    const size_t at = manifest.find(from);
    BOOST_REQUIRE(at != std::string::npos);
    manifest.replace(at, from.size(), to);
  }
  testing_support::writeFile(modules.path() + "/api/module.yaml", manifest);
  r = install.prompt({"--modules-dir", modules.path(), "serve"});
  BOOST_TEST(r.exit_code == 1, describe(r));
  BOOST_TEST(contains(r.err, "'cleanupInterval' must be an integer 10..86400000 ms, got 0"),
             describe(r));
}

BOOST_AUTO_TEST_CASE(an_exception_in_a_handler_is_an_error_exit_not_a_crash) {
  Installation install({"sibling"});
  const ProcessResult guarded = install.prompt({"sibling:throw"});
  BOOST_TEST(guarded.exit_code == 1, describe(guarded));
  BOOST_TEST(contains(guarded.err, "sibling handler failed on purpose"), guarded.err);
  const ProcessResult escaped = install.prompt({"sibling:throw-unguarded"});
  BOOST_TEST(escaped.exit_code == 1, describe(escaped));
  BOOST_TEST(contains(escaped.err, "escaped from a module on purpose"), escaped.err);
}

BOOST_AUTO_TEST_CASE(a_handler_exit_code_outside_0_to_125_becomes_1_with_a_warning) {
  Installation install({"sibling"});
  for (const auto& [returned, expected] : std::vector<std::pair<std::string, int>>{
           {"0", 0}, {"3", 3}, {"125", 125}, {"126", 1}, {"256", 1}, {"-1", 1}}) {
    const ProcessResult r = install.prompt({"sibling:exit", "--", returned});
    BOOST_TEST(r.exit_code == expected, returned << ": " << describe(r));
    const bool warned =
        contains(r.err, "exit code outside 0..125") && contains(r.err, "exit_code=" + returned);
    BOOST_TEST(warned == (expected != std::stoi(returned)), returned << ": " << describe(r));
  }
}

BOOST_AUTO_TEST_CASE(serve_runs_cleanup_on_its_interval_and_stops_cleanly_on_sigterm) {
  Installation install({"sibling"});
  ProcessOptions options;
  options.env["PROMPT_MODULES_DIR"] = install.modules;
  options.env["PROMPT_STATE_DIR"] = install.state;
  constexpr int kIntervalMs = 50;
  testing_support::Child serve({PROMPT_BIN, "--log-level", "debug", "--set",
                                "api.cleanupInterval=" + std::to_string(kIntervalMs), "serve"},
                               options);
  const bool ran = serve.waitForStderr("cleanup ran module=api", 4, std::chrono::seconds(20));
  BOOST_TEST(ran, serve.err());
  BOOST_TEST(contains(serve.err(), "interval_ms=50"), serve.err());
  serve.signal(SIGTERM);
  const int code = serve.wait(std::chrono::seconds(20));
  BOOST_TEST(code == 0, serve.err());
  const std::string& log = serve.err();

  // Runs are an interval apart (allowing for the log's millisecond stamps), never bunched.
  const std::regex run_line(
      "(\\d{4})-(\\d\\d)-(\\d\\d)T(\\d\\d):(\\d\\d):(\\d\\d)\\.(\\d{3})Z DEBUG host: cleanup ran "
      "module=api");
  std::vector<long long> runs_ms;
  for (auto it = std::sregex_iterator(log.begin(), log.end(), run_line);
       it != std::sregex_iterator(); ++it) {
    std::tm t{};
    t.tm_year = std::stoi((*it)[1]) - 1900;
    t.tm_mon = std::stoi((*it)[2]) - 1;
    t.tm_mday = std::stoi((*it)[3]);
    t.tm_hour = std::stoi((*it)[4]);
    t.tm_min = std::stoi((*it)[5]);
    t.tm_sec = std::stoi((*it)[6]);
    runs_ms.push_back(static_cast<long long>(::timegm(&t)) * 1000 + std::stoi((*it)[7]));
  }
  BOOST_TEST(runs_ms.size() >= 4u, log);
  for (size_t i = 1; i < runs_ms.size(); ++i) {
    BOOST_TEST(runs_ms[i] - runs_ms[i - 1] >= kIntervalMs * 8 / 10,
               "gap " << i << ": " << runs_ms[i] - runs_ms[i - 1] << " ms\n"
                      << log);
  }

  // stopping -> every module shut down (dependents first) -> every library unloaded (in the
  // same order) -> stopped -> exit 0, and no cleanup once stopping began.
  const std::vector<std::string> order{
      "stopping signal=SIGTERM",     "module shut down module=sibling",
      "module shut down module=api", "library unloaded module=sibling",
      "library unloaded module=api", "INFO  host: stopped"};
  size_t previous = 0;
  for (const std::string& step : order) {
    const size_t at = log.find(step, previous);
    BOOST_TEST(at != std::string::npos, "missing or out of order: " << step << "\n" << log);
    previous = at == std::string::npos ? previous : at;
  }
  const size_t stopping = log.find("stopping signal=SIGTERM");
  BOOST_TEST(
      (stopping != std::string::npos && log.find("cleanup ran", stopping) == std::string::npos),
      log);
}

BOOST_AUTO_TEST_CASE(a_sigterm_while_serve_discovers_modules_still_stops_cleanly) {
  Installation install;
  // A module.yaml that is a FIFO holds discovery in its read until the test writes it, so
  // the SIGTERM surely arrives while serve is starting up.
  const std::string dir = install.modules + "/zz_slow";
  fs::create_directories(dir);
  const std::string fifo = dir + "/module.yaml";
  BOOST_REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
  std::string manifest =
      testing_support::readFile(std::string(TEST_MODULES_DIR) + "/bad_tables/module.yaml");
  const auto lib = manifest.find("library: ");
  manifest.replace(
      lib, manifest.find('\n', lib) - lib,
      "library: " + std::string(TEST_MODULES_DIR) + "/bad_tables/libbad_tables_module.so");

  testing_support::Child serve({PROMPT_BIN, "serve"}, install.options());
  int writer = -1;  // opens only once prompt has the FIFO open for reading
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (writer < 0 && std::chrono::steady_clock::now() < deadline) {
    writer = ::open(fifo.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (writer < 0) {
      BOOST_REQUIRE(errno == ENXIO);
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }
  BOOST_REQUIRE_MESSAGE(writer >= 0, "prompt serve never read its modules");
  serve.signal(SIGTERM);
  BOOST_TEST(::write(writer, manifest.data(), manifest.size()) ==
             static_cast<ssize_t>(manifest.size()));
  ::close(writer);
  const int code = serve.wait(std::chrono::seconds(20));
  BOOST_TEST(code == 0, serve.err());
  BOOST_TEST(contains(serve.err(), "serving modules=2"), serve.err());
  BOOST_TEST(contains(serve.err(), "stopping signal=SIGTERM"), serve.err());
}

BOOST_AUTO_TEST_SUITE_END()
