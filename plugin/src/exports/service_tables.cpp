#include "exports/service_tables.hpp"

#include <cstddef>
#include <cstring>
#include <string>

#include "domain/errors.hpp"
#include "keys/key_codec.hpp"  // the key sizes the C capacities must hold
#include "present/documents.hpp"
#include "systemprompt/api_clients.hpp"
#include "systemprompt/module.hpp"

namespace api {
namespace {

// How long a statistics call waits for this process's queued records to reach the store.
constexpr std::chrono::milliseconds kStatsFlushWait{1000};

const Services& self(void* ctx) {
  return *static_cast<const Services*>(ctx);
}

// Every text a result struct carries fits its capacity, because the service refuses longer
// input (UTF-8 takes at most 4 bytes a character; each capacity counts the NUL).
constexpr size_t kKeyIdLength = 20;         // "key_" and 16 hex digits (looksLikeKeyId)
constexpr size_t kMaxKeyPrefixLength = 16;  // keyPrefix's bound in settings.cpp
static_assert(SP_API_KEY_ID_CAPACITY >= kKeyIdLength + 1);
static_assert(SP_API_KEY_SECRET_CAPACITY >= kMaxKeyPrefixLength + kKeyBodyLength + 1);
static_assert(SP_API_KEY_PREFIX_CAPACITY >= kKeyDisplayPrefixLength + 1);
static_assert(SP_API_USER_ID_CAPACITY >= 4 * kMaxUserLength + 1);
static_assert(SP_API_NAME_CAPACITY >= 4 * kMaxNameLength + 1);
static_assert(SP_API_SCOPES_CAPACITY >= kMaxScopes * (kMaxScopeLength + 1));  // commas, NUL
static_assert(SP_API_REASON_CAPACITY >= 4 * kMaxReasonLength + 1);
static_assert(SP_API_METADATA_CAPACITY >= kMaxMetadataBytes + 1);

template <size_t N>
void copyText(char (&out)[N], std::string_view text) {
  systemprompt::copyTruncated(out, N, text);
}

template <size_t N>
void copyScopes(char (&out)[N], const std::vector<std::string>& scopes) {
  size_t at = 0;
  for (const std::string& scope : scopes) {
    const size_t need = scope.size() + (at > 0 ? 1 : 0);
    if (at + need >= N) {
      break;
    }
    if (at > 0) {
      out[at++] = ',';
    }
    std::memcpy(out + at, scope.data(), scope.size());
    at += scope.size();
  }
  out[at] = '\0';
}

std::int64_t epochMs(const std::optional<TimePoint>& t) {
  return t ? t->time_since_epoch().count() : 0;
}

// The smallest `size` a caller's struct may declare: the layout of the minor version that
// introduced it (api_services.h). The fields added later are written only when the caller's
// size covers them (covers()), so older callers keep working.
template <typename Struct>
constexpr size_t kFirstLayoutSize = 0;  // every struct a table takes has its own below
template <>
constexpr size_t kFirstLayoutSize<sp_health> = SP_HEALTH_SIZE_1_0;
template <>
constexpr size_t kFirstLayoutSize<sp_api_key_validation> = SP_API_KEY_VALIDATION_SIZE_1_1;
template <>
constexpr size_t kFirstLayoutSize<sp_api_key_create_request> = SP_API_KEY_CREATE_REQUEST_SIZE_1_1;
template <>
constexpr size_t kFirstLayoutSize<sp_api_key_created> = SP_API_KEY_CREATED_SIZE_1_1;
template <>
constexpr size_t kFirstLayoutSize<sp_api_key_info> = SP_API_KEY_INFO_SIZE_1_1;
template <>
constexpr size_t kFirstLayoutSize<sp_api_request> = SP_API_REQUEST_SIZE_1_2;
template <>
constexpr size_t kFirstLayoutSize<sp_api_key_usage> = SP_API_KEY_USAGE_SIZE_1_2;
template <>
constexpr size_t kFirstLayoutSize<sp_rate_limit_decision> = SP_RATE_LIMIT_DECISION_SIZE_1_1;
template <>
constexpr size_t kFirstLayoutSize<sp_rate_limit_status> = SP_RATE_LIMIT_STATUS_SIZE_1_1;
template <>
constexpr size_t kFirstLayoutSize<sp_authorization> = SP_AUTHORIZATION_SIZE_1_1;

// Whether the caller's struct, of its declared size, holds the member at `offset` of `size`.
template <typename Struct>
bool covers(const Struct& s, size_t offset, size_t size) {
  return s.size >= offset + size;
}

template <typename Struct>
void requireStruct(const Struct* s, const char* what) {
  static_assert(kFirstLayoutSize<Struct> > 0, "give the struct its first layout size above");
  if (s == nullptr || s->size < kFirstLayoutSize<Struct>) {
    throw InvalidInput(std::string(what) + " is missing or declares a size below the " +
                       std::to_string(kFirstLayoutSize<Struct>) + " bytes of its first layout");
  }
}

std::string_view textOrEmpty(const char* text) {
  return text == nullptr ? "" : text;
}

// A caller's C string scanned no further than one byte past `max_bytes` (the most any check
// of it accepts), so a long text costs no more than a short one. Throws InvalidInput, naming
// `what`, when it is longer.
std::string_view boundedText(const char* text, size_t max_bytes, std::string_view what) {
  if (text == nullptr) {
    return "";
  }
  const size_t length = strnlen(text, max_bytes + 1);
  if (length > max_bytes) {
    throw InvalidInput(std::string(what) + " is longer than " + std::to_string(max_bytes) +
                       " bytes");
  }
  return {text, length};
}

template <typename Body>
sp_status serviceCall(sp_error* error, Body&& body) noexcept {
  return systemprompt::guard(error, [&] {
    try {
      body();
    } catch (const InvalidInput& e) {
      throw systemprompt::Failure(SP_ERROR_INVALID, e.what());
    } catch (const NotFound& e) {
      throw systemprompt::Failure(SP_ERROR_NOT_FOUND, e.what());
    } catch (const Conflict& e) {
      throw systemprompt::Failure(SP_ERROR_CONFLICT, e.what());
    } catch (const StoreError& e) {
      throw systemprompt::Failure(SP_ERROR_UNAVAILABLE, e.what());
    }
  });
}

void fillCreated(sp_api_key_created* out, const CreatedKey& created) {
  copyText(out->secret, created.secret);
  copyText(out->key_id, created.key.id);
  copyText(out->key_prefix, created.key.key_prefix);
  out->created_at_ms = created.key.created_at.time_since_epoch().count();
  out->expires_at_ms = epochMs(created.key.expires_at);
  if (covers(*out, offsetof(sp_api_key_created, rate_limit), sizeof(out->rate_limit))) {
    out->rate_limit = created.key.rate_limit;
  }
}

void fillInfo(sp_api_key_info* out, const KeyRecord& key, TimePoint now) {
  copyText(out->key_id, key.id);
  copyText(out->key_prefix, key.key_prefix);
  copyText(out->user_id, key.user_id);
  copyText(out->name, key.name);
  copyScopes(out->scopes, key.scopes);
  out->rate_limit = key.rate_limit;
  out->created_at_ms = key.created_at.time_since_epoch().count();
  out->expires_at_ms = epochMs(key.expires_at);
  out->last_used_at_ms = epochMs(key.last_used_at);
  out->revoked_at_ms = epochMs(key.revoked_at);
  switch (key.statusAt(now)) {
    case KeyStatus::kActive:
      out->status = SP_API_KEY_VALID;
      break;
    case KeyStatus::kRevoked:
      out->status = SP_API_KEY_REVOKED;
      break;
    case KeyStatus::kExpired:
      out->status = SP_API_KEY_EXPIRED;
      break;
  }
  if (covers(*out, offsetof(sp_api_key_info, metadata_json), sizeof(out->metadata_json))) {
    copyText(out->revoked_reason, key.revoked_reason.value_or(""));
    copyText(out->metadata_json, key.metadata_json.empty() ? "{}" : key.metadata_json);
  }
}

sp_api_key_reason reasonCode(KeyRejection r) {
  switch (r) {
    case KeyRejection::kNone:
      return SP_API_KEY_VALID;
    case KeyRejection::kMalformed:
      return SP_API_KEY_MALFORMED;
    case KeyRejection::kNotFound:
      return SP_API_KEY_NOT_FOUND;
    case KeyRejection::kRevoked:
      return SP_API_KEY_REVOKED;
    case KeyRejection::kExpired:
      return SP_API_KEY_EXPIRED;
    case KeyRejection::kInternalError:
      return SP_API_KEY_INTERNAL_ERROR;
  }
  return SP_API_KEY_INTERNAL_ERROR;
}

sp_status health(void* ctx, sp_health* out, sp_error* error) {
  return serviceCall(error, [&] {
    requireStruct(out, "sp_health");
    self(ctx).health(*out);
  });
}

sp_status create(void* ctx, const sp_api_key_create_request* request, sp_api_key_created* out,
                 sp_error* error) {
  return serviceCall(error, [&] {
    requireStruct(request, "sp_api_key_create_request");
    requireStruct(out, "sp_api_key_created");
    CreateKeyRequest r;
    // A character is at most 4 bytes of UTF-8: past that, the service's own check refuses.
    r.user_id = boundedText(request->user_id, 4 * kMaxUserLength, "user_id");
    r.name = boundedText(request->name, 4 * kMaxNameLength, "name");
    if (const std::string_view scopes = boundedText(request->scopes, kMaxScopesText, "scopes");
        !scopes.empty()) {
      r.scopes = ApiKeyService::parseScopes(scopes);
    }
    if (request->rate_limit != 0) {
      r.rate_limit = request->rate_limit;
    }
    if (request->expires_in_ms != 0) {
      r.expires_in = std::chrono::milliseconds(request->expires_in_ms);
    }
    r.metadata_json = boundedText(request->metadata_json, kMaxMetadataBytes, "metadata_json");
    r.actor = boundedText(request->actor, 4 * kMaxActorLength, "actor");
    fillCreated(out, self(ctx).keys.createKey(r));
  });
}

sp_status validate(void* ctx, const char* key, size_t length, sp_api_key_validation* out,
                   sp_error* error) {
  if (out == nullptr || out->size < kFirstLayoutSize<sp_api_key_validation>) {
    systemprompt::setError(error, "sp_api_key_validation is missing or declares a size below the " +
                                      std::to_string(kFirstLayoutSize<sp_api_key_validation>) +
                                      " bytes of its first layout");
    return SP_ERROR_INVALID;
  }
  out->valid = 0;
  out->reason = SP_API_KEY_MALFORMED;
  out->key_id[0] = out->user_id[0] = out->scopes[0] = '\0';
  out->rate_limit = 0;
  out->expires_at_ms = 0;
  if (key == nullptr) {
    return SP_OK;
  }
  const KeyValidation v = self(ctx).keys.validateKey(std::string_view(key, length));
  out->valid = v.valid ? 1 : 0;
  out->reason = reasonCode(v.reason);
  if (v.key) {
    copyText(out->key_id, v.key->id);
    copyText(out->user_id, v.key->user_id);
    copyScopes(out->scopes, v.key->scopes);
    out->rate_limit = v.key->rate_limit;
    out->expires_at_ms = epochMs(v.key->expires_at);
  }
  return SP_OK;
}

sp_status revoke(void* ctx, const char* key_or_id, const char* reason, const char* actor,
                 sp_error* error) {
  return serviceCall(error, [&] {
    self(ctx).keys.revokeKey(textOrEmpty(key_or_id), textOrEmpty(reason), textOrEmpty(actor));
  });
}

sp_status rotate(void* ctx, const char* key_id, int64_t grace_ms, const char* actor,
                 sp_api_key_created* out, sp_error* error) {
  return serviceCall(error, [&] {
    requireStruct(out, "sp_api_key_created");
    fillCreated(out,
                self(ctx).keys.rotateKey(textOrEmpty(key_id), std::chrono::milliseconds(grace_ms),
                                         textOrEmpty(actor)));
  });
}

sp_status get(void* ctx, const char* key_id, sp_api_key_info* out, sp_error* error) {
  return serviceCall(error, [&] {
    requireStruct(out, "sp_api_key_info");
    const Services& services = self(ctx);
    fillInfo(out, services.keys.getKey(textOrEmpty(key_id)), services.clock.now());
  });
}

sp_status list(void* ctx, const char* user_id, int active_only, sp_api_key_info* keys,
               size_t capacity, size_t* count, sp_error* error) {
  return serviceCall(error, [&] {
    if (capacity > 0) {
      requireStruct(keys, "sp_api_key_info");
    }
    const Services& services = self(ctx);
    const std::optional<std::string_view> user =
        user_id == nullptr ? std::nullopt : std::optional<std::string_view>(user_id);
    const std::vector<KeyRecord> found = services.keys.listKeys(user, active_only != 0);
    if (count != nullptr) {
      *count = found.size();
    }
    if (found.size() > capacity) {
      throw InvalidInput(std::to_string(found.size()) + " keys match; the array holds " +
                         std::to_string(capacity));
    }
    const TimePoint now = services.clock.now();
    const size_t stride = capacity > 0 ? keys->size : 0;
    if (stride % alignof(sp_api_key_info) != 0) {
      throw InvalidInput("keys[0].size " + std::to_string(stride) + " is not a multiple of " +
                         std::to_string(alignof(sp_api_key_info)) +
                         ": use sizeof(sp_api_key_info)");
    }
    auto* at = reinterpret_cast<unsigned char*>(keys);
    for (const KeyRecord& key : found) {
      auto* element = reinterpret_cast<sp_api_key_info*>(at);
      element->size = static_cast<uint32_t>(stride);
      fillInfo(element, key, now);
      at += stride;
    }
  });
}

sp_status recordRequest(void* ctx, const char* key_id, const sp_api_request* request,
                        sp_error* error) {
  return serviceCall(error, [&] {
    requireStruct(request, "sp_api_request");
    RequestInput input;
    input.endpoint = textOrEmpty(request->endpoint);
    input.method = textOrEmpty(request->method);
    input.status_code = request->status_code;
    input.response_time_ms = request->response_time_ms;
    input.ip_address = textOrEmpty(request->ip_address);
    input.user_agent = textOrEmpty(request->user_agent);
    if (!self(ctx).recorder.record(textOrEmpty(key_id), input)) {
      throw systemprompt::Failure(SP_ERROR_UNAVAILABLE,
                                  "request record dropped: the usage queue is full");
    }
  });
}

sp_status usageStats(void* ctx, const char* period, const char* key_id, char* json, size_t capacity,
                     size_t* needed, sp_error* error) {
  return serviceCall(error, [&] {
    const Services& services = self(ctx);
    const std::string period_text = period == nullptr ? "24h" : period;
    std::optional<std::string> key;
    if (key_id != nullptr) {
      key = key_id;
    }
    const Span parsed = UsageService::parsePeriod(period_text, "period");
    services.recorder.flushFor(kStatsFlushWait);  // this process's own records count too
    const UsageStats stats = services.usage.stats(parsed, key);
    const std::string text = jsonText(usageObject(stats, period_text));
    if (needed != nullptr) {
      *needed = text.size() + 1;
    }
    if (json == nullptr || capacity < text.size() + 1) {
      throw InvalidInput("the statistics need " + std::to_string(text.size() + 1) +
                         " bytes; the buffer has " + std::to_string(capacity));
    }
    std::memcpy(json, text.c_str(), text.size() + 1);
  });
}

sp_status keyUsage(void* ctx, const char* key_id, const char* period, sp_api_key_usage* out,
                   sp_error* error) {
  return serviceCall(error, [&] {
    requireStruct(out, "sp_api_key_usage");
    const Services& services = self(ctx);
    const std::string id(textOrEmpty(key_id));
    const Span parsed = UsageService::parsePeriod(period == nullptr ? "24h" : period, "period");
    services.recorder.flushFor(kStatsFlushWait);
    const UsageStats s = services.usage.stats(parsed, id);
    out->total = s.total_requests;
    out->failures = s.errors;
    out->successes = s.total_requests - s.errors;
    out->average_response_ms = s.averageMs();
    out->p95_response_ms = s.p95_ms;
    out->last_request_ms = s.keys.empty() ? 0 : s.keys.front().last_request_ms;
  });
}

void fillDecision(sp_rate_limit_decision* out, const LimitDecision& d) {
  out->allowed = d.allowed ? 1 : 0;
  switch (d.outcome) {
    case LimitOutcome::kAllowed:
      out->outcome = SP_RATE_LIMIT_ALLOWED;
      break;
    case LimitOutcome::kOverLimit:
      out->outcome = SP_RATE_LIMIT_OVER_LIMIT;
      break;
    case LimitOutcome::kCostExceedsLimit:
      out->outcome = SP_RATE_LIMIT_COST_EXCEEDS_LIMIT;
      break;
    case LimitOutcome::kUnknownKey:
      out->outcome = SP_RATE_LIMIT_UNKNOWN_KEY;
      break;
    case LimitOutcome::kStoreError:
      out->outcome = SP_RATE_LIMIT_STORE_ERROR;
      break;
    case LimitOutcome::kKeyRevoked:
      out->outcome = SP_RATE_LIMIT_KEY_REVOKED;
      break;
    case LimitOutcome::kKeyExpired:
      out->outcome = SP_RATE_LIMIT_KEY_EXPIRED;
      break;
  }
  out->failed_open = d.failed_open ? 1 : 0;
  out->limit = d.limit;
  out->remaining = d.remaining;
  out->reset_at_ms = d.reset_at.time_since_epoch().count();
  out->retry_after_ms = d.retry_after ? d.retry_after->count() : -1;
}

// What a decision says before anything is decided, and after any failure: not admitted.
void refuseDecision(sp_rate_limit_decision* out) {
  const uint32_t size = out->size;
  *out = sp_rate_limit_decision{};
  out->size = size;  // allowed is 0 already
  out->outcome = SP_RATE_LIMIT_STORE_ERROR;
  out->retry_after_ms = -1;
}

sp_status limitCheck(void* ctx, const char* key_id, int64_t cost, sp_rate_limit_decision* out,
                     sp_error* error) {
  return serviceCall(error, [&] {
    requireStruct(out, "sp_rate_limit_decision");
    refuseDecision(out);
    fillDecision(out, self(ctx).limits.check(textOrEmpty(key_id), cost));
  });
}

sp_status limitPeek(void* ctx, const char* key_id, int64_t cost, sp_rate_limit_decision* out,
                    sp_error* error) {
  return serviceCall(error, [&] {
    requireStruct(out, "sp_rate_limit_decision");
    refuseDecision(out);
    fillDecision(out, self(ctx).limits.peek(textOrEmpty(key_id), cost));
  });
}

sp_status limitStatus(void* ctx, const char* key_id, sp_rate_limit_status* out, sp_error* error) {
  return serviceCall(error, [&] {
    requireStruct(out, "sp_rate_limit_status");
    const LimitStatus s = self(ctx).limits.status(textOrEmpty(key_id));
    out->limit = s.limit;
    out->used = s.used;
    out->remaining = s.remaining;
    out->window_size_ms = s.window_size_ms;
    out->window_start_ms = s.window_start.time_since_epoch().count();
    out->window_end_ms = s.window_end.time_since_epoch().count();
    out->reset_at_ms = s.reset_at.time_since_epoch().count();
  });
}

sp_status limitReset(void* ctx, const char* key_id, const char* actor, sp_error* error) {
  return serviceCall(error,
                     [&] { self(ctx).limits.reset(textOrEmpty(key_id), textOrEmpty(actor)); });
}

sp_status limitUpdate(void* ctx, const char* key_id, int64_t new_limit, const char* actor,
                      sp_error* error) {
  return serviceCall(
      error, [&] { self(ctx).limits.update(textOrEmpty(key_id), new_limit, textOrEmpty(actor)); });
}

// AuthorizeResult's reason as the enum, by the clients' own table of reasons, so the two
// cannot disagree.
sp_authorize_outcome authorizeOutcome(const AuthorizeResult& r) {
  return r.allowed ? SP_AUTHORIZE_OK : systemprompt::RateLimitServiceClient::outcomeOf(r.reason);
}

sp_status authorize(void* ctx, const char* key, size_t length, int64_t cost, sp_authorization* out,
                    sp_error* error) {
  return serviceCall(error, [&] {
    requireStruct(out, "sp_authorization");
    const bool has_outcome =
        covers(*out, offsetof(sp_authorization, outcome), sizeof(out->outcome));
    out->allowed = 0;
    out->reason = "internal_error";
    out->key_id[0] = out->user_id[0] = out->scopes[0] = '\0';
    out->limit.size = sizeof(out->limit);
    refuseDecision(&out->limit);
    if (has_outcome) {
      out->outcome = SP_AUTHORIZE_INTERNAL_ERROR;
    }
    const AuthorizeResult r = self(ctx).limits.authorize(
        key == nullptr ? std::string_view() : std::string_view(key, length), cost);
    out->allowed = r.allowed ? 1 : 0;
    out->reason = r.reason;
    if (has_outcome) {
      out->outcome = authorizeOutcome(r);
    }
    if (r.key) {
      copyText(out->key_id, r.key->id);
      copyText(out->user_id, r.key->user_id);
      copyScopes(out->scopes, r.key->scopes);
    }
    fillDecision(&out->limit, r.limit);
  });
}

}  // namespace

sp_api_key_service makeKeyServiceTable(const Services& services) {
  sp_api_key_service table{};
  table.size = sizeof(table);
  table.ctx = const_cast<Services*>(&services);  // the C ABI's ctx is void*; never written
  table.health = &health;
  table.create = &create;
  table.validate = &validate;
  table.revoke = &revoke;
  table.rotate = &rotate;
  table.get = &get;
  table.record_request = &recordRequest;
  table.get_usage_stats = &usageStats;
  table.get_api_key_usage = &keyUsage;
  table.list = &list;
  return table;
}

sp_rate_limit_service makeRateLimitServiceTable(const Services& services) {
  sp_rate_limit_service table{};
  table.size = sizeof(table);
  table.ctx = const_cast<Services*>(&services);  // the C ABI's ctx is void*; never written
  table.health = &health;
  table.check = &limitCheck;
  table.peek = &limitPeek;
  table.status = &limitStatus;
  table.reset = &limitReset;
  table.update = &limitUpdate;
  table.authorize = &authorize;
  return table;
}

}  // namespace api
