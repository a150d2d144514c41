// The module graph: discovery of installed modules, their checks taken together, and the
// load order as a topological order over a name-to-index map.
#include "module_graph.hpp"

#include <algorithm>
#include <filesystem>
#include <map>

#include "text.hpp"

namespace host {
namespace {

namespace fs = std::filesystem;

bool isBuiltin(const std::string& name) {
  const auto& builtins = builtinDependencies();
  return std::find(builtins.begin(), builtins.end(), name) != builtins.end();
}

// "a", "b" and "c"
std::string listed(const std::vector<std::string>& names) {
  std::string out;
  for (size_t i = 0; i < names.size(); ++i) {
    out += (i == 0 ? "" : i + 1 == names.size() ? " and " : ", ") + ("\"" + names[i] + "\"");
  }
  return out;
}

}  // namespace

const std::vector<std::string>& builtinDependencies() {
  static const std::vector<std::string> kBuiltins{"crypto", "database", "logger"};
  return kBuiltins;
}

ModuleGraph::ModuleGraph(const std::vector<ModuleManifest>& modules)
    : modules_(modules), depends_on_(modules.size()) {
  for (size_t i = 0; i < modules.size(); ++i) {
    index_.emplace(modules[i].name, i);
  }
  for (size_t i = 0; i < modules.size(); ++i) {
    for (const std::string& dep : modules[i].dependencies) {
      if (const auto it = index_.find(dep); it != index_.end()) {
        depends_on_[i].push_back(it->second);
      }
    }
  }
}

void ModuleGraph::requireDependenciesInstalled(const std::string& modules_dir) const {
  for (const ModuleManifest& m : modules_) {
    for (const std::string& dep : m.dependencies) {
      if (!isBuiltin(dep) && index_.count(dep) == 0) {
        std::string message = m.manifest_path;
        message += ": dependencies: module \"";
        message += dep;
        message += "\" is not installed in ";
        message += modules_dir;
        throw ManifestError(message);
      }
    }
  }
}

void ModuleGraph::requireAcyclic() const {
  enum class Mark { kNew, kOnPath, kDone };
  std::vector<Mark> marks(modules_.size(), Mark::kNew);
  std::vector<size_t> path;  // the modules being visited, each depending on the next
  const auto visit = [&](const auto& self, size_t at) -> void {
    marks[at] = Mark::kOnPath;
    path.push_back(at);
    for (const size_t dep : depends_on_[at]) {
      if (marks[dep] == Mark::kOnPath) {
        // The cycle, told from the module whose dependency closes it: at -> dep -> ... -> at.
        const auto from = std::find(path.begin(), path.end(), dep);
        std::vector<std::string> names{modules_[at].name};
        for (auto it = from; it + 1 != path.end(); ++it) {
          names.push_back(modules_[*it].name);
        }
        const std::string& file = modules_[at].manifest_path;
        if (names.size() == 1) {
          throw ManifestError(file + ": dependencies: \"" + names[0] + "\" depends on itself");
        }
        std::string cycle;
        for (const std::string& n : names) {
          cycle += n + " -> ";
        }
        std::string message = file;
        message += ": dependencies: ";
        message += listed(names);
        message += " depend on each other (";
        message += cycle;
        message += names[0];
        message += ")";
        throw ManifestError(message);
      }
      if (marks[dep] == Mark::kNew) {
        self(self, dep);
      }
    }
    path.pop_back();
    marks[at] = Mark::kDone;
  };
  for (size_t i = 0; i < modules_.size(); ++i) {
    if (marks[i] == Mark::kNew) {
      visit(visit, i);
    }
  }
}

std::vector<size_t> ModuleGraph::loadOrder(const std::vector<std::string>& wanted) const {
  std::vector<size_t> order;
  std::vector<bool> placed(modules_.size(), false);
  // Depth first, each module after everything it depends on (post-order).
  const auto place = [&](const auto& self, size_t at) -> void {
    if (placed[at]) {
      return;
    }
    placed[at] = true;
    for (const size_t dep : depends_on_[at]) {
      self(self, dep);
    }
    order.push_back(at);
  };
  for (const std::string& name : wanted) {
    if (const auto it = index_.find(name); it != index_.end()) {
      place(place, it->second);
    }
  }
  return order;
}

std::vector<ModuleManifest> discoverModules(const std::string& modules_dir,
                                            const std::vector<ConfigOverride>& overrides) {
  std::error_code ec;
  if (!fs::is_directory(modules_dir, ec)) {
    throw ManifestError("modules directory '" + modules_dir +
                        "' does not exist or is not a directory (set it with --modules-dir or "
                        "PROMPT_MODULES_DIR)");
  }
  std::vector<std::string> files;
  for (const auto& entry : fs::directory_iterator(modules_dir, ec)) {
    const fs::path candidate = entry.path() / "module.yaml";
    if (entry.is_directory() && fs::exists(candidate)) {
      files.push_back(candidate.string());
    }
  }
  std::sort(files.begin(), files.end());
  std::vector<ModuleManifest> modules;
  std::map<std::string, std::string> owner_of_command;
  std::map<std::string, std::string> file_of_module;
  for (const std::string& file : files) {
    ModuleManifest m = loadManifest(file, overrides);
    if (auto [it, fresh] = file_of_module.emplace(m.name, m.manifest_path); !fresh) {
      throw ManifestError(m.manifest_path + ": name: module \"" + m.name +
                          "\" is also declared by " + it->second);
    }
    for (const CommandSpec& c : m.commands) {
      if (auto [it, fresh] = owner_of_command.emplace(c.name, m.name); !fresh) {
        throw ManifestError(m.manifest_path + ": commands: \"" + c.name +
                            "\" is also declared by module \"" + it->second + "\"");
      }
    }
    modules.push_back(std::move(m));
  }
  std::sort(modules.begin(), modules.end(),
            [](const auto& a, const auto& b) { return a.name < b.name; });
  const ModuleGraph graph(modules);
  graph.requireDependenciesInstalled(modules_dir);
  for (const ConfigOverride& o : overrides) {
    if (file_of_module.count(o.module) == 0) {
      throw OverrideError(o.origin + ": no module named " + quotedText(o.module) +
                          " is installed in " + modules_dir);
    }
  }
  // Now, so that loadOrder can trust the graph.
  graph.requireAcyclic();
  return modules;
}

std::vector<const ModuleManifest*> loadOrder(const std::vector<ModuleManifest>& all,
                                             const std::vector<std::string>& wanted) {
  std::vector<const ModuleManifest*> order;
  for (const size_t i : ModuleGraph(all).loadOrder(wanted)) {
    order.push_back(&all[i]);
  }
  return order;
}

}  // namespace host
