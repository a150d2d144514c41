// KeyStore: the keys aggregate (api keys and their audit trail).
//
// A new implementation must provide, thread-safe and exact across every process and host
// sharing the store:
//  - insert under a per-user cap of active keys, the count and the insert one atomic step;
//  - lookups by hash (validation's hot path: one indexed read, no write) and by id;
//  - revoke, rotate and limit changes as compare-and-set steps on the row the caller read,
//    each with its audit row in the same transaction, so that nothing is ever changed
//    without its audit record and no change is built on a stale read;
//  - an opaque change token, when the backend can offer one cheaply (see changeToken).
// Domain rules (what a rotation inherits, what an audit row says, which keys are active)
// live above, in ApiKeyService and RateLimitService; the store applies what it is handed.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/clock.hpp"
#include "domain/records.hpp"

namespace api {

// Opaque: two equal tokens read from one store mean that nothing was committed to it in
// between, by any connection of any process. Compare, never interpret. A backend fills it
// with whatever bytes tell its states apart (a commit counter, a generation, a header), up
// to kCapacity bytes; tokens of different lengths are different.
class ChangeToken {
 public:
  static constexpr std::size_t kCapacity = 64;

  ChangeToken() = default;
  // REQUIRED: size <= kCapacity (a longer token keeps its first kCapacity bytes).
  ChangeToken(const void* bytes, std::size_t size) noexcept
      : size_(size < kCapacity ? size : kCapacity) {
    if (size_ > 0) {
      std::memcpy(bytes_.data(), bytes, size_);
    }
  }

  friend bool operator==(const ChangeToken& a, const ChangeToken& b) noexcept {
    return a.size_ == b.size_ && std::memcmp(a.bytes_.data(), b.bytes_.data(), a.size_) == 0;
  }
  friend bool operator!=(const ChangeToken& a, const ChangeToken& b) noexcept { return !(a == b); }

 private:
  std::array<unsigned char, kCapacity> bytes_{};
  std::size_t size_ = 0;
};

// Whether `old` is still revoked exactly as a rotation scheduled it (reason "rotated", at
// `old_revoked_at`): what undoRotation checks before it makes the old key active again.
inline bool revokedByRotation(const KeyRecord& old, TimePoint old_revoked_at) {
  return old.revoked_reason == std::optional<std::string>("rotated") &&
         old.revoked_at == std::optional<TimePoint>(old_revoked_at);
}

// Every method throws StoreError on a storage failure.
class KeyStore {
 public:
  virtual ~KeyStore() = default;

  // The store's current change token, read without a transaction (so cheaply that a cache
  // can check it on every use); nullopt when this store cannot tell, or a commit is being
  // published right now. A caller that reads the token, then the store, may serve what it
  // read for as long as the token stays the same. Never throws.
  virtual std::optional<ChangeToken> changeToken() const noexcept { return std::nullopt; }

  enum class InsertOutcome { kInserted, kUserAtKeyLimit };
  // Inserts `key` and its `audit` row atomically. When `max_active_per_user` > 0 and the user
  // already has that many keys active at `now` (KeyRecord::statusAt), inserts nothing and
  // says so.
  virtual InsertOutcome insert(const KeyRecord& key, std::int64_t max_active_per_user,
                               TimePoint now, const AuditRecord& audit) = 0;

  virtual std::optional<KeyRecord> findByHash(std::string_view key_hash) = 0;
  virtual std::optional<KeyRecord> findById(std::string_view id) = 0;
  // Whether a key with this id exists (revoked and expired keys do).
  virtual bool exists(std::string_view id) = 0;
  // Every key, or every key of one user; newest first.
  virtual std::vector<KeyRecord> list(std::optional<std::string_view> user_id) = 0;

  // How often a caller reads the key again and retries a compare-and-set that answered
  // kChanged before it gives up (a transient StoreError): a key changing this often is
  // being changed by something else right now.
  static constexpr int kMaxChangeAttempts = 8;

  enum class ChangeOutcome {
    kDone,
    kNotFound,
    kAlreadyRevoked,  // revoke: the key is revoked at `at` already
    kUserAtKeyLimit,  // rotate: the user has no room for one more active key
    kChanged,         // compare-and-set: the stored key is no longer the one the caller read
  };
  struct ChangeResult {
    ChangeOutcome outcome = ChangeOutcome::kNotFound;
    std::optional<KeyRecord> key;  // as it is after the change (or as found)
  };

  // Sets revoked_at/revoked_reason and writes `audit`, in one transaction. A key already
  // revoked at `at` is left alone (kAlreadyRevoked); one whose revocation is scheduled later
  // (a rotation grace) is revoked now.
  virtual ChangeResult revoke(std::string_view id, std::string_view reason, TimePoint at,
                              const AuditRecord& audit) = 0;

  // In one transaction, when the stored old key still equals `old` (sameKeyState): inserts
  // `replacement` as given, schedules the old key's revocation (reason "rotated") at
  // `old_revoked_at`, and writes the two audit rows. When the old key outlives `now` and
  // `max_active_per_user` > 0, the user must have room for one more active key
  // (kUserAtKeyLimit otherwise). kChanged: nothing written, read the key again.
  virtual ChangeResult rotate(const KeyRecord& old, const KeyRecord& replacement, TimePoint now,
                              TimePoint old_revoked_at, std::int64_t max_active_per_user,
                              const AuditRecord& old_audit, const AuditRecord& new_audit) = 0;

  // Takes back a rotation whose new key never reached anyone, in one transaction: revokes
  // `new_id` at `now` with reason "secret_not_delivered" (unless it is revoked already) and,
  // when the old key is still revoked exactly as that rotation scheduled (reason "rotated",
  // at `old_revoked_at`), makes it active again. Writes `new_audit`, and `old_audit` when the
  // old key was restored. Returns whether it was (false: something else changed it since).
  virtual bool undoRotation(std::string_view old_id, std::string_view new_id,
                            TimePoint old_revoked_at, TimePoint now, const AuditRecord& old_audit,
                            const AuditRecord& new_audit) = 0;

  // Sets the key's rate_limit and writes `audit`, in one transaction, when the stored key
  // still equals `key` (sameKeyState); kChanged otherwise, kNotFound when it is gone.
  virtual ChangeOutcome setRateLimit(const KeyRecord& key, std::int64_t new_limit,
                                     const AuditRecord& audit) = 0;

  // Writes one audit row on its own (for actions on other aggregates, e.g. a rate-limit
  // reset).
  virtual void appendAudit(const AuditRecord& audit) = 0;

  // Records that the key was used at `at`, without waiting for another writer: returns
  // false (writing nothing) when the store is busy. Callers write at most once a minute per
  // key.
  virtual bool touchLastUsed(std::string_view id, TimePoint at) = 0;

  // The ids of keys whose revocation took effect in (from, to]: a rotation's grace period
  // that ended, or a revoke. Cleanup forgets their rate-limit windows.
  virtual std::vector<std::string> revokedBetween(TimePoint from, TimePoint to) = 0;

  // The key's audit rows, oldest first.
  virtual std::vector<AuditRecord> auditTrail(std::string_view key_id) = 0;
};

}  // namespace api
