// What the store keeps, as plain values shared by the store interface and the services.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "domain/clock.hpp"

namespace api {

enum class KeyStatus { kActive, kRevoked, kExpired };

inline const char* keyStatusName(KeyStatus status) {
  switch (status) {
    case KeyStatus::kActive:
      return "active";
    case KeyStatus::kRevoked:
      return "revoked";
    case KeyStatus::kExpired:
      return "expired";
  }
  return "?";
}

struct KeyRecord {
  std::string id;
  std::string key_hash;    // SHA-256 hex of the whole key; never the key
  std::string key_prefix;  // first 8 characters of the key, for display
  std::string user_id;
  std::string name;
  std::vector<std::string> scopes;
  std::int64_t rate_limit = 0;
  TimePoint created_at{};
  std::optional<TimePoint> expires_at;
  std::optional<TimePoint> last_used_at;
  // May lie in the future: a rotated key with a grace period is revoked at its end.
  std::optional<TimePoint> revoked_at;
  std::optional<std::string> revoked_reason;
  std::string metadata_json = "{}";  // a JSON object

  // Revoked wins over expired: a revoked key reports revoked even after its expiry.
  KeyStatus statusAt(TimePoint now) const {
    if (revoked_at && *revoked_at <= now) {
      return KeyStatus::kRevoked;
    }
    if (expires_at && *expires_at <= now) {
      return KeyStatus::kExpired;
    }
    return KeyStatus::kActive;
  }
};

// Whether two reads of a key show the same state: every column but last_used_at, which
// validation touches at any time. A compare-and-set on a key compares with this.
inline bool sameKeyState(const KeyRecord& a, const KeyRecord& b) {
  return a.id == b.id && a.key_hash == b.key_hash && a.key_prefix == b.key_prefix &&
         a.user_id == b.user_id && a.name == b.name && a.scopes == b.scopes &&
         a.rate_limit == b.rate_limit && a.created_at == b.created_at &&
         a.expires_at == b.expires_at && a.revoked_at == b.revoked_at &&
         a.revoked_reason == b.revoked_reason && a.metadata_json == b.metadata_json;
}

struct AuditRecord {
  std::int64_t id = 0;  // assigned by the store
  std::string key_id;
  std::string action;  // create, revoke, rotate, update_limit, reset_rate_limit
  std::string actor;   // who, where known ("cli:alice", a sibling module's name); may be empty
  TimePoint at{};
  std::string reason;        // may be empty
  std::string details_json;  // a JSON object; never a secret
};

}  // namespace api
