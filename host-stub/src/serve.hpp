// `prompt serve`: boot mode.
#pragma once

#include "module_host.hpp"

namespace host {

// Blocks SIGINT and SIGTERM in this thread (and threads it starts), so that one arriving
// during start-up (discovery, loading modules) waits for serve() instead of killing the
// process mid-load. main() holds them first thing; every command but serve releases them.
void holdStopSignals();
// Unblocks SIGINT and SIGTERM; one held meanwhile is delivered now.
void releaseStopSignals();

// Runs an Asio io_context with one timer per module that has a cleanup entry point and an
// interval (LoadedModule::cleanupInterval: the one the module states in sp_module, the
// host's default of 5 minutes for an ABI 1.0 module; none when it states 0), calling the
// cleanup that long after its previous run ended, until SIGINT or SIGTERM. Then: timers cancelled,
// io_context stopped (no cleanup starts after "stopping"), every module shut down, libraries
// unloaded last (each logged at info). REQUIRED: modules are loaded. Returns the exit code (0 after
// a signal).
int serve(ModuleHost& modules);

}  // namespace host
