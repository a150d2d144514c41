// The C function tables the api module exports (systemprompt/api_services.h), adapting each
// C call to one service method. Every entry point is a panic barrier: exceptions become a
// status (InvalidInput: SP_ERROR_INVALID, NotFound: SP_ERROR_NOT_FOUND, StoreError:
// SP_ERROR_UNAVAILABLE, anything else: SP_ERROR) plus a message.
#pragma once

#include "systemprompt/api_services.h"

namespace api {

class ApiModule;

sp_api_key_service makeKeyServiceTable(ApiModule& module);
sp_rate_limit_service makeRateLimitServiceTable(ApiModule& module);

}  // namespace api
