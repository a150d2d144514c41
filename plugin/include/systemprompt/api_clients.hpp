// Typed C++ clients of the api module's services (api_services.h) for sibling modules: one
// wrapper per C call, results as C++ values or the C result structs, failures as
// ServiceError. Header-only, C++17, over systemprompt/module.hpp; nothing C++ crosses.
//
//   auto keys = systemprompt::ApiKeyServiceClient::lookup(*host, 1 /* min minor */);
//   systemprompt::ApiKeyCheck check = keys.validate(presented_key);
//
// Each method needs the service minor that added its C call (the method's comment says
// which): on a module serving less it throws ServiceError with SP_ERROR_ABI, before calling.
#pragma once

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "systemprompt/api_services.h"
#include "systemprompt/module.hpp"
#include "systemprompt/module_abi.h"

namespace systemprompt {

// A service call that failed: the C status (SP_ERROR_INVALID, _NOT_FOUND, _CONFLICT, ...)
// and the service's message.
class ServiceError : public std::runtime_error {
 public:
  ServiceError(sp_status status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  sp_status status() const noexcept { return status_; }

 private:
  sp_status status_;
};

namespace client_detail {

// Throws ServiceError for any status but SP_OK, with the service's message.
inline void check(sp_status status, const sp_error& error, const char* service, const char* call) {
  if (status != SP_OK) {
    throw ServiceError(status, error.message[0] != '\0'
                                   ? std::string(error.message)
                                   : std::string(service) + "." + call + " failed");
  }
}

// Throws ServiceError(SP_ERROR_ABI) when the served minor lacks the call.
inline void require(uint32_t served_minor, uint32_t minor, const char* service, const char* call) {
  if (served_minor < minor) {
    throw ServiceError(SP_ERROR_ABI, std::string(service) + "." + call + " needs version 1." +
                                         std::to_string(minor) +
                                         "; the loaded api module serves 1." +
                                         std::to_string(served_minor));
  }
}

inline Health callHealth(sp_status (*fn)(void*, sp_health*, sp_error*), void* ctx,
                         const char* service) {
  if (fn == nullptr) {
    throw ServiceError(SP_ERROR_ABI, std::string(service) + " does not provide health");
  }
  sp_health out{};
  out.size = sizeof(out);
  sp_error error = makeError();
  check(fn(ctx, &out, &error), error, service, "health");
  return Health{out.healthy != 0, out.detail};
}

template <typename Table>
const Table& lookupOrThrow(const sp_host_api& host, const char* service, uint32_t major,
                           uint32_t min_minor, uint32_t& served) {
  const Table* table =
      lookupService<Table>(host, SP_API_MODULE_NAME, service, major, min_minor, &served);
  if (table == nullptr) {
    throw ServiceError(SP_ERROR_UNAVAILABLE,
                       std::string("service api/") + service + " v" + std::to_string(major) + "." +
                           std::to_string(min_minor) + " or later is not available");
  }
  return *table;
}

}  // namespace client_detail

struct CreatedApiKey {
  std::string secret;  // the full key: hand it over once, then wipe it
  std::string key_id;
  std::string key_prefix;
  int64_t created_at_ms = 0;
  int64_t expires_at_ms = 0;  // 0: never
  int64_t rate_limit = 0;     // 1.3: as granted; 0 from an older module
};

struct ApiKeyCheck {
  bool valid = false;
  sp_api_key_reason reason = SP_API_KEY_INTERNAL_ERROR;
  std::string key_id;  // set when the key was found
  std::string user_id;
  std::string scopes;  // comma-separated
  int64_t rate_limit = 0;
  int64_t expires_at_ms = 0;  // 0: never
};

// The api module's ApiKeyService. validate answers every verdict as a value; the other
// methods throw ServiceError on failure.
class ApiKeyServiceClient {
 public:
  static constexpr const char* kName = SP_API_KEY_SERVICE_NAME;

  ApiKeyServiceClient(const sp_api_key_service* table, uint32_t served_minor)
      : table_(table), served_minor_(served_minor) {}

  // Throws ServiceError(SP_ERROR_UNAVAILABLE) when no loaded module serves 1.<min_minor>+.
  static ApiKeyServiceClient lookup(const sp_host_api& host, uint32_t min_minor = 0) {
    uint32_t served = 0;
    const auto& table = client_detail::lookupOrThrow<sp_api_key_service>(
        host, kName, SP_API_KEY_SERVICE_VERSION_MAJOR, min_minor, served);
    return ApiKeyServiceClient(&table, served);
  }

  uint32_t servedMinor() const { return served_minor_; }

  // 1.0.
  Health health() const { return client_detail::callHealth(table_->health, table_->ctx, kName); }

  // 1.1. SP_ERROR_CONFLICT (from 1.4) when the user is at maxKeysPerUser.
  CreatedApiKey create(const sp_api_key_create_request& request) const {
    require(1, "create");
    sp_api_key_created out{};
    out.size = sizeof(out);
    sp_error error = makeError();
    const sp_status status = table_->create(table_->ctx, &request, &out, &error);
    return created(status, out, error, "create");
  }

  // 1.1. Never throws for a verdict: an unusable store answers valid=false, INTERNAL_ERROR.
  ApiKeyCheck validate(std::string_view key) const {
    require(1, "validate");
    sp_api_key_validation out{};
    out.size = sizeof(out);
    sp_error error = makeError();
    check(table_->validate(table_->ctx, key.data(), key.size(), &out, &error), error, "validate");
    return ApiKeyCheck{out.valid != 0, out.reason,     out.key_id,       out.user_id,
                       out.scopes,     out.rate_limit, out.expires_at_ms};
  }

  // 1.1. SP_ERROR_NOT_FOUND; SP_ERROR_CONFLICT (from 1.4) when already revoked.
  void revoke(const std::string& key_or_id, const std::string& reason = "",
              const std::string& actor = "") const {
    require(1, "revoke");
    sp_error error = makeError();
    check(table_->revoke(table_->ctx, key_or_id.c_str(), reason.c_str(), actor.c_str(), &error),
          error, "revoke");
  }

  // 1.1. SP_ERROR_CONFLICT (from 1.4) when the key is not active or already rotated.
  CreatedApiKey rotate(const std::string& key_id, int64_t grace_ms = 0,
                       const std::string& actor = "") const {
    require(1, "rotate");
    sp_api_key_created out{};
    out.size = sizeof(out);
    sp_error error = makeError();
    const sp_status status =
        table_->rotate(table_->ctx, key_id.c_str(), grace_ms, actor.c_str(), &out, &error);
    return created(status, out, error, "rotate");
  }

  // 1.1 (revoked_reason and metadata_json from 1.3). SP_ERROR_NOT_FOUND.
  sp_api_key_info get(const std::string& key_id) const {
    require(1, "get");
    sp_api_key_info out{};
    out.size = sizeof(out);
    sp_error error = makeError();
    check(table_->get(table_->ctx, key_id.c_str(), &out, &error), error, "get");
    return out;
  }

  // 1.2: queues one request record. Returns false when the queue was full and the record
  // was dropped (and counted); throws for bad input.
  bool recordRequest(const std::string& key_id, const sp_api_request& request) const {
    require(2, "record_request");
    sp_error error = makeError();
    const sp_status status = table_->record_request(table_->ctx, key_id.c_str(), &request, &error);
    if (status == SP_ERROR_UNAVAILABLE) {
      return false;
    }
    check(status, error, "record_request");
    return true;
  }

  // 1.2: the statistics JSON document of `prompt api:usage --format json`.
  std::string usageStatsJson(const std::string& period, const std::string& key_id = "") const {
    require(2, "get_usage_stats");
    const char* key = key_id.empty() ? nullptr : key_id.c_str();
    std::string json(4096, '\0');
    for (int attempt = 0; attempt < 8; ++attempt) {  // the report may grow between calls
      sp_error error = makeError();
      size_t needed = 0;
      const sp_status status = table_->get_usage_stats(table_->ctx, period.c_str(), key,
                                                       json.data(), json.size(), &needed, &error);
      if (status == SP_ERROR_INVALID && needed > json.size()) {
        json.assign(needed, '\0');
        continue;
      }
      check(status, error, "get_usage_stats");
      json.resize(needed - 1);
      return json;
    }
    throw ServiceError(SP_ERROR, "ApiKeyService.get_usage_stats: the report kept growing");
  }

  // 1.2: one key's usage over `period`. SP_ERROR_NOT_FOUND.
  sp_api_key_usage keyUsage(const std::string& key_id, const std::string& period = "24h") const {
    require(2, "get_api_key_usage");
    sp_api_key_usage out{};
    out.size = sizeof(out);
    sp_error error = makeError();
    check(table_->get_api_key_usage(table_->ctx, key_id.c_str(), period.c_str(), &out, &error),
          error, "get_api_key_usage");
    return out;
  }

  // 1.3: the keys of `user_id` (everyone's when empty), newest first; only the active ones
  // when `active_only`.
  std::vector<sp_api_key_info> list(const std::string& user_id = "",
                                    bool active_only = false) const {
    require(3, "list");
    const char* user = user_id.empty() ? nullptr : user_id.c_str();
    std::vector<sp_api_key_info> keys(16);
    for (int attempt = 0; attempt < 8; ++attempt) {  // keys may be added between calls
      keys[0].size = sizeof(sp_api_key_info);
      size_t count = 0;
      sp_error error = makeError();
      const sp_status status = table_->list(table_->ctx, user, active_only ? 1 : 0, keys.data(),
                                            keys.size(), &count, &error);
      if (status == SP_ERROR_INVALID && count > keys.size()) {
        keys.resize(count + 16);
        continue;
      }
      check(status, error, "list");
      keys.resize(count);
      return keys;
    }
    throw ServiceError(SP_ERROR, "ApiKeyService.list: the number of keys kept growing");
  }

 private:
  void check(sp_status status, const sp_error& error, const char* call) const {
    client_detail::check(status, error, kName, call);
  }
  void require(uint32_t minor, const char* call) const {
    client_detail::require(served_minor_, minor, kName, call);
  }
  // The new key out of `out`, whose secret is wiped whatever happens.
  CreatedApiKey created(sp_status status, sp_api_key_created& out, const sp_error& error,
                        const char* call) const {
    struct Wipe {
      sp_api_key_created& out;
      ~Wipe() { std::memset(out.secret, 0, sizeof(out.secret)); }
    } wipe{out};
    check(status, error, call);
    return CreatedApiKey{out.secret,        out.key_id,
                         out.key_prefix,    out.created_at_ms,
                         out.expires_at_ms, served_minor_ >= 3 ? out.rate_limit : 0};
  }

  const sp_api_key_service* table_;
  uint32_t served_minor_;
};

// The api module's RateLimitService. check, peek and authorize answer every verdict as a
// value; the other methods throw ServiceError.
class RateLimitServiceClient {
 public:
  static constexpr const char* kName = SP_RATE_LIMIT_SERVICE_NAME;

  RateLimitServiceClient(const sp_rate_limit_service* table, uint32_t served_minor)
      : table_(table), served_minor_(served_minor) {}

  // Throws ServiceError(SP_ERROR_UNAVAILABLE) when no loaded module serves 1.<min_minor>+.
  static RateLimitServiceClient lookup(const sp_host_api& host, uint32_t min_minor = 0) {
    uint32_t served = 0;
    const auto& table = client_detail::lookupOrThrow<sp_rate_limit_service>(
        host, kName, SP_RATE_LIMIT_SERVICE_VERSION_MAJOR, min_minor, served);
    return RateLimitServiceClient(&table, served);
  }

  uint32_t servedMinor() const { return served_minor_; }

  // 1.0.
  Health health() const { return client_detail::callHealth(table_->health, table_->ctx, kName); }

  // 1.1: admits and counts, or refuses. SP_ERROR_INVALID for a cost outside 1..1e9.
  sp_rate_limit_decision check(const std::string& key_id, int64_t cost = 1) const {
    return decide(table_->check, "check", key_id, cost);
  }
  // 1.1: as check, counting nothing.
  sp_rate_limit_decision peek(const std::string& key_id, int64_t cost = 1) const {
    return decide(table_->peek, "peek", key_id, cost);
  }

  // 1.1. SP_ERROR_NOT_FOUND.
  sp_rate_limit_status status(const std::string& key_id) const {
    require(1, "status");
    sp_rate_limit_status out{};
    out.size = sizeof(out);
    sp_error error = makeError();
    check(table_->status(table_->ctx, key_id.c_str(), &out, &error), error, "status");
    return out;
  }

  // 1.1. SP_ERROR_NOT_FOUND; SP_ERROR_CONFLICT (from 1.3) for a revoked or expired key.
  void reset(const std::string& key_id, const std::string& actor = "") const {
    require(1, "reset");
    sp_error error = makeError();
    check(table_->reset(table_->ctx, key_id.c_str(), actor.c_str(), &error), error, "reset");
  }

  // 1.1. As reset, and SP_ERROR_INVALID for a limit outside 1..1e9.
  void update(const std::string& key_id, int64_t new_limit, const std::string& actor = "") const {
    require(1, "update");
    sp_error error = makeError();
    check(table_->update(table_->ctx, key_id.c_str(), new_limit, actor.c_str(), &error), error,
          "update");
  }

  // 1.1. `outcome` is set whatever the served minor: from a module older than 1.3, which
  // does not write it, it is derived here from `reason`.
  sp_authorization authorize(std::string_view key, int64_t cost = 1) const {
    require(1, "authorize");
    sp_authorization out{};
    out.size = sizeof(out);
    sp_error error = makeError();
    check(table_->authorize(table_->ctx, key.data(), key.size(), cost, &out, &error), error,
          "authorize");
    if (served_minor_ < 3) {
      out.outcome = outcomeOf(out.reason);
    }
    return out;
  }

  // authorize's reason string as its outcome; SP_AUTHORIZE_INTERNAL_ERROR for any other.
  static sp_authorize_outcome outcomeOf(const char* reason) {
    const std::string_view r = reason == nullptr ? "" : reason;
    struct Row {
      const char* reason;
      sp_authorize_outcome outcome;
    };
    static const Row kRows[] = {
        {"ok", SP_AUTHORIZE_OK},
        {"malformed", SP_AUTHORIZE_MALFORMED},
        {"not_found", SP_AUTHORIZE_NOT_FOUND},
        {"revoked", SP_AUTHORIZE_REVOKED},
        {"expired", SP_AUTHORIZE_EXPIRED},
        {"over_limit", SP_AUTHORIZE_OVER_LIMIT},
        {"cost_exceeds_limit", SP_AUTHORIZE_COST_EXCEEDS_LIMIT},
    };
    for (const Row& row : kRows) {
      if (r == row.reason) {
        return row.outcome;
      }
    }
    return SP_AUTHORIZE_INTERNAL_ERROR;
  }

 private:
  using DecideFn = sp_status (*)(void*, const char*, int64_t, sp_rate_limit_decision*, sp_error*);

  sp_rate_limit_decision decide(DecideFn fn, const char* call, const std::string& key_id,
                                int64_t cost) const {
    require(1, call);
    sp_rate_limit_decision out{};
    out.size = sizeof(out);
    sp_error error = makeError();
    check(fn(table_->ctx, key_id.c_str(), cost, &out, &error), error, call);
    return out;
  }
  void check(sp_status status, const sp_error& error, const char* call) const {
    client_detail::check(status, error, kName, call);
  }
  void require(uint32_t minor, const char* call) const {
    client_detail::require(served_minor_, minor, kName, call);
  }

  const sp_rate_limit_service* table_;
  uint32_t served_minor_;
};

}  // namespace systemprompt
