// ApiKeyService: the key life cycle (create, validate, revoke, rotate, read) over a KeyStore.
// Thread-safe; used by the CLI adapters and exported to sibling modules through the C table
// in systemprompt/api_services.h.
#pragma once

#include <array>
#include <chrono>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "config/settings.hpp"
#include "domain/clock.hpp"
#include "domain/random.hpp"
#include "log/host_logger.hpp"
#include "store/key_store.hpp"
#include "store/stores.hpp"
#include "store/window_store.hpp"

namespace api {

inline constexpr size_t kMaxNameLength = 200;  // characters (UTF-8 code points)
inline constexpr size_t kMaxUserLength = 200;  // characters (UTF-8 code points)
inline constexpr size_t kMaxScopes = 32;
inline constexpr size_t kMaxScopeLength = 64;
// A scope list longer than this (bytes) is refused before it is split: room for kMaxScopes
// scopes of kMaxScopeLength with a comma and a space each, and as much again of repeats.
inline constexpr size_t kMaxScopesText = 2 * kMaxScopes * (kMaxScopeLength + 2);
inline constexpr size_t kMaxReasonLength = 500;  // characters
inline constexpr size_t kMaxActorLength = 200;   // characters
inline constexpr size_t kMaxMetadataBytes = 4096;
// last_used_at is rewritten when it is older than this, not on every validation.
inline constexpr std::chrono::milliseconds kLastUsedResolution{60'000};

struct CreateKeyRequest {
  std::string user_id;
  std::string name;
  std::vector<std::string> scopes;
  std::optional<std::int64_t> rate_limit;               // default: settings' defaultRateLimit
  std::optional<std::chrono::milliseconds> expires_in;  // none: never expires
  std::string metadata_json;                            // a JSON object; empty means {}
  std::string actor;                                    // for the audit trail; may be empty
};

struct CreatedKey {
  std::string secret;  // the full key: shown once, never stored, never logged
  KeyRecord key;
  std::optional<TimePoint> replaced_key_revoked_at;  // rotateKey: when the old key stops
};

// Who asked for a change, for the audit trail and the log: empty, or printable UTF-8 of at
// most kMaxActorLength characters, like a name (no control or bidi characters, so it can
// neither move a terminal's cursor nor forge a line). Throws InvalidInput.
void checkActor(std::string_view actor);

enum class KeyRejection { kNone, kMalformed, kNotFound, kRevoked, kExpired, kInternalError };
const char* keyRejectionName(KeyRejection reason);

struct KeyValidation {
  bool valid = false;
  KeyRejection reason = KeyRejection::kInternalError;
  // Set when the key was found (valid, revoked or expired). Shared with the validation cache,
  // so that a cached answer copies no record (the request path allocates nothing).
  std::shared_ptr<const KeyRecord> key;
};

class ApiKeyService {
 public:
  // The longest a key may live (100 years of 366 days), and the longest rotation grace.
  static constexpr std::chrono::milliseconds kMaxLifetime{100LL * 366 * 24 * 3600 * 1000};
  static constexpr std::chrono::milliseconds kMaxGrace{366LL * 24 * 3600 * 1000};

  // REQUIRED: all references outlive the service. `lookups` serves validation (the key
  // lookup, the change token and the last-use write, which never waits for a lock): give it
  // a connection of its own, so that a validation never queues behind a write that waits for
  // another process's lock on `keys`. It may be `keys` itself, as in the first form, which
  // takes both stores from one set. `windows` forgets the counts of a key revoked now. Key
  // secrets and ids are drawn from `random` (tests hand in a deterministic one).
  ApiKeyService(const ApiSettings& settings, Stores& stores, const Clock& clock,
                const HostLogger& logger, RandomSource& random = systemRandom());
  ApiKeyService(const ApiSettings& settings, KeyStore& keys, KeyStore& lookups,
                WindowStore& windows, const Clock& clock, const HostLogger& logger,
                RandomSource& random = systemRandom());

  // Throws InvalidInput, Conflict (maxKeysPerUser reached), StoreError, or
  // std::runtime_error when the CSPRNG fails.
  CreatedKey createKey(const CreateKeyRequest& request);

  // Checks in order: malformed (format and checksum, no lookup), not_found, revoked,
  // expired. Never throws: any internal failure answers invalid with kInternalError
  // (fail closed). Sees every revocation committed by any process before the call. A valid
  // key's last use is recorded (at most once a minute) unless `record_use` is false, as for
  // an operator's `verify`, which is not a use of the key.
  KeyValidation validateKey(std::string_view key, bool record_use = true) noexcept;

  // `key_or_id` is a full key or a key id. Throws InvalidInput (a malformed key), NotFound,
  // Conflict (already revoked: says when), StoreError.
  KeyRecord revokeKey(std::string_view key_or_id, std::string_view reason, std::string_view actor);

  // A new key with the old one's user, name, scopes, limit, expiry and metadata. The old key
  // keeps working for `grace` (0: revoked at once), then is revoked with reason "rotated".
  // Throws InvalidInput, NotFound, Conflict (the old key is not active, was already rotated,
  // or a grace period would take the user past maxKeysPerUser), StoreError.
  CreatedKey rotateKey(std::string_view key_id, std::chrono::milliseconds grace,
                       std::string_view actor);

  // Takes back rotateKey's `rotated` when its secret could not be delivered: the new key is
  // revoked (reason secret_not_delivered) and the old one, unless something else revoked it
  // meanwhile, works again as before (its counted requests are gone when the rotation had no
  // grace period). Returns whether the old key was restored. Throws InvalidInput (a bad
  // actor), StoreError.
  bool undoRotation(std::string_view old_key_id, const CreatedKey& rotated, std::string_view actor);

  // Throws NotFound, StoreError.
  KeyRecord getKey(std::string_view key_id);
  std::vector<KeyRecord> listKeys(std::optional<std::string_view> user_id, bool active_only);
  std::vector<AuditRecord> auditTrail(std::string_view key_id);

  // Splits and checks a comma-separated scope list. Throws InvalidInput.
  static std::vector<std::string> parseScopes(std::string_view text);
  // Throws InvalidInput when a scope list holds more than kMaxScopes: the one refusal of a
  // long list, whether parsed from text or handed over as a list.
  static void checkScopeCount(size_t count);

  const Clock& clock() const { return clock_; }

  // How long a validated key may be answered from this process's cache when the key was
  // changed by other software writing the store directly (the sqlite3 shell), which moves
  // no change token. A change made through any KeyStore is seen at the next validation.
  static constexpr std::chrono::milliseconds kExternalChangeBound{1000};

 private:
  // A key of this module's format (checksum right), or, when acceptLegacyKeys is on, of the
  // original system's (no checksum: only a lookup can refuse it).
  bool isAcceptedFormat(std::string_view key) const noexcept;
  KeyRecord newKeyRecord(const std::string& secret, TimePoint now) const;
  // Clears the counts of a key that can no longer be used. Never throws.
  void forgetWindows(const std::string& key_id) noexcept;
  // Writes last_used_at without waiting for a lock; at most one attempt per key per
  // kLastUsedResolution in this process (a second, when the store was busy). Returns whether
  // it wrote it.
  bool recordLastUse(const KeyRecord& key, TimePoint now) noexcept;

  // The key with this hash: from the cache while the store's change token is the one the
  // entry was read under (nothing was committed since, by anyone), else from the store.
  std::shared_ptr<const KeyRecord> findByHash(const std::array<char, 64>& hash);

  const ApiSettings& settings_;
  KeyStore& store_;
  KeyStore& lookups_;
  WindowStore& windows_;
  const Clock& clock_;
  const HostLogger& logger_;
  RandomSource& random_;
  std::mutex last_use_mutex_;
  std::unordered_map<std::string, TimePoint> last_use_attempts_;  // key id -> last write try

  // Keys validated lately, by SHA-256 hex. Exact across processes for every change made
  // through a KeyStore: an entry serves only while the store's change token equals the one
  // read before the entry was looked up. A change written into the store by other software
  // (which moves no token) is seen once the entry is kExternalChangeBound old.
  struct CachedKey {
    ChangeToken stamp;
    MonotonicTime filled_at;  // just before the lookup
    std::shared_ptr<const KeyRecord> key;
  };
  struct HashOfHash {
    size_t operator()(const std::array<char, 64>& h) const noexcept {
      return std::hash<std::string_view>()(std::string_view(h.data(), h.size()));
    }
  };
  static constexpr size_t kMaxCachedKeys = 131'072;  // past this the cache starts over
  std::shared_mutex cache_mutex_;
  std::unordered_map<std::array<char, 64>, CachedKey, HashOfHash> cache_;
};

}  // namespace api
