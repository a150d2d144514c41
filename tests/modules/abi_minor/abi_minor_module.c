/* A module that exercises what ABI 1.1 added on the module's side:
 *  - sp_module_command.ctx: one function serves every command, told apart by its ctx;
 *    abiminor:third leaves ctx NULL, so the host passes module_ctx;
 *  - sp_module.cleanup_interval_ms: the interval config.cleanupMs names (0: no timer).
 * With config `layout: "1.0"` it is laid out as a module built against ABI 1.0: abi_minor 0,
 * command elements of SP_MODULE_COMMAND_SIZE_1_0 bytes. A host that read ctx from those
 * would get the next element's name, or for the last one the trap pointer after the array,
 * and the handler says "ctx=unknown" or "ctx=first" instead of "ctx=module". The 1.0 layout
 * also leaves 7 in cleanup_interval_ms, as stale memory would: a host must not read it from
 * a 1.0 module, and runs such a module's cleanup at its own default instead.
 * Every ctx is compared by address only, never dereferenced, so a wrong one is reported,
 * not crashed on. */
#include <stdio.h>
#include <string.h>

#include "systemprompt/module_abi.h"

static const char kModuleState[] = "module";
static const char kFirstState[] = "first";
static const char kSecondState[] = "second";

static const char* label(const void* ctx) {
  if (ctx == kModuleState) {
    return "module";
  }
  if (ctx == kFirstState) {
    return "first";
  }
  if (ctx == kSecondState) {
    return "second";
  }
  return "unknown";
}

static int run(void* ctx, const char* args_json, const sp_command_io* io, sp_error* error) {
  char line[64];
  const int n = snprintf(line, sizeof(line), "ctx=%s\n", label(ctx));
  (void)args_json;
  (void)error;
  return io->write(io->io_ctx, SP_STREAM_STDOUT, line, (size_t)n) == 0 ? SP_EXIT_OK
                                                                       : SP_EXIT_FAILURE;
}

static sp_status cleanup(void* ctx, sp_error* error) {
  (void)ctx;
  (void)error;
  return SP_OK;
}

/* ABI 1.0's sp_module_command: what a module built against the 1.0 header laid out. */
typedef struct command_1_0 {
  const char* name;
  sp_module_command_fn run;
} command_1_0;
_Static_assert(sizeof(command_1_0) == SP_MODULE_COMMAND_SIZE_1_0, "ABI 1.0's command layout");

static sp_module_command commands[3];
static struct {
  command_1_0 commands[3];
  const void* trap; /* where a host reading a 1.1 ctx past the last 1.0 element would look */
} legacy;

static int configured(const sp_host_api* host, const char* pair) {
  return host->config_json != NULL && strstr(host->config_json, pair) != NULL;
}

/* config.cleanupMs, a whole number; 0 when absent or unreadable. */
static uint64_t cleanupMs(const sp_host_api* host) {
  const char* at = host->config_json != NULL ? strstr(host->config_json, "\"cleanupMs\":") : NULL;
  uint64_t ms = 0;
  if (at == NULL) {
    return 0;
  }
  for (at += strlen("\"cleanupMs\":"); *at >= '0' && *at <= '9'; ++at) {
    ms = ms * 10 + (uint64_t)(*at - '0');
  }
  return ms;
}

SP_MODULE_EXPORT sp_status module_init(const sp_host_api* host, sp_module* out, sp_error* error) {
  const char* names[3] = {"abiminor:first", "abiminor:second", "abiminor:third"};
  void* contexts[3] = {(void*)kFirstState, (void*)kSecondState, NULL};
  size_t i = 0;
  (void)error;
  out->abi_major = SP_ABI_VERSION_MAJOR;
  out->log_field_size = sizeof(sp_log_field);
  out->module_ctx = (void*)kModuleState;
  out->command_count = 3;
  out->health = NULL;
  out->cleanup = configured(host, "\"cleanup\":false") ? NULL : &cleanup;
  if (configured(host, "\"layout\":\"1.0\"")) {
    out->abi_minor = 0;
    for (i = 0; i < 3; ++i) {
      legacy.commands[i].name = names[i];
      legacy.commands[i].run = &run;
    }
    legacy.trap = kFirstState;
    out->commands = (const sp_module_command*)(const void*)legacy.commands;
    out->command_size = sizeof(command_1_0);
    if (out->size >= SP_MODULE_SIZE_1_1) {
      out->cleanup_interval_ms = 7;
    }
    return SP_OK;
  }
  out->abi_minor = SP_ABI_VERSION_MINOR;
  for (i = 0; i < 3; ++i) {
    commands[i].name = names[i];
    commands[i].run = &run;
    commands[i].ctx = contexts[i];
  }
  out->commands = commands;
  out->command_size = sizeof(sp_module_command);
  if (out->size >= SP_MODULE_SIZE_1_1) {
    out->cleanup_interval_ms = cleanupMs(host);
  }
  return SP_OK;
}
