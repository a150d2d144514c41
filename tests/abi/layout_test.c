/* Freezes the published layouts of module_abi.h and api_services.h, as they are on x86-64
 * Linux (LP64): the offset of every member and the SP_*_SIZE_* of every layout. A change that
 * moves a member or changes a released size breaks this build; growth at a struct's end (a
 * new member, tagged with its minor, and a new SP_*_SIZE_*) does not. Compiled as C99 (no
 * _Static_assert there): a false condition makes an array of negative size. */
#include <stddef.h>

#include "systemprompt/api_services.h"
#include "systemprompt/module_abi.h"

#if defined(__x86_64__) && defined(__linux__)

#define FREEZE_CAT2(a, b) a##b
#define FREEZE_CAT(a, b) FREEZE_CAT2(a, b)
#define FREEZE(condition) typedef char FREEZE_CAT(frozen_at_line_, __LINE__)[(condition) ? 1 : -1]
#define FREEZE_OFFSET(type, member, at) FREEZE(offsetof(type, member) == (at))
#define FREEZE_VALUE(value, expected) FREEZE((value) == (expected))

/* module_abi.h: ABI 1.0, and the members 1.1, 1.2 and 1.3 added at the ends. */
FREEZE_OFFSET(sp_error, size, 0);
FREEZE_OFFSET(sp_error, message, 4);
FREEZE_OFFSET(sp_log_field, key, 0);
FREEZE_OFFSET(sp_log_field, value, 8);
FREEZE_OFFSET(sp_host_api, size, 0);
FREEZE_OFFSET(sp_host_api, abi_major, 4);
FREEZE_OFFSET(sp_host_api, abi_minor, 8);
FREEZE_OFFSET(sp_host_api, host_ctx, 16);
FREEZE_OFFSET(sp_host_api, module_name, 24);
FREEZE_OFFSET(sp_host_api, config_json, 32);
FREEZE_OFFSET(sp_host_api, state_dir, 40);
FREEZE_OFFSET(sp_host_api, log, 48);
FREEZE_OFFSET(sp_host_api, log_enabled, 56);
FREEZE_OFFSET(sp_host_api, get_service, 64);
FREEZE_OFFSET(sp_command_io, size, 0);
FREEZE_OFFSET(sp_command_io, io_ctx, 8);
FREEZE_OFFSET(sp_command_io, write, 16);
FREEZE_OFFSET(sp_command_io, read_line, 24);
FREEZE_OFFSET(sp_command_io, stdin_is_terminal, 32);
FREEZE_OFFSET(sp_command_io, stdout_is_terminal, 36);
FREEZE_OFFSET(sp_command_io, read_secret, 40);
FREEZE_OFFSET(sp_command_io, terminal_columns, 48);
FREEZE_OFFSET(sp_module_command, name, 0);
FREEZE_OFFSET(sp_module_command, run, 8);
FREEZE_OFFSET(sp_module_command, ctx, 16);
FREEZE_OFFSET(sp_module_service, name, 0);
FREEZE_OFFSET(sp_module_service, version_major, 8);
FREEZE_OFFSET(sp_module_service, version_minor, 12);
FREEZE_OFFSET(sp_module_service, table, 16);
FREEZE_OFFSET(sp_health, size, 0);
FREEZE_OFFSET(sp_health, healthy, 4);
FREEZE_OFFSET(sp_health, detail, 8);
FREEZE_OFFSET(sp_module, size, 0);
FREEZE_OFFSET(sp_module, abi_major, 4);
FREEZE_OFFSET(sp_module, abi_minor, 8);
FREEZE_OFFSET(sp_module, log_field_size, 12);
FREEZE_OFFSET(sp_module, module_ctx, 16);
FREEZE_OFFSET(sp_module, commands, 24);
FREEZE_OFFSET(sp_module, command_count, 32);
FREEZE_OFFSET(sp_module, command_size, 40);
FREEZE_OFFSET(sp_module, services, 48);
FREEZE_OFFSET(sp_module, service_count, 56);
FREEZE_OFFSET(sp_module, service_size, 64);
FREEZE_OFFSET(sp_module, health, 72);
FREEZE_OFFSET(sp_module, cleanup, 80);
FREEZE_OFFSET(sp_module, shutdown, 88);
FREEZE_OFFSET(sp_module, cleanup_interval_ms, 96);
FREEZE_OFFSET(sp_module, serve_start, 104);
FREEZE_OFFSET(sp_module, serve_stop, 112);

/* api_services.h: ApiKeyService (its own minors: 1.1 to 1.3). */
FREEZE_OFFSET(sp_api_key_validation, valid, 4);
FREEZE_OFFSET(sp_api_key_validation, reason, 8);
FREEZE_OFFSET(sp_api_key_validation, key_id, 12);
FREEZE_OFFSET(sp_api_key_validation, user_id, 76);
FREEZE_OFFSET(sp_api_key_validation, scopes, 884);
FREEZE_OFFSET(sp_api_key_validation, rate_limit, 3000);
FREEZE_OFFSET(sp_api_key_validation, expires_at_ms, 3008);
FREEZE_OFFSET(sp_api_key_create_request, user_id, 8);
FREEZE_OFFSET(sp_api_key_create_request, name, 16);
FREEZE_OFFSET(sp_api_key_create_request, scopes, 24);
FREEZE_OFFSET(sp_api_key_create_request, rate_limit, 32);
FREEZE_OFFSET(sp_api_key_create_request, expires_in_ms, 40);
FREEZE_OFFSET(sp_api_key_create_request, metadata_json, 48);
FREEZE_OFFSET(sp_api_key_create_request, actor, 56);
FREEZE_OFFSET(sp_api_key_created, secret, 4);
FREEZE_OFFSET(sp_api_key_created, key_id, 132);
FREEZE_OFFSET(sp_api_key_created, key_prefix, 196);
FREEZE_OFFSET(sp_api_key_created, created_at_ms, 216);
FREEZE_OFFSET(sp_api_key_created, expires_at_ms, 224);
FREEZE_OFFSET(sp_api_key_created, rate_limit, 232);
FREEZE_OFFSET(sp_api_key_info, key_id, 4);
FREEZE_OFFSET(sp_api_key_info, key_prefix, 68);
FREEZE_OFFSET(sp_api_key_info, user_id, 84);
FREEZE_OFFSET(sp_api_key_info, name, 892);
FREEZE_OFFSET(sp_api_key_info, scopes, 1700);
FREEZE_OFFSET(sp_api_key_info, rate_limit, 3816);
FREEZE_OFFSET(sp_api_key_info, created_at_ms, 3824);
FREEZE_OFFSET(sp_api_key_info, expires_at_ms, 3832);
FREEZE_OFFSET(sp_api_key_info, last_used_at_ms, 3840);
FREEZE_OFFSET(sp_api_key_info, revoked_at_ms, 3848);
FREEZE_OFFSET(sp_api_key_info, status, 3856);
FREEZE_OFFSET(sp_api_key_info, revoked_reason, 3860);
FREEZE_OFFSET(sp_api_key_info, metadata_json, 5864);
FREEZE_OFFSET(sp_api_request, endpoint, 8);
FREEZE_OFFSET(sp_api_request, method, 16);
FREEZE_OFFSET(sp_api_request, status_code, 24);
FREEZE_OFFSET(sp_api_request, response_time_ms, 32);
FREEZE_OFFSET(sp_api_request, ip_address, 40);
FREEZE_OFFSET(sp_api_request, user_agent, 48);
FREEZE_OFFSET(sp_api_key_usage, total, 8);
FREEZE_OFFSET(sp_api_key_usage, successes, 16);
FREEZE_OFFSET(sp_api_key_usage, failures, 24);
FREEZE_OFFSET(sp_api_key_usage, average_response_ms, 32);
FREEZE_OFFSET(sp_api_key_usage, p95_response_ms, 40);
FREEZE_OFFSET(sp_api_key_usage, last_request_ms, 48);
FREEZE_OFFSET(sp_api_key_service, ctx, 8);
FREEZE_OFFSET(sp_api_key_service, health, 16);
FREEZE_OFFSET(sp_api_key_service, create, 24);
FREEZE_OFFSET(sp_api_key_service, validate, 32);
FREEZE_OFFSET(sp_api_key_service, revoke, 40);
FREEZE_OFFSET(sp_api_key_service, rotate, 48);
FREEZE_OFFSET(sp_api_key_service, get, 56);
FREEZE_OFFSET(sp_api_key_service, record_request, 64);
FREEZE_OFFSET(sp_api_key_service, get_usage_stats, 72);
FREEZE_OFFSET(sp_api_key_service, get_api_key_usage, 80);
FREEZE_OFFSET(sp_api_key_service, list, 88);

/* api_services.h: RateLimitService (its own minors: 1.1 to 1.3). */
FREEZE_OFFSET(sp_rate_limit_decision, allowed, 4);
FREEZE_OFFSET(sp_rate_limit_decision, outcome, 8);
FREEZE_OFFSET(sp_rate_limit_decision, failed_open, 12);
FREEZE_OFFSET(sp_rate_limit_decision, limit, 16);
FREEZE_OFFSET(sp_rate_limit_decision, remaining, 24);
FREEZE_OFFSET(sp_rate_limit_decision, reset_at_ms, 32);
FREEZE_OFFSET(sp_rate_limit_decision, retry_after_ms, 40);
FREEZE_OFFSET(sp_rate_limit_status, limit, 8);
FREEZE_OFFSET(sp_rate_limit_status, used, 16);
FREEZE_OFFSET(sp_rate_limit_status, remaining, 24);
FREEZE_OFFSET(sp_rate_limit_status, window_size_ms, 32);
FREEZE_OFFSET(sp_rate_limit_status, window_start_ms, 40);
FREEZE_OFFSET(sp_rate_limit_status, window_end_ms, 48);
FREEZE_OFFSET(sp_rate_limit_status, reset_at_ms, 56);
FREEZE_OFFSET(sp_authorization, allowed, 4);
FREEZE_OFFSET(sp_authorization, reason, 8);
FREEZE_OFFSET(sp_authorization, key_id, 16);
FREEZE_OFFSET(sp_authorization, user_id, 80);
FREEZE_OFFSET(sp_authorization, scopes, 888);
FREEZE_OFFSET(sp_authorization, limit, 3000);
FREEZE_OFFSET(sp_authorization, outcome, 3048);
FREEZE_OFFSET(sp_rate_limit_service, ctx, 8);
FREEZE_OFFSET(sp_rate_limit_service, health, 16);
FREEZE_OFFSET(sp_rate_limit_service, check, 24);
FREEZE_OFFSET(sp_rate_limit_service, peek, 32);
FREEZE_OFFSET(sp_rate_limit_service, status, 40);
FREEZE_OFFSET(sp_rate_limit_service, reset, 48);
FREEZE_OFFSET(sp_rate_limit_service, update, 56);
FREEZE_OFFSET(sp_rate_limit_service, authorize, 64);

/* The published sizes, the capacities, and the decision that sp_authorization embeds (which
 * therefore never grows). */
FREEZE_VALUE(SP_ERROR_SIZE_1_0, 1028);
FREEZE_VALUE(SP_LOG_FIELD_SIZE_1_0, 16);
FREEZE_VALUE(SP_HOST_API_SIZE_1_0, 72);
FREEZE_VALUE(SP_COMMAND_IO_SIZE_1_0, 40);
FREEZE_VALUE(SP_COMMAND_IO_SIZE_1_1, 48);
FREEZE_VALUE(SP_COMMAND_IO_SIZE_1_2, 52);
FREEZE_VALUE(SP_MODULE_COMMAND_SIZE_1_0, 16);
FREEZE_VALUE(SP_MODULE_COMMAND_SIZE_1_1, 24);
FREEZE_VALUE(SP_MODULE_SERVICE_SIZE_1_0, 24);
FREEZE_VALUE(SP_HEALTH_SIZE_1_0, 1032);
FREEZE_VALUE(SP_MODULE_SIZE_1_0, 96);
FREEZE_VALUE(SP_MODULE_SIZE_1_1, 104);
FREEZE_VALUE(SP_MODULE_SIZE_1_3, 120);
FREEZE_VALUE(SP_API_KEY_VALIDATION_SIZE_1_1, 3016);
FREEZE_VALUE(SP_API_KEY_CREATE_REQUEST_SIZE_1_1, 64);
FREEZE_VALUE(SP_API_KEY_CREATED_SIZE_1_1, 232);
FREEZE_VALUE(SP_API_KEY_CREATED_SIZE_1_3, 240);
FREEZE_VALUE(SP_API_KEY_INFO_SIZE_1_1, 3860);
FREEZE_VALUE(SP_API_KEY_INFO_SIZE_1_3, 9964);
FREEZE_VALUE(SP_API_REQUEST_SIZE_1_2, 56);
FREEZE_VALUE(SP_API_KEY_USAGE_SIZE_1_2, 56);
FREEZE_VALUE(SP_API_KEY_SERVICE_SIZE_1_0, 24);
FREEZE_VALUE(SP_API_KEY_SERVICE_SIZE_1_1, 64);
FREEZE_VALUE(SP_API_KEY_SERVICE_SIZE_1_2, 88);
FREEZE_VALUE(SP_API_KEY_SERVICE_SIZE_1_3, 96);
FREEZE_VALUE(SP_RATE_LIMIT_DECISION_SIZE_1_1, 48);
FREEZE_VALUE(SP_RATE_LIMIT_STATUS_SIZE_1_1, 64);
FREEZE_VALUE(SP_AUTHORIZATION_SIZE_1_1, 3048);
FREEZE_VALUE(SP_AUTHORIZATION_SIZE_1_3, 3052);
FREEZE_VALUE(SP_RATE_LIMIT_SERVICE_SIZE_1_0, 24);
FREEZE_VALUE(SP_RATE_LIMIT_SERVICE_SIZE_1_1, 72);
FREEZE_VALUE(sizeof(sp_rate_limit_decision), 48);
FREEZE_VALUE(SP_ERROR_MESSAGE_CAPACITY, 1024);
FREEZE_VALUE(SP_API_KEY_ID_CAPACITY, 64);
FREEZE_VALUE(SP_API_KEY_SECRET_CAPACITY, 128);
FREEZE_VALUE(SP_API_KEY_PREFIX_CAPACITY, 16);
FREEZE_VALUE(SP_API_USER_ID_CAPACITY, 808);
FREEZE_VALUE(SP_API_NAME_CAPACITY, 808);
FREEZE_VALUE(SP_API_SCOPES_CAPACITY, 2112);
FREEZE_VALUE(SP_API_REASON_CAPACITY, 2004);
FREEZE_VALUE(SP_API_METADATA_CAPACITY, 4100);

#endif

int main(void) {
  return 0; /* everything above is checked by the compiler */
}
