// ModuleHost and LoadedModule: what ABI 1.1 added on the host's side (a command's own
// context, the cleanup interval a module states) and the real unload of a module library.
// In-process where the host's own view is the thing checked; through the real `prompt`
// where a command's output is.
#include "module_host.hpp"

#include <signal.h>

#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>
#include <list>
#include <sstream>

#include "abi_checks.hpp"
#include "installation.hpp"
#include "manifest.hpp"
#include "process.hpp"

namespace {

namespace fs = std::filesystem;
using testing_support::contains;
using testing_support::describe;
using testing_support::Installation;
using testing_support::ProcessResult;
using testing_support::TempDir;

constexpr const char* kAbiMinorYaml = TEST_MODULES_DIR "/abi_minor/module.yaml";
constexpr const char* kApiYaml = API_MODULE_DIR "/module.yaml";

// Whether /proc/self/maps maps `file` (compared as the kernel names it: its real path).
bool mapped(const std::string& file) {
  const std::string real = fs::canonical(file).string();
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line)) {
    if (line.size() >= real.size() &&
        line.compare(line.size() - real.size(), real.size(), real) == 0) {
      return true;
    }
  }
  return false;
}

// A host whose modules are loaded in this process, logging nothing, with a private state.
struct InProcessHost {
  TempDir state;
  host::Log log{SP_LOG_ERROR + 1};
  host::ModuleHost modules{log, state.path()};

  host::LoadedModule& load(const std::string& yaml,
                           const std::vector<host::ConfigOverride>& overrides = {}) {
    manifests_.push_back(host::loadManifest(yaml, overrides));
    return modules.load(manifests_.back());
  }

 private:
  std::list<host::ModuleManifest> manifests_;  // each outlives the module loaded from it
};

host::ConfigOverride set(const std::string& key, const std::string& value,
                         const std::string& module = "abiminor") {
  return {module, key, value, "--set " + module + "." + key + "=" + value};
}

}  // namespace

BOOST_AUTO_TEST_SUITE(module_host)

BOOST_AUTO_TEST_CASE(a_command_runs_with_its_own_context_when_its_element_carries_one) {
  Installation install({"abi_minor"});
  for (const auto& [command, expected] : std::vector<std::pair<std::string, std::string>>{
           {"abiminor:first", "ctx=first\n"},
           {"abiminor:second", "ctx=second\n"},
           {"abiminor:third", "ctx=module\n"}}) {  // its ctx is NULL
    const ProcessResult r = install.prompt({command});
    BOOST_TEST(r.exit_code == 0, command << ": " << describe(r));
    BOOST_TEST(r.out == expected, command << ": " << describe(r));
  }
}

BOOST_AUTO_TEST_CASE(a_1_0_command_table_keeps_working_and_its_handlers_get_module_ctx) {
  // Elements of the 1.0 size have no ctx: reading one would take the next element's name
  // (or, after the last, the module's trap pointer) and the handler would say so.
  Installation install({"abi_minor"});
  for (const std::string command : {"abiminor:first", "abiminor:second", "abiminor:third"}) {
    const ProcessResult r = install.prompt({"--set", "abiminor.layout=1.0", command});
    BOOST_TEST(r.exit_code == 0, command << ": " << describe(r));
    BOOST_TEST(r.out == "ctx=module\n", command << ": " << describe(r));
  }
}

BOOST_AUTO_TEST_CASE(the_cleanup_interval_is_the_one_the_module_states) {
  InProcessHost h;
  BOOST_TEST(h.load(kAbiMinorYaml).cleanupInterval().count() == 40);
  InProcessHost none;
  BOOST_TEST(none.load(kAbiMinorYaml, {set("cleanupMs", "0")}).cleanupInterval().count() == 0);
  InProcessHost no_entry;  // an interval without a cleanup entry point times nothing
  BOOST_TEST(no_entry.load(kAbiMinorYaml, {set("cleanup", "false")}).cleanupInterval().count() ==
             0);
  // A 1.0 module cannot state one: the host's default, whatever the field holds (7 here).
  InProcessHost old;
  BOOST_TEST(old.load(kAbiMinorYaml, {set("layout", "1.0")}).cleanupInterval() ==
             host::kDefaultCleanupInterval);
  BOOST_TEST(host::kDefaultCleanupInterval.count() == 300000);
  // The api module states its config's cleanupInterval, which the host never reads itself.
  InProcessHost api;
  BOOST_TEST(api.load(kApiYaml).cleanupInterval().count() == 300000);
  InProcessHost api_set;
  BOOST_TEST(
      api_set.load(kApiYaml, {set("cleanupInterval", "1234", "api")}).cleanupInterval().count() ==
      1234);
}

BOOST_AUTO_TEST_CASE(an_interval_the_host_cannot_time_is_refused_naming_it) {
  InProcessHost h;
  try {
    h.load(kAbiMinorYaml, {set("cleanupMs", "31536000001")});
    BOOST_FAIL("a cleanup interval over a year was accepted");
  } catch (const host::LoadError& e) {
    BOOST_TEST((contains(e.what(), "module 'abiminor' (") && contains(e.what(), ") is refused: ")),
               e.what());
    BOOST_TEST(contains(e.what(),
                        "sp_module.cleanup_interval_ms is 31536000001, more than the "
                        "31536000000 (a year) the host times"),
               e.what());
  }
  BOOST_TEST(h.modules.modules().empty());
}

BOOST_AUTO_TEST_CASE(serve_times_each_module_at_the_interval_it_states) {
  Installation install({"abi_minor"});
  {
    testing_support::Child serve({PROMPT_BIN, "--log-level", "debug", "serve"}, install.options());
    BOOST_TEST(serve.waitForStderr("cleanup ran module=abiminor", 3, std::chrono::seconds(20)),
               serve.err());
    serve.signal(SIGTERM);
    BOOST_TEST(serve.wait(std::chrono::seconds(20)) == 0, serve.err());
    BOOST_TEST(contains(serve.err(), "cleanup scheduled module=abiminor interval_ms=40"),
               serve.err());
    BOOST_TEST(contains(serve.err(), "cleanup scheduled module=api interval_ms=300000"),
               serve.err());
  }
  for (const auto& [set, expected] : std::vector<std::pair<std::string, std::string>>{
           {"abiminor.layout=1.0", "cleanup scheduled module=abiminor interval_ms=300000"},
           {"abiminor.cleanupMs=0",
            "cleanup not scheduled: the module asks for none module=abiminor"}}) {
    testing_support::Child serve({PROMPT_BIN, "--set", set, "serve"}, install.options());
    BOOST_TEST(serve.waitForStderr("serving", 1, std::chrono::seconds(20)), set << serve.err());
    serve.signal(SIGTERM);
    BOOST_TEST(serve.wait(std::chrono::seconds(20)) == 0, set << serve.err());
    BOOST_TEST(contains(serve.err(), expected), set << ": " << serve.err());
    if (set == "abiminor.cleanupMs=0") {
      BOOST_TEST(!contains(serve.err(), "cleanup scheduled module=abiminor"), serve.err());
    }
  }
}

BOOST_AUTO_TEST_CASE(the_module_exports_module_init_alone_and_nothing_unique) {
  const std::string library = std::string(API_MODULE_DIR) + "/libapi_module.so";
  const ProcessResult nm = testing_support::run({"/usr/bin/nm", "-D", "--defined-only", library});
  BOOST_REQUIRE_MESSAGE(nm.exit_code == 0, describe(nm));
  std::istringstream lines(nm.out);
  std::vector<std::string> symbols;
  for (std::string line; std::getline(lines, line);) {
    symbols.push_back(line.substr(line.find(' ') + 1));  // "<type> <name>"
  }
  // nm's type 'u' is STB_GNU_UNIQUE, which would keep the library mapped after dlclose.
  BOOST_TEST(symbols == std::vector<std::string>{"T module_init"}, nm.out);
}

BOOST_AUTO_TEST_CASE(unloading_a_module_unmaps_its_library) {
  // The real api module, and a test module, loaded and unloaded as the host does it:
  // shutdown, then dlclose. Nothing may keep either mapped (an STB_GNU_UNIQUE symbol would).
  InProcessHost h;
  const host::LoadedModule& api = h.load(kApiYaml);
  const host::LoadedModule& test_module = h.load(kAbiMinorYaml);
  const std::string api_library = api.manifest().library;
  const std::string test_library = test_module.manifest().library;
  BOOST_REQUIRE(mapped(api_library));
  BOOST_REQUIRE(mapped(test_library));
  h.modules.shutdownAll();
  BOOST_TEST(h.modules.modules().empty());
  BOOST_TEST(!mapped(api_library), api_library << " is still mapped after unload");
  BOOST_TEST(!mapped(test_library), test_library << " is still mapped after unload");
}

BOOST_AUTO_TEST_SUITE_END()
