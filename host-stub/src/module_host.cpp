#include "module_host.hpp"

#include <unistd.h>

#include <boost/dll/shared_library.hpp>
#include <cstdio>

#include "abi_checks.hpp"
#include "command_io.hpp"
#include "state_dir.hpp"
#include "stdout_latch.hpp"

namespace host {
namespace {

constexpr int kMaxModuleExitCode = 125;

std::string abiVersion(uint32_t major, uint32_t minor) {
  return std::to_string(major) + "." + std::to_string(minor);
}

sp_error newError() {
  sp_error error{};
  error.size = sizeof(error);
  return error;
}

// A message buffer the module wrote: terminated here, whatever the module did.
template <size_t N>
const char* terminated(char (&buffer)[N]) {
  buffer[N - 1] = '\0';
  return buffer;
}

}  // namespace

ModuleHost::ModuleHost(Log& log, std::string state_root)
    : log_(log), state_root_(std::move(state_root)) {}

ModuleHost::~ModuleHost() {
  shutdownAll();
}

LoadedModule& ModuleHost::load(const ModuleManifest& manifest) {
  const std::string state_dir = state_root_ + "/" + manifest.name;
  try {
    // The root may be a link the user made; a module's own directory may not.
    makePrivateDirectory(state_root_, "state directory", /*allow_symlink=*/true);
    makePrivateDirectory(state_dir, "module '" + manifest.name + "' state directory",
                         /*allow_symlink=*/false);
  } catch (const std::runtime_error& e) {
    throw LoadError(e.what());
  }
  auto module = std::make_unique<LoadedModule>(*this, manifest, state_dir);
  module->init();
  try {
    for (const ServiceSpec& declared : manifest.exports) {
      bool served = false;
      for (size_t i = 0; i < module->serviceCount(); ++i) {
        const sp_module_service& s = module->service(i);
        served = served || (declared.name == s.name && declared.version_major == s.version_major &&
                            declared.version_minor <= s.version_minor);
      }
      if (!served) {
        throw LoadError("module '" + manifest.name + "': " + manifest.manifest_path + " exports " +
                        declared.name + " v" + std::to_string(declared.version_major) + "." +
                        std::to_string(declared.version_minor) +
                        ", but the library does not serve that version or a later minor");
      }
    }
    for (size_t i = 0; i < module->serviceCount(); ++i) {
      const sp_module_service& s = module->service(i);
      registry_.add(manifest.name, s.name, s.version_major, s.version_minor, s.table);
    }
  } catch (...) {
    registry_.removeModule(manifest.name);
    module->shutdown();
    module->unload();
    throw;
  }
  log_.write(SP_LOG_DEBUG, "host", "module loaded",
             {{"module", manifest.name}, {"library", manifest.library}});
  modules_.push_back(std::move(module));
  return *modules_.back();
}

int ModuleHost::runCommand(LoadedModule& module, const std::string& command,
                           const std::string& args_json) {
  const sp_module& table = module.table();
  const sp_module_command* found = nullptr;
  for (size_t i = 0; i < module.commandCount(); ++i) {
    if (command == module.command(i).name) {
      found = &module.command(i);
    }
  }
  if (found == nullptr) {
    std::fprintf(stderr, "error: module '%s' has no handler for %s\n",
                 module.manifest().name.c_str(), command.c_str());
    return SP_EXIT_FAILURE;
  }
  const sp_command_io io = terminalCommandIo();
  sp_error error = newError();
  int exit_code = SP_EXIT_FAILURE;
  try {
    exit_code = found->run(commandContext(table, *found), args_json.c_str(), &io, &error);
  } catch (const std::exception& e) {  // a module broke the no-throw rule
    std::snprintf(error.message, sizeof(error.message), "%s threw: %s", command.c_str(), e.what());
    exit_code = SP_EXIT_FAILURE;
  } catch (...) {
    std::snprintf(error.message, sizeof(error.message), "%s threw an unknown exception",
                  command.c_str());
    exit_code = SP_EXIT_FAILURE;
  }
  flushStdout();  // the command's output before the host's error, in order
  if (exit_code != SP_EXIT_OK && terminated(error.message)[0] != '\0') {
    std::fprintf(stderr, "error: %s\n", error.message);
  }
  // 126 and up mean "cannot execute", "not found" and "killed by a signal" to a shell, and
  // a process exit status keeps only the low 8 bits (256 would read as success).
  if (exit_code < 0 || exit_code > kMaxModuleExitCode) {
    log_.write(SP_LOG_WARN, "host", "command returned an exit code outside 0..125; exiting 1",
               {{"command", command}, {"exit_code", std::to_string(exit_code)}});
    exit_code = SP_EXIT_FAILURE;
  }
  return exit_code;
}

void ModuleHost::shutdownAll() {
  for (auto it = modules_.rbegin(); it != modules_.rend(); ++it) {
    registry_.removeModule((*it)->manifest().name);
    (*it)->shutdown();
    log_.write(SP_LOG_DEBUG, "host", "module shut down", {{"module", (*it)->manifest().name}});
  }
  for (auto it = modules_.rbegin(); it != modules_.rend(); ++it) {
    (*it)->unload();
  }
  modules_.clear();
}

LoadedModule::LoadedModule(ModuleHost& host, const ModuleManifest& manifest, std::string state_dir)
    : host_(host), manifest_(manifest), state_dir_(std::move(state_dir)) {}

LoadedModule::~LoadedModule() {
  shutdown();
  unload();
}

void LoadedModule::init() {
  const std::string who = "module '" + manifest_.name + "'";
  if (::access(manifest_.library.c_str(), F_OK) != 0) {
    throw LoadError(who + ": library '" + manifest_.library + "' (from " + manifest_.manifest_path +
                    ") does not exist");
  }
  try {
    // Every symbol is bound now: a library that needs a missing one is refused here, by
    // name, instead of crashing at its first call.
    library_ = std::make_unique<boost::dll::shared_library>(
        manifest_.library, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const std::exception& e) {
    throw LoadError(who + ": cannot load library '" + manifest_.library + "': " + e.what());
  }
  if (!library_->has(SP_MODULE_INIT_SYMBOL)) {
    throw LoadError(who + ": library '" + manifest_.library + "' does not export " +
                    SP_MODULE_INIT_SYMBOL +
                    "; is it a SystemPrompt module built against systemprompt/module_abi.h?");
  }
  auto& init =
      library_->get<sp_status(const sp_host_api*, sp_module*, sp_error*)>(SP_MODULE_INIT_SYMBOL);

  api_.size = sizeof(api_);
  api_.abi_major = SP_ABI_VERSION_MAJOR;
  api_.abi_minor = SP_ABI_VERSION_MINOR;
  api_.host_ctx = this;
  api_.module_name = manifest_.name.c_str();
  api_.config_json = manifest_.config_json.c_str();
  api_.state_dir = state_dir_.c_str();
  api_.log = &logThunk;
  api_.log_enabled = &logEnabledThunk;
  api_.get_service = &getServiceThunk;

  module_ = sp_module{};
  module_.size = sizeof(module_);
  sp_error error = newError();
  sp_status status = SP_ERROR;
  try {
    status = init(&api_, &module_, &error);
  } catch (const std::exception& e) {
    throw LoadError(who + ": module_init threw: " + e.what());
  } catch (...) {
    throw LoadError(who + ": module_init threw an unknown exception");
  }
  const std::string host_abi = abiVersion(SP_ABI_VERSION_MAJOR, SP_ABI_VERSION_MINOR);
  if (module_.abi_major != SP_ABI_VERSION_MAJOR) {
    // Whatever it returned, its tables are laid out for another ABI: touch nothing.
    throw LoadError(who + " (" + manifest_.library + ") was built for module ABI " +
                    abiVersion(module_.abi_major, module_.abi_minor) + ", but this host speaks " +
                    host_abi + "; rebuild it against module_abi.h " +
                    std::to_string(SP_ABI_VERSION_MAJOR) + ".x");
  }
  if (status != SP_OK) {
    throw LoadError(who + ": initialisation failed: " +
                    (terminated(error.message)[0] != '\0' ? error.message : "no reason given"));
  }
  initialised_ = true;  // from here a failure still shuts the module down
  checkModuleTables(module_, manifest_, who);
}

const sp_module_command& LoadedModule::command(size_t i) const {
  return abiElement(module_.commands, module_.command_size, i);
}

const sp_module_service& LoadedModule::service(size_t i) const {
  return abiElement(module_.services, module_.service_size, i);
}

void LoadedModule::shutdown() {
  if (initialised_ && module_.shutdown != nullptr) {
    module_.shutdown(module_.module_ctx);
  }
  initialised_ = false;
}

void LoadedModule::unload() {
  if (library_ != nullptr) {
    library_->unload();
    library_.reset();
    host_.log().write(SP_LOG_INFO, "host", "library unloaded",
                      {{"module", manifest_.name}, {"library", manifest_.library}});
  }
}

std::pair<bool, std::string> LoadedModule::health() {
  if (module_.health == nullptr) {
    return {true, "loaded (no health check)"};
  }
  sp_health out{};
  out.size = sizeof(out);
  sp_error error = newError();
  if (module_.health(module_.module_ctx, &out, &error) != SP_OK) {
    return {false, std::string("health check failed: ") + terminated(error.message)};
  }
  return {out.healthy != 0, terminated(out.detail)};
}

std::chrono::milliseconds LoadedModule::cleanupInterval() const {
  return host::cleanupInterval(module_);
}

std::string LoadedModule::cleanup() {
  if (module_.cleanup == nullptr) {
    return {};
  }
  sp_error error = newError();
  if (module_.cleanup(module_.module_ctx, &error) != SP_OK) {
    return terminated(error.message)[0] != '\0' ? error.message : "cleanup failed";
  }
  return {};
}

bool LoadedModule::servesItself() const {
  return host::servesItself(module_);
}

std::string LoadedModule::serveStart() {
  if (!servesItself()) {
    return {};
  }
  sp_error error = newError();
  if (module_.serve_start(module_.module_ctx, &error) != SP_OK) {
    return terminated(error.message)[0] != '\0' ? error.message : "serve_start failed";
  }
  return {};
}

std::string LoadedModule::serveStop(std::chrono::milliseconds deadline) {
  if (!servesItself()) {
    return {};
  }
  sp_error error = newError();
  if (module_.serve_stop(module_.module_ctx, static_cast<uint64_t>(deadline.count()), &error) !=
      SP_OK) {
    return terminated(error.message)[0] != '\0' ? error.message : "serve_stop failed";
  }
  return {};
}

void LoadedModule::logThunk(void* ctx, sp_log_level level, const char* message,
                            const sp_log_field* fields, size_t count) noexcept {
  try {
    logRecord(*static_cast<LoadedModule*>(ctx), level, message, fields, count);
  } catch (...) {  // a log record lost to a failed allocation must not cross into C
  }
}

void LoadedModule::logRecord(LoadedModule& self, sp_log_level level, const char* message,
                             const sp_log_field* fields, size_t count) {
  Log::Fields copied;
  const uint32_t stride = self.module_.log_field_size;
  if (count > 0 && (fields == nullptr || stride < SP_LOG_FIELD_SIZE_1_0 ||
                    stride % alignof(sp_log_field) != 0)) {
    copied.emplace_back("fields_dropped", std::to_string(count));  // cannot be read safely
    count = 0;
  }
  copied.reserve(count);
  for (size_t i = 0; i < count; ++i) {
    const sp_log_field& field = abiElement(fields, stride, i);
    copied.emplace_back(field.key != nullptr ? field.key : "",
                        field.value != nullptr ? field.value : "");
  }
  self.host_.log().write(level, self.manifest_.name, message != nullptr ? message : "", copied);
}

int LoadedModule::logEnabledThunk(void* ctx, sp_log_level level) noexcept {
  return static_cast<LoadedModule*>(ctx)->host_.log().enabled(level) ? 1 : 0;
}

const void* LoadedModule::getServiceThunk(void* ctx, const char* module, const char* service,
                                          uint32_t major, uint32_t min_minor,
                                          uint32_t* minor_out) noexcept {
  if (module == nullptr || service == nullptr) {
    return nullptr;
  }
  try {
    return static_cast<LoadedModule*>(ctx)->host_.services().find(module, service, major, min_minor,
                                                                  minor_out);
  } catch (...) {
    return nullptr;
  }
}

}  // namespace host
