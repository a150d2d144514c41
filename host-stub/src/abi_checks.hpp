// ABI checks: what module_init returned, read by module_abi.h's rules. Validates the tables
// (element sizes, NULL arrays, names and handlers, commands against the manifest) and reads
// the members added after 1.0 only where the declared sizes and minor cover them.
#pragma once

#include <chrono>
#include <string>

#include "manifest.hpp"
#include "systemprompt/module_abi.h"

namespace host {

// Element `i` of an array whose elements are `stride` bytes apart (the module's sizeof).
// REQUIRED: the array was checked by checkModuleTables; i < its count.
template <typename T>
const T& abiElement(const T* array, size_t stride, size_t i) {
  return *reinterpret_cast<const T*>(reinterpret_cast<const unsigned char*>(array) + i * stride);
}

// Refuses (LoadError) tables that break module_abi.h's rules or do not match the manifest:
// log_field_size, a NULL array with a non-zero count, an element size below 1.0's or
// misaligned, too many services, a NULL name, handler or table, a command handled twice,
// undeclared or not handled, and a cleanup interval the host cannot time. `who` names the
// module in messages ("module 'api'").
void checkModuleTables(const sp_module& module, const ModuleManifest& manifest,
                       const std::string& who);

// The first argument of command `command`'s `run`: its own ctx when the module's
// command_size covers it (1.1) and it is not NULL, else module_ctx.
void* commandContext(const sp_module& module, const sp_module_command& command);

// How often `prompt serve` runs the cleanup of a module that asks for none itself: one built
// for ABI 1.0, which cannot say.
constexpr std::chrono::milliseconds kDefaultCleanupInterval{300'000};
// The longest interval the host times (a year); a module that asks for more is refused.
constexpr std::chrono::milliseconds kMaxCleanupInterval{31'536'000'000};

// How often the host runs the module's cleanup; zero for none. No cleanup entry: none. A
// module of minor 1 or later: the cleanup_interval_ms it stated (0 asks for none). A 1.0
// module: kDefaultCleanupInterval. REQUIRED: checkModuleTables passed.
std::chrono::milliseconds cleanupInterval(const sp_module& module);

// Whether `prompt serve` starts and stops the module's own serving (ABI 1.3: serve_start and
// serve_stop set; checkModuleTables refused one without the other).
bool servesItself(const sp_module& module);

}  // namespace host
