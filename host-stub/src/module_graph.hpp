// The module graph: which modules are installed (every <modules dir>/<any>/module.yaml),
// checked together, and the order they load in: dependencies first, as a topological order
// over the dependency edges. An unknown dependency and a cycle are errors that name the
// manifest and the module (for a cycle, the whole cycle).
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "manifest.hpp"

namespace host {

// Facilities the host itself provides; a module may depend on them without a module of
// that name being installed.
const std::vector<std::string>& builtinDependencies();

// Every <dir>/<subdir>/module.yaml, sorted by module name, checked together: names and
// command names unique, dependencies present, no cycles, every override names a module
// found. Throws ManifestError (OverrideError for an override of a module not installed).
std::vector<ModuleManifest> discoverModules(const std::string& modules_dir,
                                            const std::vector<ConfigOverride>& overrides);

// `wanted` and their dependencies, each once, every module after its dependencies (wanted
// in the order given, each one's dependencies in the order it declares them). A name that
// is no installed module (a builtin facility) is skipped. REQUIRED: `all` came from
// discoverModules (validated, acyclic).
std::vector<const ModuleManifest*> loadOrder(const std::vector<ModuleManifest>& all,
                                             const std::vector<std::string>& wanted);

// The dependency edges between installed modules, by index into the manifests it was built
// from. REQUIRED: module names unique; `modules` outlives the graph.
class ModuleGraph {
 public:
  explicit ModuleGraph(const std::vector<ModuleManifest>& modules);

  // Throws ManifestError for the first dependency (in module order, then declared order)
  // that is neither an installed module nor a builtin facility.
  void requireDependenciesInstalled(const std::string& modules_dir) const;
  // Throws ManifestError naming a cycle ("a" -> "b" -> "a") when there is one.
  void requireAcyclic() const;
  // Indexes of `wanted` and their dependencies, dependencies first (see loadOrder).
  // REQUIRED: requireAcyclic() holds.
  std::vector<size_t> loadOrder(const std::vector<std::string>& wanted) const;

 private:
  const std::vector<ModuleManifest>& modules_;
  std::unordered_map<std::string, size_t> index_;  // module name -> its index in modules_
  std::vector<std::vector<size_t>> depends_on_;    // installed dependencies, declared order
};

}  // namespace host
