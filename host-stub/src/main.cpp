// prompt: a small, faithful stand-in for SystemPrompt OS's module loader. It discovers
// modules, reads their module.yaml, routes `prompt <module>:<command>` to the module that
// declares it, serves the modules' exported services, and runs their cleanup timers.
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "cli.hpp"
#include "log.hpp"
#include "manifest.hpp"
#include "module_graph.hpp"
#include "module_host.hpp"
#include "serve.hpp"
#include "state_dir.hpp"
#include "stdout_latch.hpp"
#include "text.hpp"

namespace {

namespace fs = std::filesystem;

constexpr const char* kHostVersion = "0.1.0";

struct GlobalOptions {
  std::string modules_dir;
  std::string state_dir;  // empty: the default (host::defaultStateDir)
  std::string log_level;
  std::string log_level_origin;  // "--log-level" or "PROMPT_LOG_LEVEL", for its error
  std::vector<host::ConfigOverride> overrides;
  bool help = false;
  bool version = false;
  std::vector<std::string> rest;  // the command and its words
};

std::string envOr(const char* name, const std::string& fallback) {
  const char* value = std::getenv(name);
  return value != nullptr && *value != '\0' ? value : fallback;
}

std::string executableDir() {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  return ec ? std::string(".") : self.parent_path().string();
}

host::ConfigOverride parseSet(const std::string& text) {
  if (!host::isValidUtf8(text)) {
    throw host::UsageError("--set is not valid UTF-8");  // not echoed: it would garble stderr
  }
  const auto dot = text.find('.');
  const auto eq = text.find('=');
  if (dot == std::string::npos || eq == std::string::npos || dot == 0 || eq < dot + 2) {
    throw host::UsageError("invalid --set " + host::quotedText(text) +
                           ": use --set <module>.<key>=<value>, e.g. --set "
                           "api.cleanupInterval=60000");
  }
  return {text.substr(0, dot), text.substr(dot + 1, eq - dot - 1), text.substr(eq + 1),
          "--set " + host::escapeControls(text)};
}

bool takesValue(std::string_view global) {
  return global == "--modules-dir" || global == "--state-dir" || global == "--log-level" ||
         global == "--set";
}

// How many of `words` (the arguments after the program name) are global options: the words
// before the command. Cheap and exact, so main() can tell `serve` apart before anything else.
size_t globalWordCount(const std::vector<std::string>& words) {
  size_t split = 0;
  while (split < words.size() && words[split].size() > 1 && words[split][0] == '-') {
    if (words[split] == "--") {
      return split + 1;
    }
    split += takesValue(words[split]) ? 2 : 1;
  }
  return std::min(split, words.size());
}

// The command word ("" when there is none), as run() will find it.
std::string commandWord(const std::vector<std::string>& words) {
  const size_t split = globalWordCount(words);
  return split < words.size() ? words[split] : "";
}

// Global options are the words before the command; the command and everything after it
// belong to the command.
GlobalOptions parseGlobal(const std::vector<std::string>& words) {
  const size_t split = globalWordCount(words);
  GlobalOptions g;
  std::vector<std::string> sets;
  std::set<std::string> seen;
  for (size_t i = 0; i < split; ++i) {
    const std::string& word = words[i];
    if (word == "--") {
      break;
    }
    const auto eq = word.starts_with("--") ? word.find('=') : std::string::npos;
    const std::string name = word.substr(0, eq);
    if (name == "--help" || name == "-h" || name == "--version") {
      if (eq != std::string::npos) {
        throw host::UsageError(name + " takes no value, got " + host::quotedText(word) +
                               "; see 'prompt --help'");
      }
      (name == "--version" ? g.version : g.help) = true;
      continue;
    }
    if (!takesValue(name)) {
      throw host::UsageError("unknown global option " + host::quotedText(name) +
                             "; see 'prompt --help'");
    }
    std::string value;
    if (eq != std::string::npos) {
      value = word.substr(eq + 1);
    } else if (i + 1 < words.size()) {
      value = words[++i];
    } else {
      throw host::UsageError(name + " needs a value; see 'prompt --help'");
    }
    if (name == "--set") {
      sets.push_back(value);
      continue;
    }
    if (!seen.insert(name).second) {
      throw host::UsageError(name + " is given more than once; see 'prompt --help'");
    }
    (name == "--modules-dir" ? g.modules_dir
     : name == "--state-dir" ? g.state_dir
                             : g.log_level) = value;
  }
  for (const std::string& s : sets) {
    g.overrides.push_back(parseSet(s));
  }
  g.modules_dir = !g.modules_dir.empty() ? g.modules_dir
                                         : envOr("PROMPT_MODULES_DIR",
                                                 executableDir() + "/../lib/systemprompt/modules");
  g.state_dir = !g.state_dir.empty() ? g.state_dir : envOr("PROMPT_STATE_DIR", "");
  g.log_level_origin = !g.log_level.empty() ? "--log-level" : "PROMPT_LOG_LEVEL";
  g.log_level = !g.log_level.empty() ? g.log_level : envOr("PROMPT_LOG_LEVEL", "");
  g.rest.assign(words.begin() + static_cast<long>(split), words.end());
  return g;
}

const host::CommandSpec* findCommand(const std::vector<host::ModuleManifest>& modules,
                                     const std::string& name) {
  for (const auto& m : modules) {
    for (const auto& c : m.commands) {
      if (c.name == name) {
        return &c;
      }
    }
  }
  return nullptr;
}

[[noreturn]] void unknownCommand(const std::vector<host::ModuleManifest>& modules,
                                 const std::string& name) {
  std::vector<std::string> known{"health", "serve", "help"};
  for (const auto& m : modules) {
    for (const auto& c : m.commands) {
      known.push_back(c.name);
    }
  }
  std::string message = "unknown command " + host::quotedText(name);
  const auto near = host::suggest(name, known);
  if (!near.empty()) {
    message += "; did you mean:";
    for (const auto& n : near) {
      message += "\n  prompt " + n;
    }
  }
  throw host::UsageError(message + "\nsee 'prompt --help' for every command");
}

std::vector<std::string> allModuleNames(const std::vector<host::ModuleManifest>& modules) {
  std::vector<std::string> names;
  names.reserve(modules.size());
  for (const auto& m : modules) {
    names.push_back(m.name);
  }
  return names;
}

int runHealth(host::ModuleHost& loaded) {
  bool all_healthy = true;
  for (const auto& module : loaded.modules()) {
    const auto [healthy, detail] = module->health();
    all_healthy = all_healthy && healthy;
    char columns[64];
    std::snprintf(columns, sizeof(columns), "%-12s %-9s ", module->manifest().name.c_str(),
                  healthy ? "healthy" : "UNHEALTHY");
    host::writeStdout(columns + detail + "\n");
  }
  return all_healthy ? 0 : 1;
}

int run(const std::vector<std::string>& words) {
  host::checkArgumentSizes(words);
  const GlobalOptions g = parseGlobal(words);
  const std::string command = g.rest.empty() ? "" : g.rest.front();
  if (g.version) {
    host::writeStdout(std::string("prompt ") + kHostVersion + " (module ABI " +
                      std::to_string(SP_ABI_VERSION_MAJOR) + "." +
                      std::to_string(SP_ABI_VERSION_MINOR) + ")\n");
    return 0;
  }
  std::optional<int> threshold = host::Log::parseLevel(
      g.log_level.empty() ? (command == "serve" ? "info" : "warn") : g.log_level);
  if (!threshold) {
    throw host::UsageError("invalid " + g.log_level_origin + " " + host::quotedText(g.log_level) +
                           ": use trace, debug, info, warn, error or off");
  }
  host::Log log(*threshold);
  const auto modules = host::discoverModules(g.modules_dir, g.overrides);

  if (g.help || command.empty()) {
    host::writeStdout(host::overviewHelp(modules));
    return command.empty() && !g.help ? 2 : 0;
  }
  const bool asks_help = g.rest.size() == 2 && (g.rest[1] == "--help" || g.rest[1] == "-h");
  if (command == "help") {
    if (g.rest.size() < 2) {
      host::writeStdout(host::overviewHelp(modules));
      return 0;
    }
    const std::string& topic = asks_help ? command : g.rest[1];
    if (g.rest.size() > 2) {
      throw host::UsageError("help takes one command, got " + host::quotedText(g.rest[2]) +
                             " after it; see 'prompt help help'");
    }
    if (const auto text = host::hostCommandHelp(topic)) {
      host::writeStdout(*text);
      return 0;
    }
    const auto* spec = findCommand(modules, topic);
    if (spec == nullptr) {
      unknownCommand(modules, topic);
    }
    host::writeStdout(host::commandHelp(*spec));
    return 0;
  }

  // Only now: --help and --version need no state, and a missing home is an error.
  const std::string state_dir =
      !g.state_dir.empty() ? g.state_dir
                           : host::defaultStateDir(std::getenv("XDG_STATE_HOME"),
                                                   std::getenv("HOME"), host::passwdHome());
  host::ModuleHost loaded(log, state_dir);
  if (command == "health" || command == "serve") {
    if (asks_help) {
      host::writeStdout(*host::hostCommandHelp(command));
      return 0;
    }
    if (g.rest.size() > 1) {
      throw host::UsageError(command + " takes no arguments, got " + host::quotedText(g.rest[1]) +
                             "; see 'prompt " + command + " --help'");
    }
    for (const auto* m : host::loadOrder(modules, allModuleNames(modules))) {
      loaded.load(*m);
    }
    return command == "health" ? runHealth(loaded) : host::serve(loaded);
  }

  const auto* spec = findCommand(modules, command);
  if (spec == nullptr) {
    unknownCommand(modules, command);
  }
  const host::ParsedArgs parsed =
      host::parseCommandArgs(*spec, std::vector<std::string>(g.rest.begin() + 1, g.rest.end()));
  if (parsed.help) {
    host::writeStdout(host::commandHelp(*spec));
    return 0;
  }
  host::LoadedModule* target = nullptr;
  for (const auto* m : host::loadOrder(modules, {spec->module})) {
    host::LoadedModule& module = loaded.load(*m);
    if (m->name == spec->module) {
      target = &module;
    }
  }
  return loaded.runCommand(*target, spec->name, parsed.args_json);
}

int runReportingErrors(const std::vector<std::string>& words) {
  try {
    return run(words);
  } catch (const host::UsageError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  } catch (const host::OverrideError& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  // A closed pipe on stdout (`prompt api:keys:create ... | true`) must fail the write with
  // EPIPE, not kill the process: a module acts on a lost write (a new key whose secret
  // never arrived is revoked), and the host turns it into exit 1.
  std::signal(SIGPIPE, SIG_IGN);
  const std::vector<std::string> words(argv + 1, argv + argc);
  // Before anything else: a SIGTERM while `serve` starts up (discovering and loading
  // modules) must wait for serve's handler, not kill the process half-loaded. Every other
  // command is interrupted as usual, so only serve holds them.
  if (commandWord(words) == "serve") {
    host::holdStopSignals();
  }
  const int exit_code = runReportingErrors(words);
  // Output that did not arrive (a full disk, a closed pipe) is a failure, whatever the
  // command thought of its own work.
  if (const int failure = host::finishStdout(); failure != 0) {
    std::fprintf(stderr, "error: writing standard output: %s\n", std::strerror(failure));
    return 1;
  }
  return exit_code;
}
