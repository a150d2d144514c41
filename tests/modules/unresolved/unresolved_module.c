/* A module that calls a function no library defines. Bound lazily it would load, then crash
 * at the first call; the host binds every symbol at load, so it is refused with the
 * symbol's name instead. */
#include "systemprompt/module_abi.h"

extern int sp_test_function_nobody_defines(void);

static int call(void* ctx, const char* args_json, const sp_command_io* io, sp_error* error) {
  (void)ctx;
  (void)args_json;
  (void)io;
  (void)error;
  return sp_test_function_nobody_defines();
}

static const sp_module_command kCommands[] = {{"unresolved:call", &call, NULL}};

SP_MODULE_EXPORT sp_status module_init(const sp_host_api* host, sp_module* out, sp_error* error) {
  (void)host;
  (void)error;
  out->abi_major = SP_ABI_VERSION_MAJOR;
  out->abi_minor = SP_ABI_VERSION_MINOR;
  out->commands = kCommands;
  out->command_count = 1;
  out->command_size = sizeof(kCommands[0]);
  return SP_OK;
}
