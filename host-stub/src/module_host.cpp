#include "module_host.hpp"

#include <signal.h>
#include <termios.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/dll/shared_library.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <set>

#include "state_dir.hpp"

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

// Element `i` of an array whose elements are `stride` bytes apart (the module's sizeof).
template <typename T>
const T& element(const T* array, size_t stride, size_t i) {
  return *reinterpret_cast<const T*>(reinterpret_cast<const unsigned char*>(array) + i * stride);
}

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

// More than any module declares; a larger count is garbage, not a table.
constexpr size_t kMaxServices = 1024;

// The errno of stdout's first failed write or flush; 0 while none failed.
std::atomic<int>& stdoutFailure() {
  static std::atomic<int> first_errno{0};
  return first_errno;
}

void rememberStdoutFailure(int error_number) {
  int none = 0;
  stdoutFailure().compare_exchange_strong(none, error_number != 0 ? error_number : EIO);
}

bool flushStdout() {
  if (std::fflush(stdout) != 0) {
    rememberStdoutFailure(errno);
  } else if (std::ferror(stdout) != 0) {
    rememberStdoutFailure(EIO);
  }
  return stdoutFailure().load() == 0;
}

// The command's terminal: the host process's own stdin, stdout and stderr.
int writeStream(void* /*ctx*/, sp_stream stream, const char* data, size_t length) {
  if (stream == SP_STREAM_STDERR) {
    return std::fwrite(data, 1, length, stderr) == length ? 0 : -1;
  }
  // Flushed at once: a module must learn that its output was lost while it can still act
  // on it (a new key whose secret never reached anyone is revoked, not left active).
  return writeStdout(std::string_view(data, length)) && flushStdout() ? 0 : -1;
}

// One line of stdin into `buffer` (see sp_command_io.read_line): at most capacity - 1 bytes
// and a NUL, without the '\n' and one '\r' before it. Reads byte by byte and stops at the
// line's end, so a line too long is refused after `capacity` bytes, not read whole.
long readBoundedLine(char* buffer, size_t capacity) {
  if (buffer == nullptr || capacity == 0) {
    return SP_READ_END;
  }
  flushStdout();  // a prompt written without a newline must show before we block
  const size_t fits = capacity - 1;
  size_t length = 0;
  bool any = false;  // anything at all was read
  for (;;) {
    const int c = std::getc(stdin);
    if (c == EOF) {
      break;
    }
    any = true;
    if (c == '\n') {
      break;
    }
    if (length == fits) {
      // Full: only the line's end may follow (a "\r\n" ending included). One byte goes
      // back (all that ungetc promises); a '\r' before it stays read, inside a line refused.
      int after = c;
      if (c == '\r') {
        after = std::getc(stdin);
        if (after == '\n' || after == EOF) {
          break;
        }
      }
      std::ungetc(after, stdin);
      ::explicit_bzero(buffer, capacity);  // it may hold part of a secret
      return SP_READ_TOO_LONG;
    }
    buffer[length++] = static_cast<char>(c);
  }
  if (!any) {
    buffer[0] = '\0';
    return SP_READ_END;
  }
  if (length > 0 && buffer[length - 1] == '\r') {
    --length;
  }
  buffer[length] = '\0';
  return static_cast<long>(length);
}

long readLine(void* /*ctx*/, char* buffer, size_t capacity) {
  return readBoundedLine(buffer, capacity);
}

// The terminal settings to put back when a signal ends the process during a quiet read
// (POD, written before the handlers are installed and only read by them).
termios& savedTerminal() {
  static termios saved{};
  return saved;
}

constexpr int kQuietReadSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGTSTP};

extern "C" void restoreTerminalAndRaise(int signal_number) {
  ::tcsetattr(STDIN_FILENO, TCSANOW, &savedTerminal());
  ::signal(signal_number, SIG_DFL);
  ::raise(signal_number);
}

// As readLine, with the terminal's echo off while the user types (when stdin is one). The
// echo comes back however the read ends: a line, the end of input, a line too long, or a
// signal (Ctrl-C) that ends the process.
long readSecret(void* /*ctx*/, char* buffer, size_t capacity) {
  termios& saved = savedTerminal();
  if (::isatty(STDIN_FILENO) == 0 || ::tcgetattr(STDIN_FILENO, &saved) != 0) {
    return readBoundedLine(buffer, capacity);
  }
  struct sigaction restore {};
  restore.sa_handler = &restoreTerminalAndRaise;
  sigemptyset(&restore.sa_mask);
  struct sigaction previous[std::size(kQuietReadSignals)]{};
  for (size_t i = 0; i < std::size(kQuietReadSignals); ++i) {
    ::sigaction(kQuietReadSignals[i], &restore, &previous[i]);
  }
  termios quiet = saved;
  quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
  // TCSANOW, not TCSAFLUSH: a key pasted before the prompt showed is read, not thrown away.
  const bool silenced = ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet) == 0;
  const long n = readBoundedLine(buffer, capacity);
  if (silenced) {
    ::tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    std::fputc('\n', stderr);  // the user's Enter was not echoed
  }
  for (size_t i = 0; i < std::size(kQuietReadSignals); ++i) {
    ::sigaction(kQuietReadSignals[i], &previous[i], nullptr);
  }
  return n;
}

}  // namespace

bool writeStdout(std::string_view text) noexcept {
  errno = 0;
  const bool written = std::fwrite(text.data(), 1, text.size(), stdout) == text.size();
  if (!written || std::ferror(stdout) != 0) {
    rememberStdoutFailure(errno);  // an earlier failure, when this write itself went well
    return false;
  }
  return stdoutFailure().load() == 0;
}

int finishStdout() noexcept {
  flushStdout();
  return stdoutFailure().load();
}

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
  sp_module_command_fn run = nullptr;
  for (size_t i = 0; i < module.commandCount(); ++i) {
    if (command == module.command(i).name) {
      run = module.command(i).run;
    }
  }
  if (run == nullptr) {
    std::fprintf(stderr, "error: module '%s' has no handler for %s\n",
                 module.manifest().name.c_str(), command.c_str());
    return SP_EXIT_FAILURE;
  }
  sp_command_io io{};
  io.size = sizeof(io);
  io.write = &writeStream;
  io.read_line = &readLine;
  io.read_secret = &readSecret;
  io.stdin_is_terminal = ::isatty(STDIN_FILENO);
  io.stdout_is_terminal = ::isatty(STDOUT_FILENO);
  sp_error error = newError();
  int exit_code = SP_EXIT_FAILURE;
  try {
    exit_code = run(table.module_ctx, args_json.c_str(), &io, &error);
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
  checkTables(who);
}

void LoadedModule::checkTables(const std::string& who) const {
  const std::string refused = who + " (" + manifest_.library + ") is refused: ";
  if (module_.log_field_size < SP_LOG_FIELD_SIZE_1_0 ||
      module_.log_field_size % alignof(sp_log_field) != 0) {
    throw LoadError(refused + "sp_module.log_field_size is " +
                    std::to_string(module_.log_field_size) +
                    "; module_init must set it to sizeof(sp_log_field)");
  }
  std::string problem = arrayProblem(module_.commands, module_.command_count, module_.command_size,
                                     SP_MODULE_COMMAND_SIZE_1_0, "command");
  if (problem.empty()) {
    problem = arrayProblem(module_.services, module_.service_count, module_.service_size,
                           SP_MODULE_SERVICE_SIZE_1_0, "service");
  }
  if (problem.empty() && module_.service_count > kMaxServices) {
    problem = "sp_module.service_count is " + std::to_string(module_.service_count) +
              ", more than the " + std::to_string(kMaxServices) + " a module may export";
  }
  if (!problem.empty()) {
    throw LoadError(refused + problem);
  }
  // The library must handle exactly the declared commands, once each. Walking one element
  // past the declared count is enough to find an extra one (it is undeclared or a
  // duplicate), and a garbage count is never walked further.
  std::set<std::string> handled;
  const size_t walked = std::min(commandCount(), manifest_.commands.size() + 1);
  for (size_t i = 0; i < walked; ++i) {
    const sp_module_command& c = command(i);
    if (c.name == nullptr || c.run == nullptr) {
      throw LoadError(refused + "command #" + std::to_string(i) + " has a NULL " +
                      (c.name == nullptr ? "name" : "handler"));
    }
    const bool declared = std::any_of(manifest_.commands.begin(), manifest_.commands.end(),
                                      [&](const CommandSpec& spec) { return spec.name == c.name; });
    if (!declared) {
      throw LoadError(who + ": the library handles command " + std::string(c.name) + ", which " +
                      manifest_.manifest_path + " does not declare");
    }
    if (!handled.insert(c.name).second) {
      throw LoadError(refused + "the library handles command " + std::string(c.name) + " twice");
    }
  }
  for (const CommandSpec& declared : manifest_.commands) {
    if (handled.count(declared.name) == 0) {
      throw LoadError(who + ": " + manifest_.manifest_path + " declares command " + declared.name +
                      ", but the library has no handler for it");
    }
  }
  for (size_t i = 0; i < serviceCount(); ++i) {
    const sp_module_service& s = service(i);
    if (s.name == nullptr || s.table == nullptr) {
      throw LoadError(refused + "service #" + std::to_string(i) + " has a NULL " +
                      (s.name == nullptr ? "name" : "table"));
    }
  }
}

const sp_module_command& LoadedModule::command(size_t i) const {
  return element(module_.commands, module_.command_size, i);
}

const sp_module_service& LoadedModule::service(size_t i) const {
  return element(module_.services, module_.service_size, i);
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
    const sp_log_field& field = element(fields, stride, i);
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
