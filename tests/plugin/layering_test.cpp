// The layering README's Layout table states, held to the sources: for every file under
// plugin/src, each project include ("folder/...") must name a folder its own folder may
// include. Arrows point one way: the table has no cycle, and a test checks that too.
#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

// Folder (relative to plugin/src; "" is the composition root) -> what it may include besides
// itself. "abi" is systemprompt/module_abi.h, "public" the other public headers (the service
// tables, the module toolkit, the clients); "store" is the store interfaces, "store/sqlite"
// and "store/postgres" its backends, "store/shared" the shared-memory window store in front of
// the SQLite one. Nothing but
// the root may include the root.
const std::map<std::string, std::set<std::string>>& allowed() {
  static const std::map<std::string, std::set<std::string>> kAllowed{
      {"util", {}},
      {"domain", {"util"}},
      {"log", {"abi"}},
      {"config", {"domain"}},
      {"keys", {"domain", "util"}},
      {"ratelimit", {"domain"}},
      {"store", {"domain", "config"}},
      {"store/sqlite", {"store", "domain", "util"}},
      {"store/postgres", {"store", "domain", "util"}},
      {"store/shared", {"store", "domain", "util"}},
      {"usage", {"store", "config", "log", "domain", "util"}},
      {"services",
       {"store", "ratelimit", "usage", "keys", "config", "log", "domain", "util", "abi"}},
      {"present", {"services", "usage", "domain", "util"}},
      {"cli", {"services", "usage", "present", "domain", "util", "abi"}},
      {"http", {"services", "usage", "config", "log", "domain", "util", "abi"}},
      {"exports", {"services", "usage", "present", "keys", "domain", "util", "abi", "public"}},
  };
  return kAllowed;
}

// The folder of a path under plugin/src: "store/sqlite", "store/shared" or its first
// component ("" at the root).
std::string folderOf(const std::string& relative) {
  for (const char* backend : {"store/sqlite", "store/postgres", "store/shared"}) {
    if (relative.rfind(std::string(backend) + "/", 0) == 0) {
      return backend;
    }
  }
  const auto slash = relative.find('/');
  return slash == std::string::npos ? "" : relative.substr(0, slash);
}

// What an include names, as a folder of the table; nullopt for a header outside the project
// (the standard library, SQLite, Boost). `from` is the including file's directory.
std::optional<std::string> targetOf(const std::string& include, const fs::path& from,
                                    const fs::path& root) {
  if (include == "systemprompt/module_abi.h") {
    return "abi";
  }
  if (include.rfind("systemprompt/", 0) == 0) {
    return "public";
  }
  if (fs::exists(root / include)) {  // a project path, "folder/file" or a root file
    return folderOf(include);
  }
  if (include.find('/') == std::string::npos && fs::exists(from / include)) {
    return folderOf(fs::relative(from / include, root).generic_string());
  }
  return std::nullopt;
}

std::vector<std::string> includesOf(const fs::path& file) {
  static const std::regex kInclude(R"(^\s*#\s*include\s*["<]([^">]+)[">])");
  std::ifstream in(file);
  std::vector<std::string> out;
  std::string line;
  std::smatch match;
  while (std::getline(in, line)) {
    if (std::regex_search(line, match, kInclude)) {
      out.push_back(match[1]);
    }
  }
  return out;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(layering)

BOOST_AUTO_TEST_CASE(every_include_follows_the_layout_table) {
  const fs::path root = PLUGIN_SRC_DIR;
  size_t files = 0;
  for (const auto& entry : fs::recursive_directory_iterator(root)) {
    if (!entry.is_regular_file()) {
      continue;
    }
    const std::string relative = fs::relative(entry.path(), root).generic_string();
    const std::string folder = folderOf(relative);
    ++files;
    if (folder.empty()) {
      continue;  // the composition root may include everything
    }
    const auto rules = allowed().find(folder);
    BOOST_TEST_REQUIRE((rules != allowed().end()), "no layering rule for " << folder);
    for (const std::string& include : includesOf(entry.path())) {
      const std::optional<std::string> target = targetOf(include, entry.path().parent_path(), root);
      if (!target || *target == folder) {
        continue;  // outside the project, or a header of the same folder
      }
      BOOST_TEST(rules->second.count(*target) == 1,
                 relative << " includes " << include << ", but " << folder << "/ may not include "
                          << (target->empty() ? "the root" : *target));
    }
  }
  BOOST_TEST(files > 50u);  // the walk found the sources
}

BOOST_AUTO_TEST_CASE(the_table_has_no_cycle) {
  // Depth-first over the table: a folder reached again while still on the path is a cycle.
  std::map<std::string, int> state;  // 0 new, 1 on the path, 2 done
  std::function<void(const std::string&)> visit = [&](const std::string& folder) {
    state[folder] = 1;
    const auto rules = allowed().find(folder);
    if (rules != allowed().end()) {
      for (const std::string& next : rules->second) {
        BOOST_TEST(state[next] != 1, folder << " -> " << next << " closes a cycle");
        if (state[next] == 0) {
          visit(next);
        }
      }
    }
    state[folder] = 2;
  };
  for (const auto& [folder, rules] : allowed()) {
    if (state[folder] == 0) {
      visit(folder);
    }
  }
}

BOOST_AUTO_TEST_SUITE_END()
