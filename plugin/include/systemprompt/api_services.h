/*
 * The api module's exported services, as C function tables. A sibling module obtains them
 * through sp_host_api.get_service("api", SP_API_KEY_SERVICE_NAME, major, min_minor, ...).
 *
 * Rules (see module_abi.h): a table only grows at its end, each addition tagged with the
 * service minor version that added it; a caller checks `size` (or the served minor) before
 * using a field added later. Every function is thread-safe, never throws, and reports
 * failure as an sp_status plus a message in the caller-owned sp_error.
 */
#ifndef SYSTEMPROMPT_API_SERVICES_H
#define SYSTEMPROMPT_API_SERVICES_H

#include "systemprompt/module_abi.h"

#ifdef __cplusplus
extern "C" {
#endif

#define SP_API_MODULE_NAME "api"

#define SP_API_KEY_SERVICE_NAME "ApiKeyService"
#define SP_API_KEY_SERVICE_VERSION_MAJOR 1
#define SP_API_KEY_SERVICE_VERSION_MINOR 0

#define SP_RATE_LIMIT_SERVICE_NAME "RateLimitService"
#define SP_RATE_LIMIT_SERVICE_VERSION_MAJOR 1
#define SP_RATE_LIMIT_SERVICE_VERSION_MINOR 0

typedef struct sp_api_key_service {
  uint32_t size; /* sizeof(sp_api_key_service) in the module that serves it */
  /* OWNERSHIP: the api module; pass as the first argument of every function below. */
  void* ctx;

  /* 1.0: whether the key store is reachable and migrated. */
  sp_status (*health)(void* ctx, sp_health* out, sp_error* error);
} sp_api_key_service;

typedef struct sp_rate_limit_service {
  uint32_t size; /* sizeof(sp_rate_limit_service) in the module that serves it */
  /* OWNERSHIP: the api module; pass as the first argument of every function below. */
  void* ctx;

  /* 1.0: whether the rate-limit store is reachable and migrated. */
  sp_status (*health)(void* ctx, sp_health* out, sp_error* error);
} sp_rate_limit_service;

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SYSTEMPROMPT_API_SERVICES_H */
