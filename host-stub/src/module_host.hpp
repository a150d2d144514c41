// Loads module libraries with Boost.DLL, runs the ABI handshake, and owns every loaded
// module until shutdown. Shutdown order (tested): each module's shutdown in reverse load
// order, then the libraries are unloaded, also in reverse order, last of all. The checks of
// what module_init returns are abi_checks', a command's terminal is command_io's.
#pragma once

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "log.hpp"
#include "manifest.hpp"
#include "service_registry.hpp"
#include "systemprompt/module_abi.h"

namespace boost::dll {
class shared_library;
}

namespace host {

// A module that could not be loaded; the message names the module, its library and why.
class LoadError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class LoadedModule;

class ModuleHost {
 public:
  // `state_root`: each module gets `<state_root>/<module name>`, created with mode 0700.
  ModuleHost(Log& log, std::string state_root);
  ~ModuleHost();
  ModuleHost(const ModuleHost&) = delete;
  ModuleHost& operator=(const ModuleHost&) = delete;

  // Loads one module. REQUIRED: its dependencies are loaded. Throws LoadError.
  LoadedModule& load(const ModuleManifest& manifest);

  // Loaded modules, in load order.
  const std::vector<std::unique_ptr<LoadedModule>>& modules() const { return modules_; }

  // Runs a command of a loaded module with its stdin/stdout/stderr; the handler gets the
  // command's own ctx when its element carries one (ABI 1.1), else module_ctx. Returns the
  // handler's exit code, or 1 (with a warning) when it is outside 0..125.
  int runCommand(LoadedModule& module, const std::string& command, const std::string& args_json);

  // Shuts every module down and unloads the libraries (idempotent; also run by the dtor).
  void shutdownAll();

  Log& log() { return log_; }
  const ServiceRegistry& services() const { return registry_; }

 private:
  Log& log_;
  std::string state_root_;
  ServiceRegistry registry_;
  std::vector<std::unique_ptr<LoadedModule>> modules_;
};

// One loaded module: its manifest, library and the tables it returned.
class LoadedModule {
 public:
  LoadedModule(ModuleHost& host, const ModuleManifest& manifest, std::string state_dir);
  ~LoadedModule();
  LoadedModule(const LoadedModule&) = delete;
  LoadedModule& operator=(const LoadedModule&) = delete;

  const ModuleManifest& manifest() const { return manifest_; }
  const sp_module& table() const { return module_; }

  // The module's command and service arrays, element by element at the element size the
  // module declared. REQUIRED: init() succeeded (it checked the arrays); i < the count.
  size_t commandCount() const { return module_.command_count; }
  const sp_module_command& command(size_t i) const;
  size_t serviceCount() const { return module_.service_count; }
  const sp_module_service& service(size_t i) const;

  // Calls module_init. Throws LoadError.
  void init();
  // Calls the module's shutdown once (idempotent).
  void shutdown();
  // Unloads the library. REQUIRED: shutdown() ran.
  void unload();

  // The module's health; a failure to ask becomes an unhealthy answer.
  std::pair<bool, std::string> health();
  // How often `prompt serve` runs cleanup(): the interval the module states (ABI 1.1), the
  // host's default for a 1.0 module, zero for none (no cleanup entry, or the module asks
  // for none). REQUIRED: init() succeeded.
  std::chrono::milliseconds cleanupInterval() const;
  // Runs the cleanup entry point; returns an error message, or empty on success.
  std::string cleanup();
  // Whether it serves on its own while `prompt serve` runs (ABI 1.3), and starting and
  // stopping that; each returns an error message, or empty on success.
  bool servesItself() const;
  std::string serveStart();
  std::string serveStop(std::chrono::milliseconds deadline);

 private:
  static void logThunk(void* ctx, sp_log_level level, const char* message,
                       const sp_log_field* fields, size_t count) noexcept;
  static void logRecord(LoadedModule& self, sp_log_level level, const char* message,
                        const sp_log_field* fields, size_t count);
  static int logEnabledThunk(void* ctx, sp_log_level level) noexcept;
  static const void* getServiceThunk(void* ctx, const char* module, const char* service,
                                     uint32_t major, uint32_t min_minor,
                                     uint32_t* minor_out) noexcept;

  ModuleHost& host_;
  ModuleManifest manifest_;
  std::string state_dir_;
  std::unique_ptr<boost::dll::shared_library> library_;
  sp_host_api api_{};
  sp_module module_{};
  bool initialised_ = false;
};

}  // namespace host
