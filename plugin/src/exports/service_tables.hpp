// The C function tables the api module exports (systemprompt/api_services.h), adapting each
// C call to one service method. Every entry point is a panic barrier: exceptions become a
// status plus a message (InvalidInput: SP_ERROR_INVALID, NotFound: SP_ERROR_NOT_FOUND,
// Conflict: SP_ERROR_CONFLICT, StoreError: SP_ERROR_UNAVAILABLE, anything else: SP_ERROR).
//
// The tables see only the narrow Services set, and build their JSON in present/. Each
// table's ctx is `services`. REQUIRED: `services` outlives every call through the tables.
#pragma once

#include "services/services.hpp"
#include "systemprompt/api_services.h"

namespace api {

sp_api_key_service makeKeyServiceTable(const Services& services);
sp_rate_limit_service makeRateLimitServiceTable(const Services& services);

}  // namespace api
