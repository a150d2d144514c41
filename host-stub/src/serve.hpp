// `prompt serve`: boot mode.
#pragma once

#include "module_host.hpp"

namespace host {

// Runs an Asio io_context with one timer per module that declares `cleanupInterval`,
// calling the module's cleanup entry point at that interval, until SIGINT or SIGTERM. Then:
// timers cancelled, io_context stopped, every module shut down, libraries unloaded last.
// REQUIRED: modules are loaded. Returns the exit code (0 after a signal).
int serve(ModuleHost& modules);

}  // namespace host
