// The layering README's Layout table states, held to the sources: for every file under
// plugin/src, each project include ("folder/...") must name a folder its own folder may
// include. Arrows point one way: the table has no cycle, and a test checks that too.
#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

// Folder (relative to plugin/src; "" is the composition root) -> what it may include besides
// itself. "systemprompt" is the public ABI and client headers; "store" is the store
// interfaces, "store/sqlite" one backend of them.
const std::map<std::string, std::set<std::string>>& allowed() {
  static const std::map<std::string, std::set<std::string>> kAllowed{
      {"util", {}},
      {"domain", {"util"}},
      {"log", {"systemprompt"}},
      {"config", {"domain"}},
      {"keys", {"domain", "util"}},
      {"ratelimit", {"domain"}},
      {"store", {"domain", "config"}},
      {"store/sqlite", {"store", "domain", "util", "config"}},
      {"usage", {"store", "config", "log", "domain", "util"}},
      {"services",
       {"store", "ratelimit", "usage", "keys", "config", "log", "domain", "util", "systemprompt"}},
      {"present", {"services", "usage", "domain", "util"}},
      {"cli", {"services", "usage", "present", "domain", "util", "systemprompt"}},
      {"exports", {"services", "usage", "present", "keys", "domain", "util", "systemprompt"}},
  };
  return kAllowed;
}

// The folder an include names: its first component, or "store/sqlite".
std::string folderOf(const std::string& include) {
  if (include.rfind("store/sqlite/", 0) == 0) {
    return "store/sqlite";
  }
  const auto slash = include.find('/');
  return slash == std::string::npos ? "" : include.substr(0, slash);
}

std::vector<std::string> projectIncludes(const fs::path& file) {
  std::ifstream in(file);
  std::vector<std::string> out;
  std::string line;
  const std::string directive = "#include \"";
  while (std::getline(in, line)) {
    if (line.rfind(directive, 0) == 0) {
      const auto end = line.find('"', directive.size());
      out.push_back(line.substr(directive.size(), end - directive.size()));
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
    for (const std::string& include : projectIncludes(entry.path())) {
      const std::string target = folderOf(include);
      if (target.empty() || target == folder) {
        continue;  // a header of the same folder
      }
      BOOST_TEST(rules->second.count(target) == 1, relative << " includes " << include << ", but "
                                                            << folder << "/ may not include "
                                                            << target << "/");
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
