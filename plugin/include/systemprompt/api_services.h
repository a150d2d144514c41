/*
 * The api module's exported services, as C function tables. A sibling module obtains them
 * through sp_host_api.get_service("api", SP_API_KEY_SERVICE_NAME, major, min_minor, ...).
 *
 * Rules (see module_abi.h): a table or struct only grows at its end, each addition tagged
 * with the service minor version that added it; a caller checks the served minor (from
 * get_service's minor_out) before calling a function or reading a result field added later.
 * Every function is thread-safe, never throws, and reports failure as an sp_status plus a
 * message in the caller-owned sp_error.
 *
 * Sizes: SP_<STRUCT>_SIZE_1_<n> is a struct's size through its last member of service minor
 * n (the minor of the service that introduced or last grew it). Every caller-owned struct
 * starts with `size`, set by the caller to its sizeof; the module refuses (SP_ERROR_INVALID)
 * a size below the struct's first layout, accepts any larger one, and writes a result member
 * only when the declared size covers it. So an older caller's smaller struct keeps working,
 * and so does a newer caller's larger one with an older module.
 *
 * Statuses: SP_ERROR_INVALID for bad input (nothing was changed; the message names the field),
 * SP_ERROR_NOT_FOUND for an unknown key, SP_ERROR_CONFLICT (ApiKeyService 1.4,
 * RateLimitService 1.3) when the key's state or a limit forbids the operation (nothing was
 * changed; an older module answered SP_ERROR there), SP_ERROR_UNAVAILABLE when the store
 * cannot be reached, SP_ERROR for anything else.
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
#define SP_API_KEY_SERVICE_VERSION_MINOR 4

#define SP_RATE_LIMIT_SERVICE_NAME "RateLimitService"
#define SP_RATE_LIMIT_SERVICE_VERSION_MAJOR 1
#define SP_RATE_LIMIT_SERVICE_VERSION_MINOR 3

/* Sizes of the caller-owned text buffers below, each including the terminating NUL. Inputs
 * longer than the service accepts are rejected, so results always fit (the module checks
 * each capacity against its input limits when it is built). */
#define SP_API_KEY_ID_CAPACITY 64
#define SP_API_KEY_SECRET_CAPACITY 128
#define SP_API_KEY_PREFIX_CAPACITY 16
#define SP_API_USER_ID_CAPACITY 808   /* 200 characters of UTF-8 */
#define SP_API_NAME_CAPACITY 808      /* 200 characters of UTF-8 */
#define SP_API_SCOPES_CAPACITY 2112   /* 32 scopes of at most 64 characters, comma-separated */
#define SP_API_REASON_CAPACITY 2004   /* 500 characters of UTF-8 */
#define SP_API_METADATA_CAPACITY 4100 /* a JSON object of at most 4096 bytes */

/* ---------------------------------------------------------------------------------------
 * ApiKeyService. The versions tagged below are ApiKeyService's own.
 * ------------------------------------------------------------------------------------- */

/* Why a key is not valid, in the order the checks run. */
typedef enum sp_api_key_reason {
  SP_API_KEY_VALID = 0,
  SP_API_KEY_MALFORMED = 1, /* wrong prefix, length, alphabet or checksum; no lookup made */
  SP_API_KEY_NOT_FOUND = 2, /* well-formed, but no such key */
  SP_API_KEY_REVOKED = 3,
  SP_API_KEY_EXPIRED = 4,
  SP_API_KEY_INTERNAL_ERROR = 5 /* the store could not answer: fail closed */
} sp_api_key_reason;

/* 1.1: filled by validate. OWNERSHIP: caller. */
typedef struct sp_api_key_validation {
  uint32_t size; /* sizeof(sp_api_key_validation), set by the caller */
  int valid;     /* non-zero only for a key that is found, not revoked and not expired */
  sp_api_key_reason reason;
  /* The fields below are filled whenever the key was found (valid, revoked or expired). */
  char key_id[SP_API_KEY_ID_CAPACITY];
  char user_id[SP_API_USER_ID_CAPACITY];
  char scopes[SP_API_SCOPES_CAPACITY]; /* comma-separated, e.g. "read,write" */
  int64_t rate_limit;                  /* requests per window */
  int64_t expires_at_ms;               /* Unix epoch ms; 0: never expires */
} sp_api_key_validation;
#define SP_API_KEY_VALIDATION_SIZE_1_1 SP_SIZE_THROUGH(sp_api_key_validation, expires_at_ms)

/* 1.1: what create takes. OWNERSHIP: caller; read only during the call. */
typedef struct sp_api_key_create_request {
  uint32_t size;             /* sizeof(sp_api_key_create_request), set by the caller */
  const char* user_id;       /* required: 1..200 characters */
  const char* name;          /* required: 1..200 characters */
  const char* scopes;        /* comma-separated [a-z0-9:._-]+, or NULL/"" for none */
  int64_t rate_limit;        /* 1..1000000000, or 0 for the module's defaultRateLimit */
  int64_t expires_in_ms;     /* > 0, or 0 for a key that never expires */
  const char* metadata_json; /* a JSON object, or NULL for {} */
  const char* actor;         /* who asks, for the audit trail; may be NULL */
} sp_api_key_create_request;
#define SP_API_KEY_CREATE_REQUEST_SIZE_1_1 SP_SIZE_THROUGH(sp_api_key_create_request, actor)

/* 1.1: a new key, from create or rotate. OWNERSHIP: caller. `secret` is the only copy of the
 * full key anywhere: hand it to its owner, then wipe it. */
typedef struct sp_api_key_created {
  uint32_t size; /* sizeof(sp_api_key_created), set by the caller */
  char secret[SP_API_KEY_SECRET_CAPACITY];
  char key_id[SP_API_KEY_ID_CAPACITY];
  char key_prefix[SP_API_KEY_PREFIX_CAPACITY];
  int64_t created_at_ms;
  int64_t expires_at_ms; /* 0: never expires */
  /* 1.3 (written only when `size` covers it): */
  int64_t rate_limit; /* requests per window, as granted (the default when 0 was asked) */
} sp_api_key_created;
#define SP_API_KEY_CREATED_SIZE_1_1 SP_SIZE_THROUGH(sp_api_key_created, expires_at_ms)
#define SP_API_KEY_CREATED_SIZE_1_3 SP_SIZE_THROUGH(sp_api_key_created, rate_limit)

/* 1.1: one key's public fields, filled by get. OWNERSHIP: caller. */
typedef struct sp_api_key_info {
  uint32_t size; /* sizeof(sp_api_key_info), set by the caller */
  char key_id[SP_API_KEY_ID_CAPACITY];
  char key_prefix[SP_API_KEY_PREFIX_CAPACITY];
  char user_id[SP_API_USER_ID_CAPACITY];
  char name[SP_API_NAME_CAPACITY];
  char scopes[SP_API_SCOPES_CAPACITY];
  int64_t rate_limit;
  int64_t created_at_ms;
  int64_t expires_at_ms;    /* 0: never */
  int64_t last_used_at_ms;  /* 0: never; kept current within 60 s */
  int64_t revoked_at_ms;    /* 0: not revoked; may lie in the future (rotation grace) */
  sp_api_key_reason status; /* SP_API_KEY_VALID (active), _REVOKED or _EXPIRED, now */
  /* 1.3 (written only when `size` covers them): */
  char revoked_reason[SP_API_REASON_CAPACITY];  /* "" when none */
  char metadata_json[SP_API_METADATA_CAPACITY]; /* a JSON object, "{}" when none */
} sp_api_key_info;
#define SP_API_KEY_INFO_SIZE_1_1 SP_SIZE_THROUGH(sp_api_key_info, status)
#define SP_API_KEY_INFO_SIZE_1_3 SP_SIZE_THROUGH(sp_api_key_info, metadata_json)

/* 1.2: one request to log. OWNERSHIP: caller; read only during the call. */
typedef struct sp_api_request {
  uint32_t size;            /* sizeof(sp_api_request), set by the caller */
  const char* endpoint;     /* 1..2048 bytes, e.g. "/api/v1/data" */
  const char* method;       /* GET, HEAD, POST, PUT, DELETE, CONNECT, OPTIONS, TRACE, PATCH */
  int32_t status_code;      /* 100..599; >= 400 counts as an error */
  int64_t response_time_ms; /* 0..86400000 */
  const char* ip_address;   /* at most 45 characters; may be NULL */
  const char* user_agent;   /* truncated to 512 bytes; may be NULL */
} sp_api_request;
#define SP_API_REQUEST_SIZE_1_2 SP_SIZE_THROUGH(sp_api_request, user_agent)

/* 1.2: one key's usage over a period. OWNERSHIP: caller. */
typedef struct sp_api_key_usage {
  uint32_t size; /* sizeof(sp_api_key_usage), set by the caller */
  int64_t total;
  int64_t successes;
  int64_t failures; /* status >= 400 */
  double average_response_ms;
  int64_t p95_response_ms;
  int64_t last_request_ms; /* 0: none in the period */
} sp_api_key_usage;
#define SP_API_KEY_USAGE_SIZE_1_2 SP_SIZE_THROUGH(sp_api_key_usage, last_request_ms)

typedef struct sp_api_key_service {
  uint32_t size; /* sizeof(sp_api_key_service) in the module that serves it */
  /* OWNERSHIP: the api module; pass as the first argument of every function below. */
  void* ctx;

  /* 1.0: whether the key store is reachable and migrated. */
  sp_status (*health)(void* ctx, sp_health* out, sp_error* error);

  /* 1.1: creates a key. SP_ERROR_INVALID for bad input (nothing written); SP_ERROR_CONFLICT
   * (1.4; SP_ERROR before) when the user already holds maxKeysPerUser active keys. */
  sp_status (*create)(void* ctx, const sp_api_key_create_request* request, sp_api_key_created* out,
                      sp_error* error);

  /* 1.1: validates a full key (`length` bytes, need not be NUL-terminated). Returns SP_OK
   * with out->valid and out->reason for every verdict, including SP_API_KEY_INTERNAL_ERROR
   * (fail closed); SP_ERROR_INVALID only when `out` is NULL or its size is below
   * SP_API_KEY_VALIDATION_SIZE_1_1 (so the struct may grow like the others). The hot path:
   * no allocation across the boundary, no write per call. */
  sp_status (*validate)(void* ctx, const char* key, size_t length, sp_api_key_validation* out,
                        sp_error* error);

  /* 1.1: revokes by full key or key id. SP_ERROR_NOT_FOUND, SP_ERROR_CONFLICT (1.4; SP_ERROR
   * before: already revoked, the message says when), SP_ERROR_INVALID (malformed key).
   * `reason` and `actor` may be NULL. */
  sp_status (*revoke)(void* ctx, const char* key_or_id, const char* reason, const char* actor,
                      sp_error* error);

  /* 1.1: replaces an active key; the old one keeps working for `grace_ms` (0: revoked at
   * once, reason "rotated"). The new key inherits user, name, scopes, limit, expiry and
   * metadata. SP_ERROR_NOT_FOUND; SP_ERROR_CONFLICT (1.4; SP_ERROR before) when the key is
   * revoked, expired or already rotated, or a grace period would take its user past
   * maxKeysPerUser; SP_ERROR_INVALID for a grace outside 0..1 year or a bad actor. */
  sp_status (*rotate)(void* ctx, const char* key_id, int64_t grace_ms, const char* actor,
                      sp_api_key_created* out, sp_error* error);

  /* 1.1: a key's public fields by id. SP_ERROR_NOT_FOUND when there is no such key. */
  sp_status (*get)(void* ctx, const char* key_id, sp_api_key_info* out, sp_error* error);

  /* 1.2: logs one request. Never waits on disk: the record is queued for a writer thread.
   * SP_ERROR_INVALID for bad input (the message names the field); SP_ERROR_UNAVAILABLE when
   * the queue is full and the record was dropped (counted; see `prompt health`). */
  sp_status (*record_request)(void* ctx, const char* key_id, const sp_api_request* request,
                              sp_error* error);

  /* 1.2: usage statistics over `period` ("<n><h|d|w|m|y>", e.g. "24h") for every key
   * (key_id NULL) or one, as the JSON document `prompt api:usage --format json` prints,
   * NUL-terminated, into `json` (capacity bytes). `*needed` (when not NULL) receives the
   * size required including the NUL; when it exceeds `capacity`, nothing is written and
   * SP_ERROR_INVALID is returned, so the caller can retry with a larger buffer. */
  sp_status (*get_usage_stats)(void* ctx, const char* period, const char* key_id, char* json,
                               size_t capacity, size_t* needed, sp_error* error);

  /* 1.2: one key's usage over `period`. SP_ERROR_NOT_FOUND for an unknown key. */
  sp_status (*get_api_key_usage)(void* ctx, const char* key_id, const char* period,
                                 sp_api_key_usage* out, sp_error* error);

  /* 1.3: the keys of one user (user_id non-NULL) or of everyone, newest first; only those
   * active now when `active_only` is non-zero. `keys` is an array of `capacity` structs laid
   * out `keys[0].size` bytes apart (set keys[0].size = sizeof(sp_api_key_info)); `*count`
   * receives the number of keys that match. When that exceeds `capacity`, nothing is written
   * and SP_ERROR_INVALID is returned, so the caller can retry with a larger array. */
  sp_status (*list)(void* ctx, const char* user_id, int active_only, sp_api_key_info* keys,
                    size_t capacity, size_t* count, sp_error* error);
} sp_api_key_service;
#define SP_API_KEY_SERVICE_SIZE_1_0 SP_SIZE_THROUGH(sp_api_key_service, health)
#define SP_API_KEY_SERVICE_SIZE_1_1 SP_SIZE_THROUGH(sp_api_key_service, get)
#define SP_API_KEY_SERVICE_SIZE_1_2 SP_SIZE_THROUGH(sp_api_key_service, get_api_key_usage)
#define SP_API_KEY_SERVICE_SIZE_1_3 SP_SIZE_THROUGH(sp_api_key_service, list)

/* ---------------------------------------------------------------------------------------
 * RateLimitService. The versions tagged below are RateLimitService's own.
 * ------------------------------------------------------------------------------------- */

/* 1.1: why a rate-limit check (or authorize) did not admit. */
typedef enum sp_rate_limit_outcome {
  SP_RATE_LIMIT_ALLOWED = 0,
  SP_RATE_LIMIT_OVER_LIMIT = 1,         /* the window is full; retry_after_ms says when */
  SP_RATE_LIMIT_COST_EXCEEDS_LIMIT = 2, /* the cost alone exceeds the limit: never admitted */
  SP_RATE_LIMIT_UNKNOWN_KEY = 3,
  SP_RATE_LIMIT_STORE_ERROR = 4, /* refused (fail closed), or admitted with failed_open */
  /* 1.2: check() refuses keys that can no longer be used (before, it counted them) */
  SP_RATE_LIMIT_KEY_REVOKED = 5, /* the key is revoked: nothing is counted for it */
  SP_RATE_LIMIT_KEY_EXPIRED = 6  /* the key has expired: nothing is counted for it */
} sp_rate_limit_outcome;

/* 1.1: one decision. OWNERSHIP: caller. Embedded by value in sp_authorization, so this struct
 * never grows: a later minor that needs more in a decision adds it to sp_authorization's end
 * (for authorize) and in a new struct (for check and peek). */
typedef struct sp_rate_limit_decision {
  uint32_t size; /* sizeof(sp_rate_limit_decision), set by the caller */
  int allowed;
  sp_rate_limit_outcome outcome;
  int failed_open;        /* admitted only because the store failed and failOpen is set */
  int64_t limit;          /* requests per window */
  int64_t remaining;      /* what could still be admitted now, after this request */
  int64_t reset_at_ms;    /* when the next slot frees (Unix epoch ms) */
  int64_t retry_after_ms; /* when refused: wait at least this long; -1 when it cannot help */
} sp_rate_limit_decision;
#define SP_RATE_LIMIT_DECISION_SIZE_1_1 SP_SIZE_THROUGH(sp_rate_limit_decision, retry_after_ms)

/* 1.1: a key's window. OWNERSHIP: caller. */
typedef struct sp_rate_limit_status {
  uint32_t size; /* sizeof(sp_rate_limit_status), set by the caller */
  int64_t limit;
  int64_t used; /* may exceed limit right after the limit was lowered */
  int64_t remaining;
  int64_t window_size_ms;
  int64_t window_start_ms;
  int64_t window_end_ms;
  int64_t reset_at_ms;
} sp_rate_limit_status;
#define SP_RATE_LIMIT_STATUS_SIZE_1_1 SP_SIZE_THROUGH(sp_rate_limit_status, reset_at_ms)

/* 1.3: authorize's verdict as a value, beside its reason string (same order and meaning). */
typedef enum sp_authorize_outcome {
  SP_AUTHORIZE_OK = 0,                 /* admitted (failed_open in the decision says why) */
  SP_AUTHORIZE_MALFORMED = 1,          /* not a key of this module; no lookup made */
  SP_AUTHORIZE_NOT_FOUND = 2,          /* well-formed, but no such key */
  SP_AUTHORIZE_REVOKED = 3,            /* the key is revoked: nothing is counted */
  SP_AUTHORIZE_EXPIRED = 4,            /* the key has expired: nothing is counted */
  SP_AUTHORIZE_OVER_LIMIT = 5,         /* the window is full; limit.retry_after_ms says when */
  SP_AUTHORIZE_COST_EXCEEDS_LIMIT = 6, /* the cost alone exceeds the key's limit: never */
  SP_AUTHORIZE_INTERNAL_ERROR = 7      /* the store could not answer: refused (fail closed) */
} sp_authorize_outcome;

/* 1.1: everything a request handler needs, from one call. OWNERSHIP: caller.
 * How it grows: `limit` is an sp_rate_limit_decision by value, which is why that struct never
 * grows; members added later go after `outcome`, each tagged, written only when `size` covers
 * them. */
typedef struct sp_authorization {
  uint32_t size; /* sizeof(sp_authorization), set by the caller */
  int allowed;
  /* "ok", or why not: "malformed", "not_found", "revoked", "expired", "over_limit",
   * "cost_exceeds_limit", "internal_error". OWNERSHIP: the module; static storage. */
  const char* reason;
  char key_id[SP_API_KEY_ID_CAPACITY]; /* set once the key was found */
  char user_id[SP_API_USER_ID_CAPACITY];
  char scopes[SP_API_SCOPES_CAPACITY];
  sp_rate_limit_decision limit; /* set once the key validated; its size is filled by the module */
  /* 1.3 (written only when `size` covers it; read it only from a module serving 1.3 or later,
   * since an older one leaves it as the caller set it): `reason` as a value. */
  sp_authorize_outcome outcome;
} sp_authorization;
#define SP_AUTHORIZATION_SIZE_1_1 SP_SIZE_THROUGH(sp_authorization, limit)
#define SP_AUTHORIZATION_SIZE_1_3 SP_SIZE_THROUGH(sp_authorization, outcome)

typedef struct sp_rate_limit_service {
  uint32_t size; /* sizeof(sp_rate_limit_service) in the module that serves it */
  /* OWNERSHIP: the api module; pass as the first argument of every function below. */
  void* ctx;

  /* 1.0: whether the rate-limit store is reachable and migrated. */
  sp_status (*health)(void* ctx, sp_health* out, sp_error* error);

  /* 1.1: admits and counts a request of `cost` (1..1000000000) for the key, or refuses it;
   * check and count are one atomic step across threads and processes. Returns SP_OK with the
   * decision for every verdict (a store failure included); SP_ERROR_INVALID for a bad cost.
   * On any other status, *out (when its size is right) says not admitted: allowed 0, outcome
   * SP_RATE_LIMIT_STORE_ERROR, retry_after_ms -1. */
  sp_status (*check)(void* ctx, const char* key_id, int64_t cost, sp_rate_limit_decision* out,
                     sp_error* error);

  /* 1.1: as check, but counts nothing. */
  sp_status (*peek)(void* ctx, const char* key_id, int64_t cost, sp_rate_limit_decision* out,
                    sp_error* error);

  /* 1.1: the key's current window. SP_ERROR_NOT_FOUND for an unknown key. */
  sp_status (*status)(void* ctx, const char* key_id, sp_rate_limit_status* out, sp_error* error);

  /* 1.1: clears the key's windows (audited). `actor` may be NULL. SP_ERROR_NOT_FOUND;
   * SP_ERROR_CONFLICT (1.3; SP_ERROR before) when the key is revoked or expired. */
  sp_status (*reset)(void* ctx, const char* key_id, const char* actor, sp_error* error);

  /* 1.1: sets the key's limit (1..1000000000) for its next check (audited).
   * SP_ERROR_INVALID for a limit out of range; SP_ERROR_NOT_FOUND; SP_ERROR_CONFLICT (1.3;
   * SP_ERROR before) when the key is revoked or expired. */
  sp_status (*update)(void* ctx, const char* key_id, int64_t new_limit, const char* actor,
                      sp_error* error);

  /* 1.1: validates the full key (`length` bytes) and checks its limit of `cost` in one call.
   * Returns SP_OK for every verdict (out->allowed, out->reason, and out->outcome from 1.3);
   * SP_ERROR_INVALID for a bad cost or an `out` below SP_AUTHORIZATION_SIZE_1_1. */
  sp_status (*authorize)(void* ctx, const char* key, size_t length, int64_t cost,
                         sp_authorization* out, sp_error* error);
} sp_rate_limit_service;
#define SP_RATE_LIMIT_SERVICE_SIZE_1_0 SP_SIZE_THROUGH(sp_rate_limit_service, health)
#define SP_RATE_LIMIT_SERVICE_SIZE_1_1 SP_SIZE_THROUGH(sp_rate_limit_service, authorize)

#ifdef __cplusplus
} /* extern "C" */
#endif

#endif /* SYSTEMPROMPT_API_SERVICES_H */
