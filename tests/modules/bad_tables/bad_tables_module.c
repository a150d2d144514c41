/* A module whose tables break module_abi.h's rules in the way its config's `defect` names,
 * so that the host is seen to refuse each with a clear load error instead of crashing.
 * With defect "none" it loads; its fill command and its health then fill their message
 * buffers to the last byte, with no terminating NUL. With defect "grown" its arrays have
 * elements larger than ABI 1.0's, as a module built for a later minor would. */
#include <string.h>

#include "systemprompt/module_abi.h"

/* Elements of a later minor: the 1.0 members, then one more. */
typedef struct grown_command {
  sp_module_command v1_0;
  const char* added_later;
} grown_command;
typedef struct grown_service {
  sp_module_service v1_0;
  const char* added_later;
} grown_service;
typedef struct grown_log_field {
  sp_log_field v1_0;
  const char* added_later;
} grown_log_field;

static int fill(void* ctx, const char* args_json, const sp_command_io* io, sp_error* error) {
  (void)ctx;
  (void)args_json;
  (void)io;
  memset(error->message, 'A', sizeof(error->message));
  return SP_EXIT_FAILURE;
}

static int ok(void* ctx, const char* args_json, const sp_command_io* io, sp_error* error) {
  (void)ctx;
  (void)args_json;
  (void)error;
  return io->write(io->io_ctx, SP_STREAM_STDOUT, "ok\n", 3) == 0 ? SP_EXIT_OK : SP_EXIT_FAILURE;
}

static sp_status health(void* ctx, sp_health* out, sp_error* error) {
  (void)ctx;
  (void)error;
  out->healthy = 1;
  memset(out->detail, 'H', sizeof(out->detail));
  return SP_OK;
}

static const int kServiceTable = 0; /* never called */

/* Two commands and a duplicate of the first; three services (BadService in two majors). */
static sp_module_command commands[3];
static sp_module_service services[3];
static grown_command grown_commands[2];
static grown_service grown_services[3];

static int is(const sp_host_api* host, const char* defect) {
  char needle[64] = "\"defect\":\"";
  strncat(needle, defect, sizeof(needle) - strlen(needle) - 2);
  strcat(needle, "\"");
  return host->config_json != NULL && strstr(host->config_json, needle) != NULL;
}

SP_MODULE_EXPORT sp_status module_init(const sp_host_api* host, sp_module* out, sp_error* error) {
  const sp_module_command fill_command = {"badtables:fill", &fill, NULL};
  const sp_module_command ok_command = {"badtables:ok", &ok, NULL};
  const sp_module_service bad = {"BadService", 1, 0, &kServiceTable};
  const sp_module_service other = {"OtherService", 1, 0, &kServiceTable};
  const sp_module_service bad_v2 = {"BadService", 2, 0, &kServiceTable};
  out->abi_major = SP_ABI_VERSION_MAJOR;
  out->abi_minor = SP_ABI_VERSION_MINOR;
  out->log_field_size = sizeof(sp_log_field);
  commands[0] = fill_command;
  commands[1] = ok_command;
  commands[2] = fill_command;
  services[0] = bad;
  services[1] = other;
  services[2] = bad_v2;
  out->commands = commands;
  out->command_count = 2;
  out->command_size = sizeof(sp_module_command);
  out->services = services;
  out->service_count = 3;
  out->service_size = sizeof(sp_module_service);
  out->health = &health;

  if (is(host, "grown")) {
    grown_log_field fields[2] = {{{"a", "1"}, "x"}, {{"b", "2"}, "y"}};
    grown_commands[0].v1_0 = fill_command;
    grown_commands[1].v1_0 = ok_command;
    grown_services[0].v1_0 = bad;
    grown_services[1].v1_0 = other;
    grown_services[2].v1_0 = bad_v2;
    out->commands = &grown_commands[0].v1_0;
    out->command_size = sizeof(grown_command);
    out->services = &grown_services[0].v1_0;
    out->service_size = sizeof(grown_service);
    out->log_field_size = sizeof(grown_log_field);
    host->log(host->host_ctx, SP_LOG_INFO, "grown tables", &fields[0].v1_0, 2);
  } else if (is(host, "null_commands")) {
    out->commands = NULL;
  } else if (is(host, "null_command_name")) {
    commands[1].name = NULL;
  } else if (is(host, "null_handler")) {
    commands[1].run = NULL;
  } else if (is(host, "small_command_size")) {
    out->command_size = 8;
  } else if (is(host, "duplicate_command")) {
    out->command_count = 3;
  } else if (is(host, "huge_command_count")) {
    out->command_count = (size_t)1 << 40;
  } else if (is(host, "null_services")) {
    out->services = NULL;
  } else if (is(host, "null_service_name")) {
    services[1].name = NULL;
  } else if (is(host, "null_service_table")) {
    services[1].table = NULL;
  } else if (is(host, "huge_service_count")) {
    out->service_count = (size_t)1 << 40;
  } else if (is(host, "no_log_field_size")) {
    out->log_field_size = 0;
  } else if (is(host, "unterminated_init_error")) {
    memset(error->message, 'I', sizeof(error->message));
    return SP_ERROR;
  }
  return SP_OK;
}
