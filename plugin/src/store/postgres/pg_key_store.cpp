// PgKeyStore: api_keys and api_key_audit. A change locks what it builds on: the key's row
// (SELECT ... FOR UPDATE) for a compare-and-set, and the user (an advisory transaction lock on
// a hash of the user id) for a count of the user's active keys, so that two hosts can never
// both fit one more key under a user's cap.
#include "store/postgres/pg_stores.hpp"
#include "store/scopes_json.hpp"

namespace api {
namespace {

// Every SELECT of a key reads these columns in this order (see keyFromRow).
#define API_KEY_COLUMNS                                                             \
  "SELECT id, key_hash, key_prefix, user_id, name, scopes, rate_limit, created_at," \
  " expires_at, last_used_at, revoked_at, revoked_reason, metadata FROM api_keys"
constexpr PgQuery kSelectKeyByHash{API_KEY_COLUMNS " WHERE key_hash = $1::text",
                                   "looking up a key"};
constexpr PgQuery kSelectKeyById{API_KEY_COLUMNS " WHERE id = $1::text", "reading a key"};
// FOR NO KEY UPDATE: a change never touches the id, so checks and usage writes, whose foreign
// keys take FOR KEY SHARE on the key's row, go on while a key changes.
constexpr PgQuery kLockKeyById{API_KEY_COLUMNS " WHERE id = $1::text FOR NO KEY UPDATE",
                               "reading a key to change it"};
// Both keys of an undone rotation, locked in one order before anything is written: every
// write takes the epoch row's lock (the trigger), and a lock taken after it could deadlock
// with a change of the other key waiting for the epoch.
constexpr PgQuery kLockTwoKeys{
    "SELECT id FROM api_keys WHERE id IN ($1::text, $2::text) ORDER BY id FOR NO KEY UPDATE",
    "locking the keys of a rotation"};
constexpr PgQuery kSelectAllKeys{API_KEY_COLUMNS " ORDER BY created_at DESC, id", "listing keys"};
constexpr PgQuery kSelectUserKeys{API_KEY_COLUMNS
                                  " WHERE user_id = $1::text ORDER BY created_at DESC, id",
                                  "listing a user's keys"};
#undef API_KEY_COLUMNS
// The user's lock: every insert and rotation of one user's keys takes it before counting.
constexpr PgQuery kLockUser{"SELECT pg_advisory_xact_lock(hashtextextended($1::text, 31))",
                            "locking a user's keys"};
constexpr PgQuery kCountActiveKeys{
    "SELECT count(*) FROM api_keys WHERE user_id = $1::text"
    " AND (revoked_at IS NULL OR revoked_at > $2::timestamptz)"
    " AND (expires_at IS NULL OR expires_at > $2::timestamptz)",
    "counting a user's active keys"};
constexpr PgQuery kKeyExists{"SELECT 1 FROM api_keys WHERE id = $1::text", "looking up a key id"};
constexpr PgQuery kInsertKey{
    "INSERT INTO api_keys (id, key_hash, key_prefix, user_id, name, scopes, rate_limit,"
    " created_at, expires_at, metadata) VALUES ($1::text, $2::text, $3::text, $4::text,"
    " $5::text, $6::text, $7::bigint, $8::timestamptz, $9::timestamptz, $10::text)",
    "inserting a key"};
constexpr PgQuery kRevokeKey{
    "UPDATE api_keys SET revoked_at = $2::timestamptz, revoked_reason = $3::text"
    " WHERE id = $1::text",
    "revoking a key"};
constexpr PgQuery kRestoreKey{
    "UPDATE api_keys SET revoked_at = NULL, revoked_reason = NULL WHERE id = $1::text",
    "restoring a rotated key"};
// Skips a row another transaction holds (a change in progress) instead of waiting for it.
constexpr PgQuery kTouchKey{
    "UPDATE api_keys SET last_used_at = $2::timestamptz WHERE id = (SELECT id FROM api_keys"
    " WHERE id = $1::text FOR NO KEY UPDATE SKIP LOCKED)",
    "recording a key's last use"};
constexpr PgQuery kSetKeyLimit{"UPDATE api_keys SET rate_limit = $2::bigint WHERE id = $1::text",
                               "updating a key's limit"};
constexpr PgQuery kSelectRevokedBetween{
    "SELECT id FROM api_keys WHERE revoked_at > $1::timestamptz AND revoked_at <= $2::timestamptz"
    " ORDER BY id",
    "finding keys revoked lately"};
constexpr PgQuery kInsertAudit{
    "INSERT INTO api_key_audit (key_id, action, actor, at, reason, details)"
    " VALUES ($1::text, $2::text, $3::text, $4::timestamptz, $5::text, $6::text)",
    "writing an audit record"};
constexpr PgQuery kSelectAudit{
    "SELECT id, key_id, action, coalesce(actor, ''), at, coalesce(reason, ''), details"
    " FROM api_key_audit WHERE key_id = $1::text ORDER BY id",
    "reading the audit trail"};
// Inside a change's transaction: the epoch its trigger raised.
constexpr PgQuery kSelectEpoch{"SELECT epoch FROM api_key_epoch", "reading the key epoch"};

KeyRecord keyFromRow(const PgResult& rows, int row) {
  KeyRecord key;
  key.id = rows.text(row, 0);
  key.key_hash = rows.text(row, 1);
  key.key_prefix = rows.text(row, 2);
  key.user_id = rows.text(row, 3);
  key.name = rows.text(row, 4);
  key.scopes = scopesFromJson(rows.bytes(row, 5));
  key.rate_limit = rows.integer(row, 6);
  key.created_at = rows.time(row, 7);
  key.expires_at = rows.optionalTime(row, 8);
  key.last_used_at = rows.optionalTime(row, 9);
  key.revoked_at = rows.optionalTime(row, 10);
  if (!rows.isNull(row, 11)) {
    key.revoked_reason = rows.text(row, 11);
  }
  key.metadata_json = rows.isNull(row, 12) ? "{}" : rows.text(row, 12);
  return key;
}

std::optional<KeyRecord> oneKey(const PgResult& rows) {
  if (rows.rows() == 0) {
    return std::nullopt;
  }
  return keyFromRow(rows, 0);
}

std::vector<KeyRecord> allKeys(const PgResult& rows) {
  std::vector<KeyRecord> keys;
  keys.reserve(static_cast<std::size_t>(rows.rows()));
  for (int row = 0; row < rows.rows(); ++row) {
    keys.push_back(keyFromRow(rows, row));
  }
  return keys;
}

void insertRow(PgConnection& connection, const KeyRecord& key) {
  const std::string scopes = scopesToJson(key.scopes);
  connection.run(kInsertKey, {key.id, key.key_hash, key.key_prefix, key.user_id, key.name, scopes,
                              key.rate_limit, PgParam::time(key.created_at),
                              PgParam::optionalTime(key.expires_at), key.metadata_json});
}

void insertAudit(PgConnection& connection, const AuditRecord& audit) {
  connection.run(
      kInsertAudit,
      {audit.key_id, audit.action, audit.actor.empty() ? PgParam() : PgParam(audit.actor),
       PgParam::time(audit.at), audit.reason.empty() ? PgParam() : PgParam(audit.reason),
       audit.details_json.empty() ? PgParam("{}") : PgParam(audit.details_json)});
}

void setRevoked(PgConnection& connection, std::string_view id, TimePoint at,
                std::string_view reason) {
  connection.run(kRevokeKey, {id, PgParam::time(at), reason.empty() ? PgParam() : PgParam(reason)});
}

std::int64_t activeKeysOf(PgConnection& connection, std::string_view user_id, TimePoint now) {
  connection.run(kLockUser, {user_id});
  return connection.run(kCountActiveKeys, {user_id, PgParam::time(now)}).integer(0, 0);
}

}  // namespace

PgKeyStore::PgKeyStore(PgPool& pool, KeyChangeListener& listener)
    : pool_(pool), listener_(listener) {}

std::optional<ChangeToken> PgKeyStore::changeToken() const noexcept {
  const std::optional<std::array<std::uint64_t, 2>> token = listener_.token();
  if (!token) {
    return std::nullopt;
  }
  return ChangeToken(token->data(), sizeof(*token));
}

void PgKeyStore::commitChange(PgConnection& connection, PgTransaction& transaction) {
  const auto epoch = static_cast<std::uint64_t>(connection.run(kSelectEpoch).integer(0, 0));
  transaction.commit();
  listener_.learned(epoch);
}

KeyStore::InsertOutcome PgKeyStore::insert(const KeyRecord& key, std::int64_t max_active_per_user,
                                           TimePoint now, const AuditRecord& audit) {
  return pool_.run([&](PgConnection& connection) {
    PgTransaction transaction(connection);
    if (max_active_per_user > 0 &&
        activeKeysOf(connection, key.user_id, now) >= max_active_per_user) {
      return InsertOutcome::kUserAtKeyLimit;
    }
    insertRow(connection, key);
    insertAudit(connection, audit);
    commitChange(connection, transaction);
    return InsertOutcome::kInserted;
  });
}

std::optional<KeyRecord> PgKeyStore::findByHash(std::string_view key_hash) {
  return pool_.run([&](PgConnection& connection) {
    return oneKey(connection.run(kSelectKeyByHash, {key_hash}));
  });
}

std::optional<KeyRecord> PgKeyStore::findById(std::string_view id) {
  return pool_.run(
      [&](PgConnection& connection) { return oneKey(connection.run(kSelectKeyById, {id})); });
}

bool PgKeyStore::exists(std::string_view id) {
  return pool_.run(
      [&](PgConnection& connection) { return connection.run(kKeyExists, {id}).rows() > 0; });
}

std::vector<KeyRecord> PgKeyStore::list(std::optional<std::string_view> user_id) {
  return pool_.run([&](PgConnection& connection) {
    return allKeys(user_id ? connection.run(kSelectUserKeys, {*user_id})
                           : connection.run(kSelectAllKeys));
  });
}

KeyStore::ChangeResult PgKeyStore::revoke(std::string_view id, std::string_view reason,
                                          TimePoint at, const AuditRecord& audit) {
  return pool_.run([&](PgConnection& connection) {
    PgTransaction transaction(connection);
    ChangeResult result;
    result.key = oneKey(connection.run(kLockKeyById, {id}));
    if (!result.key) {
      result.outcome = ChangeOutcome::kNotFound;
      return result;
    }
    if (result.key->statusAt(at) == KeyStatus::kRevoked) {
      result.outcome = ChangeOutcome::kAlreadyRevoked;
      return result;
    }
    setRevoked(connection, id, at, reason);
    insertAudit(connection, audit);
    commitChange(connection, transaction);
    result.key->revoked_at = at;
    result.key->revoked_reason =
        reason.empty() ? std::nullopt : std::optional<std::string>(std::string(reason));
    result.outcome = ChangeOutcome::kDone;
    return result;
  });
}

KeyStore::ChangeResult PgKeyStore::rotate(const KeyRecord& old, const KeyRecord& replacement,
                                          TimePoint now, TimePoint old_revoked_at,
                                          std::int64_t max_active_per_user,
                                          const AuditRecord& old_audit,
                                          const AuditRecord& new_audit) {
  return pool_.run([&](PgConnection& connection) {
    PgTransaction transaction(connection);
    ChangeResult result;
    // The user's lock before the key's row, as insert takes it: one order, no deadlock.
    const bool counts = old_revoked_at > now && max_active_per_user > 0;
    const std::int64_t active = counts ? activeKeysOf(connection, old.user_id, now) : 0;
    result.key = oneKey(connection.run(kLockKeyById, {old.id}));
    if (!result.key) {
      result.outcome = ChangeOutcome::kNotFound;
      return result;
    }
    if (!sameKeyState(*result.key, old)) {
      result.outcome = ChangeOutcome::kChanged;
      return result;
    }
    if (counts && active >= max_active_per_user) {
      result.outcome = ChangeOutcome::kUserAtKeyLimit;
      return result;
    }
    insertRow(connection, replacement);
    setRevoked(connection, old.id, old_revoked_at, "rotated");
    insertAudit(connection, old_audit);
    insertAudit(connection, new_audit);
    commitChange(connection, transaction);
    result.outcome = ChangeOutcome::kDone;
    result.key = replacement;
    return result;
  });
}

bool PgKeyStore::undoRotation(std::string_view old_id, std::string_view new_id,
                              TimePoint old_revoked_at, TimePoint now, const AuditRecord& old_audit,
                              const AuditRecord& new_audit) {
  return pool_.run([&](PgConnection& connection) {
    PgTransaction transaction(connection);
    connection.run(kLockTwoKeys, {old_id, new_id});
    const std::optional<KeyRecord> replacement = oneKey(connection.run(kLockKeyById, {new_id}));
    if (replacement && replacement->statusAt(now) != KeyStatus::kRevoked) {
      setRevoked(connection, new_id, now, "secret_not_delivered");
      insertAudit(connection, new_audit);
    }
    const std::optional<KeyRecord> old = oneKey(connection.run(kLockKeyById, {old_id}));
    const bool restore = old && revokedByRotation(*old, old_revoked_at);
    if (restore) {
      connection.run(kRestoreKey, {old_id});
      insertAudit(connection, old_audit);
    }
    commitChange(connection, transaction);
    return restore;
  });
}

KeyStore::ChangeOutcome PgKeyStore::setRateLimit(const KeyRecord& key, std::int64_t new_limit,
                                                 const AuditRecord& audit) {
  return pool_.run([&](PgConnection& connection) {
    PgTransaction transaction(connection);
    const std::optional<KeyRecord> stored = oneKey(connection.run(kLockKeyById, {key.id}));
    if (!stored) {
      return ChangeOutcome::kNotFound;
    }
    if (!sameKeyState(*stored, key)) {
      return ChangeOutcome::kChanged;
    }
    connection.run(kSetKeyLimit, {key.id, new_limit});
    insertAudit(connection, audit);
    commitChange(connection, transaction);
    return ChangeOutcome::kDone;
  });
}

void PgKeyStore::appendAudit(const AuditRecord& audit) {
  // In a transaction of its own, so that a retry after a lost connection (PgPool::run) can
  // never write the row twice: a lost COMMIT is never retried.
  pool_.run([&](PgConnection& connection) {
    PgTransaction transaction(connection);
    insertAudit(connection, audit);
    transaction.commit();
  });
}

bool PgKeyStore::touchLastUsed(std::string_view id, TimePoint at) {
  return pool_.run([&](PgConnection& connection) {
    return connection.run(kTouchKey, {id, PgParam::time(at)}).affected() > 0;
  });
}

std::vector<std::string> PgKeyStore::revokedBetween(TimePoint from, TimePoint to) {
  return pool_.run([&](PgConnection& connection) {
    const PgResult rows =
        connection.run(kSelectRevokedBetween, {PgParam::time(from), PgParam::time(to)});
    std::vector<std::string> ids;
    for (int row = 0; row < rows.rows(); ++row) {
      ids.push_back(rows.text(row, 0));
    }
    return ids;
  });
}

std::vector<AuditRecord> PgKeyStore::auditTrail(std::string_view key_id) {
  return pool_.run([&](PgConnection& connection) {
    const PgResult rows = connection.run(kSelectAudit, {key_id});
    std::vector<AuditRecord> trail;
    for (int row = 0; row < rows.rows(); ++row) {
      AuditRecord record;
      record.id = rows.integer(row, 0);
      record.key_id = rows.text(row, 1);
      record.action = rows.text(row, 2);
      record.actor = rows.text(row, 3);
      record.at = rows.time(row, 4);
      record.reason = rows.text(row, 5);
      record.details_json = rows.text(row, 6);
      trail.push_back(std::move(record));
    }
    return trail;
  });
}

}  // namespace api
