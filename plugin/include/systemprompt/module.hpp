// Header-only C++ conveniences over the C ABI (module_abi.h, api_services.h) for modules
// written in C++. Nothing here crosses the boundary: it only wraps the C tables on each
// side, so a module built with any C++17 compiler can use it.
#pragma once

#include <algorithm>
#include <cstring>
#include <exception>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "systemprompt/api_services.h"
#include "systemprompt/module_abi.h"

namespace systemprompt {

// Copies `text` into a fixed buffer of `capacity` bytes, truncated to fit, NUL-terminated.
inline void copyTruncated(char* out, size_t capacity, std::string_view text) noexcept {
  if (out == nullptr || capacity == 0) {
    return;
  }
  const size_t n = std::min(text.size(), capacity - 1);
  std::memcpy(out, text.data(), n);
  out[n] = '\0';
}

// Writes `message` into a caller-owned error slot, truncated to fit the slot's declared
// size (a slot declaring less than sizeof(sp_error) gets no more than it declared; one
// declaring no room for a message gets nothing). Tolerates NULL.
inline void setError(sp_error* error, std::string_view message) noexcept {
  constexpr size_t kMessageAt = offsetof(sp_error, message);
  if (error == nullptr || error->size <= kMessageAt) {
    return;
  }
  copyTruncated(error->message, std::min<size_t>(sizeof(error->message), error->size - kMessageAt),
                message);
}

inline sp_error makeError() noexcept {
  sp_error error{};
  error.size = sizeof(sp_error);
  return error;
}

// A failure with its ABI status, for use inside a module; guard() turns it into a status.
class Failure : public std::runtime_error {
 public:
  Failure(sp_status status, const std::string& message)
      : std::runtime_error(message), status_(status) {}
  sp_status status() const noexcept { return status_; }

 private:
  sp_status status_;
};

// The panic barrier for an exported function: runs `body` and converts any exception into
// a status plus message. `body` returns void (SP_OK) or an sp_status.
template <typename Body>
sp_status guard(sp_error* error, Body&& body) noexcept {
  try {
    if constexpr (std::is_void_v<decltype(body())>) {
      std::forward<Body>(body)();
      return SP_OK;
    } else {
      return std::forward<Body>(body)();
    }
  } catch (const Failure& failure) {
    setError(error, failure.what());
    return failure.status();
  } catch (const std::exception& e) {
    setError(error, e.what());
    return SP_ERROR;
  } catch (...) {
    setError(error, "unknown exception");
    return SP_ERROR;
  }
}

// Finds a service table through the host. Returns nullptr when no loaded module serves it in
// a compatible version (same major, at least `min_minor`); otherwise `*served_minor` (when
// not null) holds the minor served, which tells which members of the table exist.
template <typename Table>
const Table* lookupService(const sp_host_api& host, const char* module, const char* service,
                           uint32_t major, uint32_t min_minor,
                           uint32_t* served_minor = nullptr) noexcept {
  if (host.get_service == nullptr) {
    return nullptr;
  }
  return static_cast<const Table*>(
      host.get_service(host.host_ctx, module, service, major, min_minor, served_minor));
}

// The error a client throws when a service is not available in the version it needs.
inline std::runtime_error serviceUnavailable(const char* service, uint32_t major,
                                             uint32_t min_minor) {
  return std::runtime_error(std::string("service api/") + service + " v" + std::to_string(major) +
                            "." + std::to_string(min_minor) + " or later is not available");
}

// Health of a module or service, as C++ values.
struct Health {
  bool healthy = false;
  std::string detail;
};

struct CreatedApiKey {
  std::string secret;  // the full key: hand it over once, then forget it
  std::string key_id;
  std::string key_prefix;
  int64_t created_at_ms = 0;
  int64_t expires_at_ms = 0;  // 0: never
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

// The api module's ApiKeyService, seen from a C++ sibling module. Methods other than
// validate throw std::runtime_error with the service's message on failure.
class ApiKeyServiceClient {
 public:
  ApiKeyServiceClient(const sp_api_key_service* table, uint32_t served_minor)
      : table_(table), served_minor_(served_minor) {}

  // `min_minor` 1 for create/validate/revoke/rotate/get.
  static ApiKeyServiceClient lookup(const sp_host_api& host, uint32_t min_minor = 0) {
    uint32_t served = 0;
    const auto* table =
        lookupService<sp_api_key_service>(host, SP_API_MODULE_NAME, SP_API_KEY_SERVICE_NAME,
                                          SP_API_KEY_SERVICE_VERSION_MAJOR, min_minor, &served);
    if (table == nullptr) {
      throw serviceUnavailable(SP_API_KEY_SERVICE_NAME, SP_API_KEY_SERVICE_VERSION_MAJOR,
                               min_minor);
    }
    return ApiKeyServiceClient(table, served);
  }

  uint32_t servedMinor() const { return served_minor_; }

  Health health() const { return callHealth(table_->health, table_->ctx); }

  CreatedApiKey create(const sp_api_key_create_request& request) const {
    require(1, "create");
    sp_api_key_created out{};
    out.size = sizeof(out);
    sp_error error = makeError();
    check(table_->create(table_->ctx, &request, &out, &error), error);
    CreatedApiKey created{out.secret, out.key_id, out.key_prefix, out.created_at_ms,
                          out.expires_at_ms};
    std::memset(out.secret, 0, sizeof(out.secret));
    return created;
  }

  // Never throws for a verdict: an unusable store answers valid=false, INTERNAL_ERROR.
  ApiKeyCheck validate(std::string_view key) const {
    require(1, "validate");
    sp_api_key_validation out{};
    out.size = sizeof(out);
    sp_error error = makeError();
    check(table_->validate(table_->ctx, key.data(), key.size(), &out, &error), error);
    return ApiKeyCheck{out.valid != 0, out.reason,     out.key_id,       out.user_id,
                       out.scopes,     out.rate_limit, out.expires_at_ms};
  }

  void revoke(const std::string& key_or_id, const std::string& reason = "",
              const std::string& actor = "") const {
    require(1, "revoke");
    sp_error error = makeError();
    check(table_->revoke(table_->ctx, key_or_id.c_str(), reason.c_str(), actor.c_str(), &error),
          error);
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
    check(status, error);
    return true;
  }

  // 1.2: the statistics JSON document of `prompt api:usage --format json`.
  std::string usageStatsJson(const std::string& period, const std::string& key_id = "") const {
    require(2, "get_usage_stats");
    sp_error error = makeError();
    size_t needed = 0;
    std::string json(4096, '\0');
    const char* key = key_id.empty() ? nullptr : key_id.c_str();
    sp_status status = table_->get_usage_stats(table_->ctx, period.c_str(), key, json.data(),
                                               json.size(), &needed, &error);
    if (status == SP_ERROR_INVALID && needed > json.size()) {
      json.assign(needed, '\0');
      error = makeError();
      status = table_->get_usage_stats(table_->ctx, period.c_str(), key, json.data(), json.size(),
                                       &needed, &error);
    }
    check(status, error);
    json.resize(needed - 1);
    return json;
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
      check(status, error);
      keys.resize(count);
      return keys;
    }
    throw std::runtime_error("ApiKeyService.list: the number of keys kept growing");
  }

  // 1.2: one key's usage over `period`.
  sp_api_key_usage keyUsage(const std::string& key_id, const std::string& period = "24h") const {
    require(2, "get_api_key_usage");
    sp_api_key_usage out{};
    out.size = sizeof(out);
    sp_error error = makeError();
    check(table_->get_api_key_usage(table_->ctx, key_id.c_str(), period.c_str(), &out, &error),
          error);
    return out;
  }

  static Health callHealth(sp_status (*fn)(void*, sp_health*, sp_error*), void* ctx) {
    sp_health out{};
    out.size = sizeof(out);
    sp_error error = makeError();
    if (fn == nullptr) {
      throw std::runtime_error("service does not provide health");
    }
    check(fn(ctx, &out, &error), error);
    return Health{out.healthy != 0, out.detail};
  }

 private:
  static void check(sp_status status, const sp_error& error) {
    if (status != SP_OK) {
      throw std::runtime_error(error.message[0] != '\0' ? error.message : "service call failed");
    }
  }
  void require(uint32_t minor, const char* what) const {
    if (served_minor_ < minor) {
      throw std::runtime_error(std::string("ApiKeyService.") + what + " needs version 1." +
                               std::to_string(minor) + "; the loaded api module serves 1." +
                               std::to_string(served_minor_));
    }
  }

  const sp_api_key_service* table_;
  uint32_t served_minor_;
};

// The api module's RateLimitService, seen from a C++ sibling module. check, peek and
// authorize answer every verdict as a value; the other methods throw std::runtime_error.
class RateLimitServiceClient {
 public:
  RateLimitServiceClient(const sp_rate_limit_service* table, uint32_t served_minor)
      : table_(table), served_minor_(served_minor) {}

  // `min_minor` 1 for check/peek/status/reset/update/authorize.
  static RateLimitServiceClient lookup(const sp_host_api& host, uint32_t min_minor = 0) {
    uint32_t served = 0;
    const auto* table = lookupService<sp_rate_limit_service>(
        host, SP_API_MODULE_NAME, SP_RATE_LIMIT_SERVICE_NAME, SP_RATE_LIMIT_SERVICE_VERSION_MAJOR,
        min_minor, &served);
    if (table == nullptr) {
      throw serviceUnavailable(SP_RATE_LIMIT_SERVICE_NAME, SP_RATE_LIMIT_SERVICE_VERSION_MAJOR,
                               min_minor);
    }
    return RateLimitServiceClient(table, served);
  }

  Health health() const { return ApiKeyServiceClient::callHealth(table_->health, table_->ctx); }

  sp_rate_limit_decision check(const std::string& key_id, int64_t cost = 1) const {
    return decide(table_->check, "check", key_id, cost);
  }
  sp_rate_limit_decision peek(const std::string& key_id, int64_t cost = 1) const {
    return decide(table_->peek, "peek", key_id, cost);
  }

  sp_rate_limit_status status(const std::string& key_id) const {
    require(1, "status");
    sp_rate_limit_status out{};
    out.size = sizeof(out);
    sp_error error = makeError();
    check(table_->status(table_->ctx, key_id.c_str(), &out, &error), error);
    return out;
  }

  void reset(const std::string& key_id, const std::string& actor = "") const {
    require(1, "reset");
    sp_error error = makeError();
    check(table_->reset(table_->ctx, key_id.c_str(), actor.c_str(), &error), error);
  }

  void update(const std::string& key_id, int64_t new_limit, const std::string& actor = "") const {
    require(1, "update");
    sp_error error = makeError();
    check(table_->update(table_->ctx, key_id.c_str(), new_limit, actor.c_str(), &error), error);
  }

  sp_authorization authorize(std::string_view key, int64_t cost = 1) const {
    require(1, "authorize");
    sp_authorization out{};
    out.size = sizeof(out);
    sp_error error = makeError();
    check(table_->authorize(table_->ctx, key.data(), key.size(), cost, &out, &error), error);
    return out;
  }

 private:
  using DecideFn = sp_status (*)(void*, const char*, int64_t, sp_rate_limit_decision*, sp_error*);

  sp_rate_limit_decision decide(DecideFn fn, const char* what, const std::string& key_id,
                                int64_t cost) const {
    require(1, what);
    sp_rate_limit_decision out{};
    out.size = sizeof(out);
    sp_error error = makeError();
    check(fn(table_->ctx, key_id.c_str(), cost, &out, &error), error);
    return out;
  }
  static void check(sp_status status, const sp_error& error) {
    if (status != SP_OK) {
      throw std::runtime_error(error.message[0] != '\0' ? error.message : "service call failed");
    }
  }
  void require(uint32_t minor, const char* what) const {
    if (served_minor_ < minor) {
      throw std::runtime_error(std::string("RateLimitService.") + what + " needs version 1." +
                               std::to_string(minor) + "; the loaded api module serves 1." +
                               std::to_string(served_minor_));
    }
  }

  const sp_rate_limit_service* table_;
  uint32_t served_minor_;
};

}  // namespace systemprompt
