// ABI checks: module_init's tables validated, and members after 1.0 read by size and minor.
#include "abi_checks.hpp"

#include <algorithm>
#include <set>

#include "module_host.hpp"

namespace host {
namespace {

// More than any module declares; a larger count is garbage, not a table.
constexpr size_t kMaxServices = 1024;

// Whether an array of `count` elements of `stride` bytes can be read as T: at least T's
// 1.0 layout, aligned for T. Empty arrays need nothing.
template <typename T>
std::string arrayProblem(const T* array, size_t count, uint32_t stride, size_t size_1_0,
                         const char* what) {
  if (count == 0) {
    return {};
  }
  if (array == nullptr) {
    return std::string("sp_module.") + what + "s is NULL but " + what + "_count is " +
           std::to_string(count);
  }
  if (stride < size_1_0 || stride % alignof(T) != 0) {
    return std::string("sp_module.") + what + "_size is " + std::to_string(stride) +
           "; it must be the module's sizeof of its elements, at least " +
           std::to_string(size_1_0) + " (ABI 1.0)";
  }
  return {};
}

// The host fills sp_module.size with its own sizeof, so it always covers what it reads.
static_assert(sizeof(sp_module) >= SP_MODULE_SIZE_1_3);

bool statesCleanupInterval(const sp_module& module) {
  return module.abi_minor >= 1 && module.size >= SP_MODULE_SIZE_1_1;
}

}  // namespace

void checkModuleTables(const sp_module& module, const ModuleManifest& manifest,
                       const std::string& who) {
  const std::string refused = who + " (" + manifest.library + ") is refused: ";
  if (module.log_field_size < SP_LOG_FIELD_SIZE_1_0 ||
      module.log_field_size % alignof(sp_log_field) != 0) {
    throw LoadError(refused + "sp_module.log_field_size is " +
                    std::to_string(module.log_field_size) +
                    "; module_init must set it to sizeof(sp_log_field)");
  }
  std::string problem = arrayProblem(module.commands, module.command_count, module.command_size,
                                     SP_MODULE_COMMAND_SIZE_1_0, "command");
  if (problem.empty()) {
    problem = arrayProblem(module.services, module.service_count, module.service_size,
                           SP_MODULE_SERVICE_SIZE_1_0, "service");
  }
  if (problem.empty() && module.service_count > kMaxServices) {
    problem = "sp_module.service_count is " + std::to_string(module.service_count) +
              ", more than the " + std::to_string(kMaxServices) + " a module may export";
  }
  if (problem.empty() && module.cleanup != nullptr && statesCleanupInterval(module) &&
      module.cleanup_interval_ms > static_cast<uint64_t>(kMaxCleanupInterval.count())) {
    problem = "sp_module.cleanup_interval_ms is " + std::to_string(module.cleanup_interval_ms) +
              ", more than the " + std::to_string(kMaxCleanupInterval.count()) +
              " (a year) the host times; 0 asks for no cleanup timer";
  }
  if (problem.empty() && module.abi_minor >= 3 && module.size >= SP_MODULE_SIZE_1_3 &&
      (module.serve_start == nullptr) != (module.serve_stop == nullptr)) {
    problem = std::string("sp_module.") +
              (module.serve_start == nullptr ? "serve_stop" : "serve_start") +
              " is set without its partner; set both or neither";
  }
  if (!problem.empty()) {
    throw LoadError(refused + problem);
  }
  // The library must handle exactly the declared commands, once each. Walking one element
  // past the declared count is enough to find an extra one (it is undeclared or a
  // duplicate), and a garbage count is never walked further.
  std::set<std::string> handled;
  const size_t walked = std::min(module.command_count, manifest.commands.size() + 1);
  for (size_t i = 0; i < walked; ++i) {
    const sp_module_command& c = abiElement(module.commands, module.command_size, i);
    if (c.name == nullptr || c.run == nullptr) {
      throw LoadError(refused + "command #" + std::to_string(i) + " has a NULL " +
                      (c.name == nullptr ? "name" : "handler"));
    }
    const bool declared = std::any_of(manifest.commands.begin(), manifest.commands.end(),
                                      [&](const CommandSpec& spec) { return spec.name == c.name; });
    if (!declared) {
      throw LoadError(who + ": the library handles command " + std::string(c.name) + ", which " +
                      manifest.manifest_path + " does not declare");
    }
    if (!handled.insert(c.name).second) {
      throw LoadError(refused + "the library handles command " + std::string(c.name) + " twice");
    }
  }
  for (const CommandSpec& declared : manifest.commands) {
    if (handled.count(declared.name) == 0) {
      throw LoadError(who + ": " + manifest.manifest_path + " declares command " + declared.name +
                      ", but the library has no handler for it");
    }
  }
  for (size_t i = 0; i < module.service_count; ++i) {
    const sp_module_service& s = abiElement(module.services, module.service_size, i);
    if (s.name == nullptr || s.table == nullptr) {
      throw LoadError(refused + "service #" + std::to_string(i) + " has a NULL " +
                      (s.name == nullptr ? "name" : "table"));
    }
  }
}

void* commandContext(const sp_module& module, const sp_module_command& command) {
  if (module.command_size >= SP_MODULE_COMMAND_SIZE_1_1 && command.ctx != nullptr) {
    return command.ctx;
  }
  return module.module_ctx;
}

bool servesItself(const sp_module& module) {
  return module.abi_minor >= 3 && module.size >= SP_MODULE_SIZE_1_3 &&
         module.serve_start != nullptr && module.serve_stop != nullptr;
}

std::chrono::milliseconds cleanupInterval(const sp_module& module) {
  if (module.cleanup == nullptr) {
    return std::chrono::milliseconds::zero();
  }
  if (!statesCleanupInterval(module)) {
    return kDefaultCleanupInterval;
  }
  return std::chrono::milliseconds(static_cast<std::int64_t>(module.cleanup_interval_ms));
}

}  // namespace host
