// A private installation for end-to-end tests: a modules directory of symlinks to the built
// api module (and chosen test modules) and an empty state directory, removed afterwards.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "process.hpp"
#include "test_database.hpp"

namespace testing_support {

inline bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

inline std::string describe(const ProcessResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\nstdout:\n" + r.out + "\nstderr:\n" + r.err;
}

// The store is the SQLite file in the state directory, or a new PostgreSQL database when the
// suite runs on PostgreSQL (PROMPT_TEST_STORE=postgres, see test_database.hpp), which every
// run of this installation is pointed at.
struct Installation {
  TempDir root;
  std::string modules = root.path() + "/modules";
  std::string state = root.path() + "/state";
  TestDatabase store{state + "/api"};

  explicit Installation(const std::vector<std::string>& test_modules = {}) {
    std::filesystem::create_directories(modules);
    std::filesystem::create_directory_symlink(API_MODULE_DIR, modules + "/api");
    for (const auto& name : test_modules) {
      std::filesystem::create_directory_symlink(std::string(TEST_MODULES_DIR) + "/" + name,
                                                modules + "/" + name);
    }
  }

  // The environment of every `prompt` run of this installation.
  ProcessOptions options(ProcessOptions base = {}) const {
    base.env["PROMPT_MODULES_DIR"] = modules;
    base.env["PROMPT_STATE_DIR"] = state;
    if (onPostgres() && base.env.count("PROMPT_API_DATABASE_URL") == 0) {
      base.env["PROMPT_API_DATABASE_URL"] = store.location();
    }
    // The user's own settings reach no run unless a test sets them (`base.env`): the log
    // level, the database path, and COLUMNS and NO_COLOR, which change what a terminal shows.
    for (const char* name : {"PROMPT_LOG_LEVEL", "PROMPT_API_DATABASE_PATH",
                             "PROMPT_API_DATABASE_URL", "COLUMNS", "NO_COLOR"}) {
      if (base.env.count(name) == 0) {
        base.unset_env.emplace_back(name);
      }
    }
    return base;
  }

  ProcessResult prompt(std::vector<std::string> args, ProcessOptions extra = {}) const {
    args.insert(args.begin(), PROMPT_BIN);
    return run(args, options(std::move(extra)));
  }

  // The SQLite file (on SQLite).
  std::string database() const { return state + "/api/api.sqlite3"; }
};

}  // namespace testing_support
