// A private installation for end-to-end tests: a modules directory of symlinks to the built
// api module (and chosen test modules) and an empty state directory, removed afterwards.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "process.hpp"

namespace testing_support {

inline bool contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

inline std::string describe(const ProcessResult& r) {
  return "exit " + std::to_string(r.exit_code) + "\nstdout:\n" + r.out + "\nstderr:\n" + r.err;
}

struct Installation {
  TempDir root;
  std::string modules = root.path() + "/modules";
  std::string state = root.path() + "/state";

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
    base.unset_env = {"PROMPT_LOG_LEVEL", "PROMPT_API_DATABASE_PATH"};
    return base;
  }

  ProcessResult prompt(std::vector<std::string> args, ProcessOptions extra = {}) const {
    args.insert(args.begin(), PROMPT_BIN);
    return run(args, options(std::move(extra)));
  }

  std::string database() const { return state + "/api/api.sqlite3"; }
};

}  // namespace testing_support
