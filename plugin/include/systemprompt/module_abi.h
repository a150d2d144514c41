/*
 * SystemPrompt OS module ABI: the one boundary between the host (`prompt`) and a module
 * library. Pure C (C99), usable from C and C++ modules alike.
 *
 * Prefixes make direction visible:
 *   sp_*         types shared by both sides,
 *   sp_host_*    things the host implements and hands to the module,
 *   sp_module_*  things the module implements and hands to the host.
 *
 * Versioning rules (the same as SQLite's extension table and Vulkan's structs):
 *   - SP_ABI_VERSION_MAJOR changes only when a struct or function changes incompatibly. A
 *     host refuses a module of another major, and a module refuses a host of another major;
 *     both say which two versions met.
 *   - SP_ABI_VERSION_MINOR grows when something is added. Additions go at the END of a
 *     struct only, each tagged with the minor version that added it. Every struct that
 *     crosses on its own begins with `uint32_t size` (its sizeof on the side that filled
 *     it), so a reader checks `size` before touching a field added in a later minor.
 *   - Arrays of structs (sp_log_field, sp_module_command, sp_module_service) come with their
 *     element size, declared by the side that built them (`log_field_size`, `command_size`,
 *     `service_size` in sp_module). The reader steps through an array by that size, never by
 *     its own sizeof, so elements can grow like any struct.
 *   - SP_<STRUCT>_SIZE_1_0 is each struct's size in ABI 1.0 (through its last 1.0 member); a
 *     reader refuses a declared size below the layout it needs, never one above.
 *   - The first three fields of sp_host_api and sp_module (size, abi_major, abi_minor) will
 *     never move, so the handshake can always be read whatever the versions.
 *
 * Errors: no exception and no C++ type ever crosses. Every function returns an sp_status
 * (or an exit code for commands) and writes a human-readable message into a caller-owned
 * sp_error.
 *
 * OWNERSHIP notes next to each pointer say who allocates, who frees and how long it lives.
 */
#ifndef SYSTEMPROMPT_MODULE_ABI_H
#define SYSTEMPROMPT_MODULE_ABI_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define SP_ABI_VERSION_MAJOR 1
#define SP_ABI_VERSION_MINOR 3

/* The exported entry point's name, for hosts that look it up by string. */
#define SP_MODULE_INIT_SYMBOL "module_init"

#if defined(_WIN32)
#define SP_MODULE_EXPORT __declspec(dllexport)
#else
#define SP_MODULE_EXPORT __attribute__((visibility("default")))
#endif

/* The size of `type` through `member`: what a reader needs when `member` is the last one it
 * knows. Stays the same when members are added after `member`. */
#define SP_SIZE_THROUGH(type, member) (offsetof(type, member) + sizeof(((type*)0)->member))

typedef enum sp_status {
  SP_OK = 0,
  SP_ERROR = 1,             /* operational failure; sp_error says what */
  SP_ERROR_INVALID = 2,     /* bad argument from the caller */
  SP_ERROR_ABI = 3,         /* the two sides speak incompatible ABI versions */
  SP_ERROR_UNAVAILABLE = 4, /* a dependency (store, service) cannot be reached */
  SP_ERROR_NOT_FOUND = 5,   /* no such command, service or object */
  /* Added in 1.1: the object's state or a limit forbids the operation (a key already
   * revoked, a user at the key limit); nothing was changed. A 1.0 caller may see it and
   * treats it as any other failure. */
  SP_ERROR_CONFLICT = 6
} sp_status;

/* Conventional exit codes of a command handler. */
#define SP_EXIT_OK 0
#define SP_EXIT_FAILURE 1 /* operational error */
#define SP_EXIT_USAGE 2   /* usage error */

#define SP_ERROR_MESSAGE_CAPACITY 1024

/* A caller-owned error slot. The callee writes a NUL-terminated message (truncated to fit)
 * when it returns a failure, and leaves it untouched on success. (The host reads at most
 * the buffer, terminated or not.) */
typedef struct sp_error {
  uint32_t size; /* sizeof(sp_error), set by the caller */
  char message[SP_ERROR_MESSAGE_CAPACITY];
} sp_error;
#define SP_ERROR_SIZE_1_0 SP_SIZE_THROUGH(sp_error, message)

typedef enum sp_log_level {
  SP_LOG_TRACE = 0,
  SP_LOG_DEBUG = 1,
  SP_LOG_INFO = 2,
  SP_LOG_WARN = 3,
  SP_LOG_ERROR = 4
} sp_log_level;

/* One structured field of a log record. OWNERSHIP: caller; read only during the call.
 * An array of them is read with the stride sp_module.log_field_size. */
typedef struct sp_log_field {
  const char* key;
  const char* value;
} sp_log_field;
#define SP_LOG_FIELD_SIZE_1_0 SP_SIZE_THROUGH(sp_log_field, value)

typedef enum sp_stream { SP_STREAM_STDOUT = 1, SP_STREAM_STDERR = 2 } sp_stream;

/* ---------------------------------------------------------------------------------------
 * What the host gives the module.
 * ------------------------------------------------------------------------------------- */

typedef struct sp_host_api {
  uint32_t size;      /* sizeof(sp_host_api) on the host side */
  uint32_t abi_major; /* SP_ABI_VERSION_MAJOR the host was built with */
  uint32_t abi_minor; /* SP_ABI_VERSION_MINOR the host was built with */

  /* Opaque host state; passed back as the first argument of every host function. */
  void* host_ctx;

  /* OWNERSHIP (all strings below): host; valid until the module's shutdown returns. */
  const char* module_name; /* the `name:` of this module's module.yaml */
  const char* config_json; /* the module's `config:` block as a JSON object, with the
                              host's overrides (flags, environment) applied */
  const char* state_dir;   /* a directory the module may write; exists, mode 0700 */

  /* Emits one log record. The host adds time and module name. `fields` is an array of
   * `field_count` elements of sp_module.log_field_size bytes each. Thread-safe. */
  void (*log)(void* host_ctx, sp_log_level level, const char* message, const sp_log_field* fields,
              size_t field_count);
  /* Non-zero when a record at `level` would be emitted; lets a module skip formatting. */
  int (*log_enabled)(void* host_ctx, sp_log_level level);

  /* Looks up a service exported by a loaded module. Returns the service's function table
   * (a struct that begins with `uint32_t size`), or NULL when no loaded module exports
   * `service` with version `major` and at least `min_minor`. `*minor_out`, when not NULL,
   * receives the minor version actually served.
   * OWNERSHIP: the exporting module; valid until that module's shutdown begins. The host
   * shuts modules down in reverse load order, and loads a module after those it lists as
   * dependencies, so a dependency's tables outlive its dependents. Thread-safe. */
  const void* (*get_service)(void* host_ctx, const char* module, const char* service,
                             uint32_t major, uint32_t min_minor, uint32_t* minor_out);
} sp_host_api;
#define SP_HOST_API_SIZE_1_0 SP_SIZE_THROUGH(sp_host_api, get_service)

/* The terminal side of one command invocation. OWNERSHIP: host; valid during the call. */
typedef struct sp_command_io {
  uint32_t size; /* sizeof(sp_command_io) on the host side */
  void* io_ctx;
  /* Writes `length` bytes to the command's stdout or stderr. Returns 0 on success, non-zero
   * when the bytes did not get there (a full disk, a closed pipe), or an earlier write to
   * the same stream failed. Output may be buffered until the command returns; the host
   * then exits 1 if stdout could not be written, whatever the command's exit code. */
  int (*write)(void* io_ctx, sp_stream stream, const char* data, size_t length);
  /* Reads one line from the command's stdin, without its line terminator, into `buffer`
   * (NUL-terminated). Returns the line's length, or SP_READ_END at end of input. Reads at
   * most `capacity` bytes: a line that does not fit in `capacity - 1` bytes returns
   * SP_READ_TOO_LONG (since 1.1; a 1.0 host truncated it) and the rest of stdin is left
   * unread, so a huge input is neither buffered nor waited for. */
  long (*read_line)(void* io_ctx, char* buffer, size_t capacity);
  int stdin_is_terminal;  /* non-zero when stdin is a terminal (prompts are allowed) */
  int stdout_is_terminal; /* non-zero when stdout is a terminal (colours, widths) */
  /* Added in 1.1 (check `size` against SP_COMMAND_IO_SIZE_1_1 first). As read_line, but
   * when stdin is a terminal the typed characters are not echoed (for secrets). */
  long (*read_secret)(void* io_ctx, char* buffer, size_t capacity);
  /* Added in 1.2 (check `size` against SP_COMMAND_IO_SIZE_1_2 first). The width of the
   * user's terminal in columns, for output fitted to it: COLUMNS from the environment when
   * it is a whole number from 1 to 65535 (a terminal's own range), else the width of the
   * terminal stdout is on, else 0 (unknown). Filled whether or not stdout is a terminal;
   * the module decides what to fit (the api module: only output to a terminal). */
  uint32_t terminal_columns;
} sp_command_io;
#define SP_COMMAND_IO_SIZE_1_0 SP_SIZE_THROUGH(sp_command_io, stdout_is_terminal)
#define SP_COMMAND_IO_SIZE_1_1 SP_SIZE_THROUGH(sp_command_io, read_secret)
#define SP_COMMAND_IO_SIZE_1_2 SP_SIZE_THROUGH(sp_command_io, terminal_columns)

/* What read_line and read_secret return besides a length. */
#define SP_READ_END (-1L)      /* end of input (or a read error) */
#define SP_READ_TOO_LONG (-2L) /* the line does not fit the buffer; nothing more was read */

/* ---------------------------------------------------------------------------------------
 * What the module gives the host.
 * ------------------------------------------------------------------------------------- */

/* Runs one CLI command. `args_json` is a JSON object of the parsed arguments, keyed by the
 * option or positional name declared in module.yaml (strings as strings, numbers as
 * numbers, booleans as true/false; an option that was not given and has no default is
 * absent). Returns an exit code (SP_EXIT_*). On a non-zero code the handler has already
 * told the user why on the io's stderr, or has written the reason into `error`, which the
 * host then prints. Must not throw. */
typedef int (*sp_module_command_fn)(void* module_ctx, const char* args_json,
                                    const sp_command_io* io, sp_error* error);

/* One command handler. An array of them is read with the stride sp_module.command_size. */
typedef struct sp_module_command {
  const char* name;         /* as declared in module.yaml, e.g. "api:keys:create"; not NULL */
  sp_module_command_fn run; /* not NULL */
  /* Added in 1.1 (read only when command_size covers it): passed to `run` as its first
   * argument in place of sp_module.module_ctx, so one function can serve every command;
   * NULL means module_ctx. OWNERSHIP: module; valid until shutdown returns. */
  void* ctx;
} sp_module_command;
#define SP_MODULE_COMMAND_SIZE_1_0 SP_SIZE_THROUGH(sp_module_command, run)
#define SP_MODULE_COMMAND_SIZE_1_1 SP_SIZE_THROUGH(sp_module_command, ctx)

/* One exported service. `table` points to a versioned function table whose layout is
 * published in the exporting module's public header (for the api module:
 * systemprompt/api_services.h). An array of them is read with the stride
 * sp_module.service_size. */
typedef struct sp_module_service {
  const char* name; /* e.g. "ApiKeyService"; not NULL */
  uint32_t version_major;
  uint32_t version_minor;
  const void* table; /* not NULL */
} sp_module_service;
#define SP_MODULE_SERVICE_SIZE_1_0 SP_SIZE_THROUGH(sp_module_service, table)

/* Health of a module, filled by sp_module.health. */
typedef struct sp_health {
  uint32_t size;                          /* sizeof(sp_health), set by the caller */
  int healthy;                            /* non-zero when the module can serve */
  char detail[SP_ERROR_MESSAGE_CAPACITY]; /* one line, e.g. "store ok, schema version 1" */
} sp_health;
#define SP_HEALTH_SIZE_1_0 SP_SIZE_THROUGH(sp_health, detail)

typedef struct sp_module {
  uint32_t size;      /* sizeof(sp_module) on the HOST side; set by the host before init */
  uint32_t abi_major; /* set by the module: SP_ABI_VERSION_MAJOR it was built with */
  uint32_t abi_minor; /* set by the module: SP_ABI_VERSION_MINOR it was built with */
  /* Set by the module to sizeof(sp_log_field) before it first calls host->log: the stride
   * of every `fields` array it passes. Until then the host logs no fields. */
  uint32_t log_field_size;

  /* Opaque module state, passed back as the first argument of every function below. */
  void* module_ctx;

  /* OWNERSHIP (arrays and strings): module; valid until shutdown returns. Each array's
   * element size is sizeof its element type as the module was built; when a count is
   * non-zero its array must not be NULL and its size at least the SP_*_SIZE_1_0. */
  const sp_module_command* commands;
  size_t command_count;
  uint32_t command_size; /* sizeof(sp_module_command) */
  const sp_module_service* services;
  size_t service_count;
  uint32_t service_size; /* sizeof(sp_module_service) */

  /* Reports whether the module can serve (for a store-backed module: the store is
   * reachable and migrated). Returns SP_OK when it could tell, whatever the verdict. */
  sp_status (*health)(void* module_ctx, sp_health* out, sp_error* error);

  /* Periodic maintenance, run by the host's timer every cleanup_interval_ms (a 1.0 module:
   * the host's default). May be NULL. Must be idempotent and safe to run while commands and
   * service calls run on other threads. */
  sp_status (*cleanup)(void* module_ctx, sp_error* error);

  /* Releases everything. Called once, last, after every other call on this module has
   * returned; nothing of the module may be used afterwards. May be NULL. */
  void (*shutdown)(void* module_ctx);

  /* Added in 1.1 (written by the module only when the host's `size` covers it; read by the
   * host only from a module whose abi_minor is 1 or more): the ms between cleanup runs the
   * module asks for; 0 asks for none. */
  uint64_t cleanup_interval_ms;

  /* Added in 1.3 (written by the module only when the host's `size` covers them; called by
   * the host only for a module whose abi_minor is 3 or more; both set, or both NULL): a
   * module that runs threads of its own while the host serves (a listener) starts them in
   * serve_start, which `prompt serve` calls once it serves, before it waits for a stop; and
   * stops them in serve_stop, called once a stop was asked for, before shutdown, which
   * finishes what is in flight within `deadline_ms` and returns. A failed serve_start stops
   * the host (exit 1) with its message; serve_stop is then not called. */
  sp_status (*serve_start)(void* module_ctx, sp_error* error);
  sp_status (*serve_stop)(void* module_ctx, uint64_t deadline_ms, sp_error* error);
} sp_module;
#define SP_MODULE_SIZE_1_0 SP_SIZE_THROUGH(sp_module, shutdown)
#define SP_MODULE_SIZE_1_1 SP_SIZE_THROUGH(sp_module, cleanup_interval_ms)
#define SP_MODULE_SIZE_1_3 SP_SIZE_THROUGH(sp_module, serve_stop)

/* The entry point every module library exports (C linkage, default visibility).
 *
 * The host fills `out->size` and zeroes the rest, then calls module_init. The module first
 * compares host->abi_major with its own and returns SP_ERROR_ABI on a mismatch; otherwise
 * it fills `*out` (always abi_major/abi_minor, even on failure; the element sizes with the
 * arrays) and returns SP_OK. The host in turn refuses a module whose `out->abi_major`
 * differs from its own, and one whose tables break the rules above (a NULL array or name, an
 * element size below 1.0's), naming what was wrong. Must not throw (in C++: catch
 * everything and return a status).
 *
 * OWNERSHIP: `host` and everything it points to belong to the host and stay valid until
 * shutdown returns; `out` and `error` belong to the host. */
typedef sp_status (*sp_module_init_fn)(const sp_host_api* host, sp_module* out, sp_error* error);

/* Declared here so that a module's definition is checked against the ABI. */
SP_MODULE_EXPORT sp_status module_init(const sp_host_api* host, sp_module* out, sp_error* error);

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SYSTEMPROMPT_MODULE_ABI_H */
