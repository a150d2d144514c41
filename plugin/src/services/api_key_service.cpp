#include "services/api_key_service.hpp"

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>
#include <boost/json/value.hpp>
#include <string>

#include "domain/errors.hpp"
#include "keys/key_codec.hpp"
#include "util/text.hpp"
#include "util/time_text.hpp"

namespace api {
namespace {

void checkText(std::string_view field, std::string_view value, size_t max_length) {
  if (value.empty()) {
    throw InvalidInput(std::string(field) + " must not be empty");
  }
  // A UTF-8 character takes at most 4 bytes: anything longer is refused before it is read.
  if (value.size() > 4 * max_length) {
    throw InvalidInput(std::string(field) + " is " + std::to_string(value.size()) +
                       " bytes long; at most " + std::to_string(max_length) +
                       " characters are accepted");
  }
  const auto length = printableLength(value);
  if (!length) {
    throw InvalidInput(std::string(field) +
                       " must be printable UTF-8 text, without control or bidirectional "
                       "formatting characters");
  }
  if (isBlank(value)) {
    throw InvalidInput(std::string(field) + " must not be blank");
  }
  if (*length > max_length) {
    throw InvalidInput(std::string(field) + " is " + std::to_string(*length) +
                       " characters long; at most " + std::to_string(max_length) + " are accepted");
  }
}

bool isScopeChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == ':' || c == '.' || c == '_' ||
         c == '-';
}

bool isValidScope(std::string_view scope) {
  return !scope.empty() && scope.size() <= kMaxScopeLength &&
         std::all_of(scope.begin(), scope.end(), isScopeChar);
}

// `list`: the whole list the scope came from, when it came from one.
std::string invalidScope(std::string_view scope, std::string_view list = {}) {
  return "invalid scope \"" + std::string(scope) + "\"" +
         (list.empty() ? std::string() : " in \"" + std::string(list) + "\"") +
         ": use a comma-separated list of [a-z0-9:._-]+ (each at most " +
         std::to_string(kMaxScopeLength) + " characters), e.g. read,write";
}

std::string auditDetails(
    std::initializer_list<std::pair<std::string_view, boost::json::value>> kv) {
  boost::json::object object;
  for (const auto& [k, v] : kv) {
    object[k] = v;
  }
  return boost::json::serialize(object);
}

boost::json::array scopesArray(const std::vector<std::string>& scopes) {
  boost::json::array array;
  for (const auto& s : scopes) {
    array.emplace_back(s);
  }
  return array;
}

// What a rotation's replacement inherits from the key it replaces: everything that says
// whose key it is and what it may do, as it is at the rotation. A rotation never extends or
// drops an expiry.
void inheritSettings(const KeyRecord& old, KeyRecord& replacement) {
  replacement.user_id = old.user_id;
  replacement.name = old.name;
  replacement.scopes = old.scopes;
  replacement.rate_limit = old.rate_limit;
  replacement.expires_at = old.expires_at;
  replacement.metadata_json = old.metadata_json;
}

}  // namespace

void checkActor(std::string_view actor) {
  if (!actor.empty()) {
    checkText("actor", actor, kMaxActorLength);
  }
}

const char* keyRejectionName(KeyRejection reason) {
  switch (reason) {
    case KeyRejection::kNone:
      return "none";
    case KeyRejection::kMalformed:
      return "malformed";
    case KeyRejection::kNotFound:
      return "not_found";
    case KeyRejection::kRevoked:
      return "revoked";
    case KeyRejection::kExpired:
      return "expired";
    case KeyRejection::kInternalError:
      return "internal_error";
  }
  return "internal_error";
}

ApiKeyService::ApiKeyService(const ApiSettings& settings, Stores& stores, const Clock& clock,
                             const HostLogger& logger, RandomSource& random)
    : ApiKeyService(settings, stores.keys(), stores.keys(), stores.windows(), clock, logger,
                    random) {}

ApiKeyService::ApiKeyService(const ApiSettings& settings, KeyStore& keys, KeyStore& lookups,
                             WindowStore& windows, const Clock& clock, const HostLogger& logger,
                             RandomSource& random)
    : settings_(settings),
      store_(keys),
      lookups_(lookups),
      windows_(windows),
      clock_(clock),
      logger_(logger),
      random_(random) {}

void ApiKeyService::checkScopeCount(size_t count) {
  if (count > kMaxScopes) {
    throw InvalidInput("too many scopes (more than " + std::to_string(kMaxScopes) + "); at most " +
                       std::to_string(kMaxScopes) + " distinct scopes are accepted");
  }
}

std::vector<std::string> ApiKeyService::parseScopes(std::string_view text) {
  if (text.size() > kMaxScopesText) {
    throw InvalidInput("the scope list is " + std::to_string(text.size()) +
                       " bytes long; at most " + std::to_string(kMaxScopesText) +
                       " are accepted (" + std::to_string(kMaxScopes) + " scopes of up to " +
                       std::to_string(kMaxScopeLength) + " characters)");
  }
  std::vector<std::string> scopes;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = std::min(text.find(',', start), text.size());
    std::string_view scope = text.substr(start, comma - start);
    while (!scope.empty() && scope.front() == ' ') {
      scope.remove_prefix(1);
    }
    while (!scope.empty() && scope.back() == ' ') {
      scope.remove_suffix(1);
    }
    if (!isValidScope(scope)) {
      throw InvalidInput(invalidScope(scope, text));
    }
    if (std::find(scopes.begin(), scopes.end(), scope) == scopes.end()) {
      checkScopeCount(scopes.size() + 1);  // before the work of one more
      scopes.emplace_back(scope);
    }
    start = comma + 1;
  }
  return scopes;
}

KeyRecord ApiKeyService::newKeyRecord(const std::string& secret, TimePoint now) const {
  KeyRecord key;
  key.id = "key_" + randomHex(8, random_);
  key.key_hash = hashKey(secret);
  key.key_prefix = displayPrefix(secret);
  key.created_at = now;
  return key;
}

CreatedKey ApiKeyService::createKey(const CreateKeyRequest& request) {
  checkText("name", request.name, kMaxNameLength);
  checkText("user", request.user_id, kMaxUserLength);
  checkActor(request.actor);
  checkScopeCount(request.scopes.size());
  for (const std::string& scope : request.scopes) {
    if (!isValidScope(scope)) {
      throw InvalidInput(invalidScope(scope));
    }
  }
  const std::int64_t limit = request.rate_limit.value_or(settings_.rate_limits.default_limit);
  checkRateLimit(limit);
  const TimePoint now = clock_.now();
  std::optional<TimePoint> expires_at;
  if (request.expires_in) {
    if (request.expires_in->count() <= 0 || *request.expires_in > kMaxLifetime) {
      throw InvalidInput("expiry of " + std::to_string(request.expires_in->count()) +
                         " ms is out of range: use 1 ms to 100 years (" +
                         std::to_string(kMaxLifetime.count()) + " ms)");
    }
    expires_at = now + *request.expires_in;
    if (*expires_at > kLatestTime) {
      throw InvalidInput("expiry of " + std::to_string(request.expires_in->count()) +
                         " ms from now is past 9999-12-31T23:59:59.999Z, the last time that "
                         "can be stored");
    }
  }
  std::string metadata = request.metadata_json.empty() ? "{}" : request.metadata_json;
  if (metadata.size() > kMaxMetadataBytes) {
    throw InvalidInput("metadata is " + std::to_string(metadata.size()) + " bytes; at most " +
                       std::to_string(kMaxMetadataBytes) + " are accepted");
  }
  boost::json::error_code ec;
  const boost::json::value parsed = boost::json::parse(metadata, ec);
  if (ec || !parsed.is_object()) {
    throw InvalidInput("metadata must be a JSON object, e.g. {\"team\":\"billing\"}");
  }
  metadata = boost::json::serialize(parsed);

  CreatedKey created;
  created.secret = generateKey(settings_.keys.prefix, random_);
  created.key = newKeyRecord(created.secret, now);
  created.key.user_id = request.user_id;
  created.key.name = request.name;
  created.key.scopes = request.scopes;
  created.key.rate_limit = limit;
  created.key.expires_at = expires_at;
  created.key.metadata_json = metadata;

  AuditRecord audit{
      0,
      created.key.id,
      "create",
      request.actor,
      now,
      "",
      auditDetails({{"user_id", boost::json::value(request.user_id)},
                    {"name", boost::json::value(request.name)},
                    {"scopes", scopesArray(request.scopes)},
                    {"rate_limit", limit},
                    {"key_prefix", boost::json::value(created.key.key_prefix)},
                    {"expires_at", expires_at ? boost::json::value(formatIsoUtc(*expires_at))
                                              : boost::json::value(nullptr)}})};
  if (store_.insert(created.key, settings_.keys.max_active_per_user, now, audit) ==
      KeyStore::InsertOutcome::kUserAtKeyLimit) {
    throw Conflict("user \"" + request.user_id + "\" already has " +
                   std::to_string(settings_.keys.max_active_per_user) +
                   " active keys (maxKeysPerUser); revoke one first");
  }
  logger_.info("api key created", {{"key_id", created.key.id},
                                   {"user_id", created.key.user_id},
                                   {"key_prefix", created.key.key_prefix},
                                   {"actor", request.actor}});
  return created;
}

bool ApiKeyService::isAcceptedFormat(std::string_view key) const noexcept {
  return isWellFormedKey(key, settings_.keys.prefix) ||
         (settings_.keys.accept_legacy && isLegacyKey(key, settings_.keys.prefix));
}

KeyValidation ApiKeyService::validateKey(std::string_view key, bool record_use) noexcept {
  KeyValidation result;
  if (!isAcceptedFormat(key)) {
    result.reason = KeyRejection::kMalformed;
    return result;
  }
  try {
    result.key = findByHash(hashKeyHex(key));
    if (!result.key) {
      result.reason = KeyRejection::kNotFound;
      return result;
    }
    const TimePoint now = clock_.now();
    switch (result.key->statusAt(now)) {
      case KeyStatus::kRevoked:
        result.reason = KeyRejection::kRevoked;
        return result;
      case KeyStatus::kExpired:
        result.reason = KeyRejection::kExpired;
        return result;
      case KeyStatus::kActive:
        break;
    }
    result.valid = true;
    result.reason = KeyRejection::kNone;
    if (record_use &&
        (!result.key->last_used_at || now - *result.key->last_used_at >= kLastUsedResolution)) {
      if (recordLastUse(*result.key, now)) {  // the answer shows it; the cached record not
        auto touched = std::make_shared<KeyRecord>(*result.key);
        touched->last_used_at = now;
        result.key = std::move(touched);
      }
    }
    return result;
  } catch (const std::exception& e) {
    result = KeyValidation{};
    result.reason = KeyRejection::kInternalError;
    try {
      logger_.error("key validation failed closed", {{"error", e.what()}});
    } catch (...) {
    }
    return result;
  } catch (...) {
    return KeyValidation{};
  }
}

std::shared_ptr<const KeyRecord> ApiKeyService::findByHash(const std::array<char, 64>& hash) {
  const std::optional<ChangeToken> stamp = lookups_.changeToken();  // before the lookup
  if (stamp) {
    std::shared_lock lock(cache_mutex_);
    const auto it = cache_.find(hash);
    if (it != cache_.end() && it->second.stamp == *stamp &&
        clock_.monotonicNow() - it->second.filled_at < kExternalChangeBound) {
      if (logger_.traceEnabled()) {
        logger_.trace("key cache hit", {{"key_id", it->second.key->id}});
      }
      return it->second.key;
    }
  }
  const MonotonicTime looked_up_at = clock_.monotonicNow();
  std::optional<KeyRecord> found = lookups_.findByHash(std::string_view(hash.data(), hash.size()));
  std::shared_ptr<const KeyRecord> key =
      found ? std::make_shared<const KeyRecord>(std::move(*found)) : nullptr;
  if (logger_.traceEnabled()) {
    // Never the hash: it identifies the key as well as an id, and ids are what logs carry.
    logger_.trace("key cache miss: looked up in the store",
                  {{"found", key ? key->id : std::string("no")},
                   {"cache", stamp ? "usable" : "off (no change token)"}});
  }
  if (stamp && key) {
    std::unique_lock lock(cache_mutex_);
    if (cache_.size() >= kMaxCachedKeys) {
      cache_.clear();
    }
    cache_.insert_or_assign(hash, CachedKey{*stamp, looked_up_at, key});
  }
  return key;
}

void ApiKeyService::forgetWindows(const std::string& key_id) noexcept {
  // The key can never be counted again, so its windows only wait for cleanup; a failure to
  // forget them now is logged, never reported as a failed revocation.
  try {
    windows_.forget(key_id);
  } catch (const std::exception& e) {
    try {
      logger_.warn("could not clear a revoked key's rate-limit windows; cleanup will",
                   {{"key_id", key_id}, {"error", e.what()}});
    } catch (...) {
    }
  }
}

bool ApiKeyService::recordLastUse(const KeyRecord& key, TimePoint now) noexcept {
  try {
    {
      std::lock_guard lock(last_use_mutex_);
      auto [it, fresh] = last_use_attempts_.try_emplace(key.id, now);
      if (!fresh && now - it->second < kLastUsedResolution) {
        return false;  // another validation in this process is writing it, or just did
      }
      it->second = now;
    }
    if (lookups_.touchLastUsed(key.id, now)) {
      return true;
    }
    std::lock_guard lock(last_use_mutex_);  // busy: let a validation a second from now retry
    last_use_attempts_[key.id] = now - kLastUsedResolution + std::chrono::seconds(1);
  } catch (const std::exception& e) {
    try {
      logger_.warn("could not record a key's last use", {{"key_id", key.id}, {"error", e.what()}});
    } catch (...) {
    }
  }
  return false;
}

KeyRecord ApiKeyService::revokeKey(std::string_view key_or_id, std::string_view reason,
                                   std::string_view actor) {
  std::string id(key_or_id);
  if (key_or_id.substr(0, settings_.keys.prefix.size()) == settings_.keys.prefix &&
      !looksLikeKeyId(key_or_id)) {
    if (!isAcceptedFormat(key_or_id)) {
      throw InvalidInput(
          "the key given is malformed (wrong length, characters or checksum); "
          "pass a full key or a key id");
    }
    const auto found = store_.findByHash(hashKey(key_or_id));
    if (!found) {
      throw NotFound("no key matches the key given");
    }
    id = found->id;
  } else if (key_or_id.empty()) {
    throw InvalidInput("key or key id must not be empty");
  }
  if (!reason.empty()) {
    checkText("reason", reason, kMaxReasonLength);
  }
  checkActor(actor);
  const TimePoint now = clock_.now();
  const AuditRecord audit{0, id, "revoke", std::string(actor), now, std::string(reason), "{}"};
  const auto result = store_.revoke(id, reason, now, audit);
  switch (result.outcome) {
    case KeyStore::ChangeOutcome::kNotFound:
    case KeyStore::ChangeOutcome::kUserAtKeyLimit:  // not outcomes of revoke
    case KeyStore::ChangeOutcome::kChanged:
      throw NotFound("no key with id " + quotedId(id));
    case KeyStore::ChangeOutcome::kAlreadyRevoked:
      throw Conflict("key " + id + " was already revoked at " +
                     formatIsoUtc(*result.key->revoked_at) +
                     (result.key->revoked_reason ? " (reason: " + *result.key->revoked_reason + ")"
                                                 : std::string()));
    case KeyStore::ChangeOutcome::kDone:
      break;
  }
  forgetWindows(id);
  logger_.info("api key revoked",
               {{"key_id", id}, {"reason", std::string(reason)}, {"actor", std::string(actor)}});
  return *result.key;
}

CreatedKey ApiKeyService::rotateKey(std::string_view key_id, std::chrono::milliseconds grace,
                                    std::string_view actor) {
  if (grace.count() < 0 || grace > kMaxGrace) {
    throw InvalidInput("grace period of " + std::to_string(grace.count()) +
                       " ms is out of range: use 0 to 1 year (" +
                       std::to_string(kMaxGrace.count()) + " ms)");
  }
  checkActor(actor);
  const TimePoint now = clock_.now();
  const TimePoint old_ends = now + grace;
  if (old_ends > kLatestTime) {
    throw InvalidInput("grace period of " + std::to_string(grace.count()) +
                       " ms from now is past 9999-12-31T23:59:59.999Z, the last time that can "
                       "be stored");
  }
  CreatedKey created;
  created.secret = generateKey(settings_.keys.prefix, random_);
  created.replaced_key_revoked_at = old_ends;
  const std::string old_id(key_id);
  // A compare-and-set on the old key as read here: when anything changed it in between
  // (a revoke, a limit update, another rotation), read it again and decide anew.
  KeyStore::ChangeResult result;
  for (int attempt = 0;; ++attempt) {
    const std::optional<KeyRecord> old = store_.findById(old_id);
    if (!old) {
      throw NotFound("no key with id " + quotedId(key_id));
    }
    if (old->revoked_at && *old->revoked_at > now) {
      throw Conflict("key " + old->id + " was already rotated; it is revoked at " +
                     formatIsoUtc(*old->revoked_at) + ", rotate its replacement instead");
    }
    if (old->statusAt(now) != KeyStatus::kActive) {
      throw Conflict("key " + old->id + " is " + keyStatusName(old->statusAt(now)) +
                     "; only an active key can be rotated");
    }
    created.key = newKeyRecord(created.secret, now);
    inheritSettings(*old, created.key);
    const AuditRecord old_audit{
        0,
        old_id,
        "rotate",
        std::string(actor),
        now,
        "rotated",
        auditDetails({{"replaced_by", boost::json::value(created.key.id)},
                      {"old_key_revoked_at", boost::json::value(formatIsoUtc(old_ends))},
                      {"grace_ms", grace.count()}})};
    const AuditRecord new_audit{
        0,
        created.key.id,
        "create",
        std::string(actor),
        now,
        "",
        auditDetails({{"rotated_from", boost::json::value(old_id)},
                      {"key_prefix", boost::json::value(created.key.key_prefix)}})};
    result = store_.rotate(*old, created.key, now, old_ends, settings_.keys.max_active_per_user,
                           old_audit, new_audit);
    if (result.outcome != KeyStore::ChangeOutcome::kChanged) {
      break;
    }
    if (attempt == KeyStore::kMaxChangeAttempts) {
      throw StoreError("key " + old_id + " kept changing while it was being rotated; try again",
                       true);
    }
  }
  switch (result.outcome) {
    case KeyStore::ChangeOutcome::kNotFound:
      throw NotFound("no key with id " + quotedId(key_id));
    case KeyStore::ChangeOutcome::kUserAtKeyLimit:
      throw Conflict("user \"" + created.key.user_id + "\" already has " +
                     std::to_string(settings_.keys.max_active_per_user) +
                     " active keys (maxKeysPerUser), and a grace period keeps the old key "
                     "active beside the new one; rotate without a grace period or revoke "
                     "another key first");
    case KeyStore::ChangeOutcome::kAlreadyRevoked:  // not outcomes of rotate
    case KeyStore::ChangeOutcome::kChanged:
    case KeyStore::ChangeOutcome::kDone:
      break;
  }
  if (old_ends <= now) {
    forgetWindows(old_id);
  }
  created.key = *result.key;
  logger_.info("api key rotated", {{"old_key_id", old_id},
                                   {"new_key_id", created.key.id},
                                   {"grace_ms", std::to_string(grace.count())},
                                   {"actor", std::string(actor)}});
  return created;
}

bool ApiKeyService::undoRotation(std::string_view old_key_id, const CreatedKey& rotated,
                                 std::string_view actor) {
  checkActor(actor);
  const TimePoint now = clock_.now();
  const AuditRecord old_audit{0,
                              std::string(old_key_id),
                              "rotation_undone",
                              std::string(actor),
                              now,
                              "secret_not_delivered",
                              auditDetails({{"replaced_by", boost::json::value(rotated.key.id)}})};
  const AuditRecord new_audit{0,   rotated.key.id,         "revoke", std::string(actor),
                              now, "secret_not_delivered", "{}"};
  const bool restored =
      store_.undoRotation(old_key_id, rotated.key.id, rotated.replaced_key_revoked_at.value_or(now),
                          now, old_audit, new_audit);
  forgetWindows(rotated.key.id);
  logger_.warn("api key rotation undone: the new key's secret was not delivered",
               {{"old_key_id", std::string(old_key_id)},
                {"new_key_id", rotated.key.id},
                {"old_key_restored", restored ? "true" : "false"},
                {"actor", std::string(actor)}});
  return restored;
}

KeyRecord ApiKeyService::getKey(std::string_view key_id) {
  auto key = store_.findById(key_id);
  if (!key) {
    throw NotFound("no key with id " + quotedId(key_id));
  }
  return *key;
}

std::vector<KeyRecord> ApiKeyService::listKeys(std::optional<std::string_view> user_id,
                                               bool active_only) {
  std::vector<KeyRecord> keys = store_.list(user_id);
  if (active_only) {
    const TimePoint now = clock_.now();
    std::erase_if(keys, [&](const KeyRecord& k) { return k.statusAt(now) != KeyStatus::kActive; });
  }
  return keys;
}

std::vector<AuditRecord> ApiKeyService::auditTrail(std::string_view key_id) {
  return store_.auditTrail(key_id);
}

}  // namespace api
