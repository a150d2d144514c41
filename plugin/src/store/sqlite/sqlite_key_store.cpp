// SqliteKeyStore: api_keys and api_key_audit.
#include <algorithm>

#include "store/scopes_json.hpp"
#include "store/sqlite/sqlite_stores.hpp"
#include "util/time_text.hpp"

namespace api {
namespace {

// Every SELECT of a key reads these columns in this order (see keyFromRow).
#define API_KEY_COLUMNS                                                             \
  "SELECT id, key_hash, key_prefix, user_id, name, scopes, rate_limit, created_at," \
  " expires_at, last_used_at, revoked_at, revoked_reason, metadata FROM api_keys"
constexpr Query kSelectKeyByHash{API_KEY_COLUMNS " WHERE key_hash = ?1", "looking up a key"};
constexpr Query kSelectKeyById{API_KEY_COLUMNS " WHERE id = ?1", "reading a key"};
constexpr Query kSelectAllKeys{API_KEY_COLUMNS " ORDER BY created_at DESC, id", "listing keys"};
constexpr Query kSelectUserKeys{API_KEY_COLUMNS " WHERE user_id = ?1 ORDER BY created_at DESC, id",
                                "listing a user's keys"};
#undef API_KEY_COLUMNS
constexpr Query kKeyExists{"SELECT 1 FROM api_keys WHERE id = ?1", "looking up a key id"};
constexpr Query kInsertKey{
    "INSERT INTO api_keys (id, key_hash, key_prefix, user_id, name, scopes, rate_limit,"
    " created_at, expires_at, last_used_at, revoked_at, revoked_reason, metadata)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL, NULL, NULL, ?10)",
    "inserting a key"};
constexpr Query kRevokeKey{"UPDATE api_keys SET revoked_at = ?2, revoked_reason = ?3 WHERE id = ?1",
                           "revoking a key"};
constexpr Query kRestoreKey{
    "UPDATE api_keys SET revoked_at = NULL, revoked_reason = NULL WHERE id = ?1",
    "restoring a rotated key"};
constexpr Query kTouchKey{"UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1",
                          "recording a key's last use"};
constexpr Query kSetKeyLimit{"UPDATE api_keys SET rate_limit = ?2 WHERE id = ?1",
                             "updating a key's limit"};
// The text comparisons with ?3 and ?4 (a day either side) let the revocation index pick
// candidates whatever their format; julianday() then compares the times themselves, offsets
// included.
constexpr Query kSelectRevokedBetween{
    "SELECT id FROM api_keys WHERE revoked_at IS NOT NULL AND revoked_at <= ?3"
    " AND revoked_at >= ?4 AND julianday(revoked_at) > julianday(?1)"
    " AND julianday(revoked_at) <= julianday(?2) ORDER BY id",
    "finding keys revoked lately"};
constexpr Query kInsertAudit{
    "INSERT INTO api_key_audit (key_id, action, actor, at, reason, details)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    "writing an audit record"};
constexpr Query kSelectAudit{
    "SELECT id, key_id, action, actor, at, reason, details FROM api_key_audit"
    " WHERE key_id = ?1 ORDER BY id",
    "reading the audit trail"};

// A time that is present but unreadable is a storage error, never "no time": a revoked_at
// or expires_at read as absent would let a revoked or expired key through.
std::optional<TimePoint> timeColumn(const Statement& row, int column, std::string_view what) {
  if (row.columnIsNull(column)) {
    return std::nullopt;
  }
  if (auto t = parseIsoUtc(row.columnView(column))) {
    return t;
  }
  std::string shown(row.columnView(column).substr(0, 40));
  throw StoreError("unreadable time in " + std::string(what) + ": \"" + shown +
                   "\" (expected ISO-8601, e.g. 2026-01-31T12:00:00.000Z)");
}

KeyRecord keyFromRow(const Statement& row) {
  KeyRecord key;
  key.id = row.columnText(0);
  key.key_hash = row.columnText(1);
  key.key_prefix = row.columnText(2);
  key.user_id = row.columnText(3);
  key.name = row.columnText(4);
  key.scopes = scopesFromJson(row.columnText(5));
  key.rate_limit = row.columnInt(6);
  key.created_at = timeColumn(row, 7, "api_keys.created_at").value_or(TimePoint{});
  key.expires_at = timeColumn(row, 8, "api_keys.expires_at");
  key.last_used_at = timeColumn(row, 9, "api_keys.last_used_at");
  key.revoked_at = timeColumn(row, 10, "api_keys.revoked_at");
  if (!row.columnIsNull(11)) {
    key.revoked_reason = row.columnText(11);
  }
  key.metadata_json = row.columnIsNull(12) ? "{}" : row.columnText(12);
  return key;
}

void setRevoked(SqliteDb& db, std::string_view id, TimePoint at, std::string_view reason) {
  Statement update(db, kRevokeKey);
  update.bind(1, id).bind(2, formatIsoUtc(at));
  if (!reason.empty()) {
    update.bind(3, reason);
  }
  update.run();
}

}  // namespace

SqliteKeyStore::SqliteKeyStore(SqliteConnection& connection)
    : connection_(connection),
      db_(connection.db()),
      find_by_hash_(std::make_unique<Statement>(db_, kSelectKeyByHash, true)),
      find_by_id_(std::make_unique<Statement>(db_, kSelectKeyById, true)) {}

std::optional<ChangeToken> SqliteKeyStore::changeToken() const noexcept {
  return connection_.changeToken();
}

namespace {

// Runs a prepared single-key SELECT and resets it, whatever happens.
std::optional<KeyRecord> findOne(Statement& select, std::string_view value) {
  select.bind(1, value);
  std::optional<KeyRecord> key;
  try {
    if (select.step()) {
      key = keyFromRow(select);
    }
  } catch (...) {
    select.reset();
    throw;
  }
  select.reset();
  return key;
}

}  // namespace

std::optional<KeyRecord> SqliteKeyStore::keyById(std::string_view id) {
  return findOne(*find_by_id_, id);
}

void SqliteKeyStore::insertRow(const KeyRecord& key) {
  Statement insert(db_, kInsertKey);
  insert.bind(1, key.id)
      .bind(2, key.key_hash)
      .bind(3, key.key_prefix)
      .bind(4, key.user_id)
      .bind(5, key.name)
      .bind(6, scopesToJson(key.scopes))
      .bind(7, key.rate_limit)
      .bind(8, formatIsoUtc(key.created_at));
  if (key.expires_at) {
    insert.bind(9, formatIsoUtc(*key.expires_at));
  }
  insert.bind(10, key.metadata_json).run();
}

void SqliteKeyStore::insertAudit(const AuditRecord& audit) {
  Statement insert(db_, kInsertAudit);
  insert.bind(1, audit.key_id).bind(2, audit.action);
  if (!audit.actor.empty()) {
    insert.bind(3, audit.actor);
  }
  insert.bind(4, formatIsoUtc(audit.at));
  if (!audit.reason.empty()) {
    insert.bind(5, audit.reason);
  }
  insert.bind(6, audit.details_json.empty() ? std::string_view("{}") : audit.details_json).run();
}

std::int64_t SqliteKeyStore::activeKeysOf(std::string_view user_id, TimePoint now) {
  Statement select(db_, kSelectUserKeys);
  select.bind(1, user_id);
  std::int64_t active = 0;
  while (select.step()) {
    active += keyFromRow(select).statusAt(now) == KeyStatus::kActive ? 1 : 0;
  }
  return active;
}

KeyStore::InsertOutcome SqliteKeyStore::insert(const KeyRecord& key,
                                               std::int64_t max_active_per_user, TimePoint now,
                                               const AuditRecord& audit) {
  std::lock_guard lock(connection_.mutex());
  const KeyEpoch::Change change(connection_.keyEpoch());  // around the commit
  Transaction transaction(db_, "creating a key");
  if (max_active_per_user > 0 && activeKeysOf(key.user_id, now) >= max_active_per_user) {
    return InsertOutcome::kUserAtKeyLimit;
  }
  insertRow(key);
  insertAudit(audit);
  transaction.commit();
  return InsertOutcome::kInserted;
}

std::optional<KeyRecord> SqliteKeyStore::findByHash(std::string_view key_hash) {
  std::lock_guard lock(connection_.mutex());
  return findOne(*find_by_hash_, key_hash);
}

std::optional<KeyRecord> SqliteKeyStore::findById(std::string_view id) {
  std::lock_guard lock(connection_.mutex());
  return keyById(id);
}

bool SqliteKeyStore::exists(std::string_view id) {
  std::lock_guard lock(connection_.mutex());
  Statement select(db_, kKeyExists);
  select.bind(1, id);
  return select.step();
}

std::vector<KeyRecord> SqliteKeyStore::list(std::optional<std::string_view> user_id) {
  std::lock_guard lock(connection_.mutex());
  Statement select(db_, user_id ? kSelectUserKeys : kSelectAllKeys);
  if (user_id) {
    select.bind(1, *user_id);
  }
  std::vector<KeyRecord> keys;
  while (select.step()) {
    keys.push_back(keyFromRow(select));
  }
  return keys;
}

KeyStore::ChangeResult SqliteKeyStore::revoke(std::string_view id, std::string_view reason,
                                              TimePoint at, const AuditRecord& audit) {
  std::lock_guard lock(connection_.mutex());
  const KeyEpoch::Change change(connection_.keyEpoch());  // around the commit
  Transaction transaction(db_, "revoking a key");
  ChangeResult result;
  result.key = keyById(id);
  if (!result.key) {
    result.outcome = ChangeOutcome::kNotFound;
    return result;
  }
  if (result.key->statusAt(at) == KeyStatus::kRevoked) {
    result.outcome = ChangeOutcome::kAlreadyRevoked;
    return result;
  }
  setRevoked(db_, id, at, reason);
  insertAudit(audit);
  transaction.commit();
  result.key->revoked_at = at;
  result.key->revoked_reason =
      reason.empty() ? std::nullopt : std::optional<std::string>(std::string(reason));
  result.outcome = ChangeOutcome::kDone;
  return result;
}

KeyStore::ChangeResult SqliteKeyStore::rotate(const KeyRecord& old, const KeyRecord& replacement,
                                              TimePoint now, TimePoint old_revoked_at,
                                              std::int64_t max_active_per_user,
                                              const AuditRecord& old_audit,
                                              const AuditRecord& new_audit) {
  std::lock_guard lock(connection_.mutex());
  const KeyEpoch::Change change(connection_.keyEpoch());  // around the commit
  Transaction transaction(db_, "rotating a key");
  ChangeResult result;
  result.key = keyById(old.id);
  if (!result.key) {
    result.outcome = ChangeOutcome::kNotFound;
    return result;
  }
  if (!sameKeyState(*result.key, old)) {
    result.outcome = ChangeOutcome::kChanged;
    return result;
  }
  if (old_revoked_at > now && max_active_per_user > 0 &&
      activeKeysOf(old.user_id, now) >= max_active_per_user) {
    result.outcome = ChangeOutcome::kUserAtKeyLimit;
    return result;
  }
  insertRow(replacement);
  setRevoked(db_, old.id, old_revoked_at, "rotated");
  insertAudit(old_audit);
  insertAudit(new_audit);
  transaction.commit();
  result.outcome = ChangeOutcome::kDone;
  result.key = replacement;
  return result;
}

bool SqliteKeyStore::undoRotation(std::string_view old_id, std::string_view new_id,
                                  TimePoint old_revoked_at, TimePoint now,
                                  const AuditRecord& old_audit, const AuditRecord& new_audit) {
  std::lock_guard lock(connection_.mutex());
  const KeyEpoch::Change change(connection_.keyEpoch());  // around the commit
  Transaction transaction(db_, "undoing a rotation");
  const std::optional<KeyRecord> replacement = keyById(new_id);
  if (replacement && replacement->statusAt(now) != KeyStatus::kRevoked) {
    setRevoked(db_, new_id, now, "secret_not_delivered");
    insertAudit(new_audit);
  }
  const std::optional<KeyRecord> old = keyById(old_id);
  const bool restore = old && revokedByRotation(*old, old_revoked_at);
  if (restore) {
    Statement update(db_, kRestoreKey);
    update.bind(1, old_id).run();
    insertAudit(old_audit);
  }
  transaction.commit();
  return restore;
}

KeyStore::ChangeOutcome SqliteKeyStore::setRateLimit(const KeyRecord& key, std::int64_t new_limit,
                                                     const AuditRecord& audit) {
  std::lock_guard lock(connection_.mutex());
  const KeyEpoch::Change change(connection_.keyEpoch());  // around the commit
  Transaction transaction(db_, "updating a rate limit");
  const std::optional<KeyRecord> stored = keyById(key.id);
  if (!stored) {
    return ChangeOutcome::kNotFound;
  }
  if (!sameKeyState(*stored, key)) {
    return ChangeOutcome::kChanged;
  }
  Statement update(db_, kSetKeyLimit);
  update.bind(1, key.id).bind(2, new_limit).run();
  insertAudit(audit);
  transaction.commit();
  return ChangeOutcome::kDone;
}

void SqliteKeyStore::appendAudit(const AuditRecord& audit) {
  std::lock_guard lock(connection_.mutex());
  insertAudit(audit);
}

bool SqliteKeyStore::touchLastUsed(std::string_view id, TimePoint at) {
  std::lock_guard lock(connection_.mutex());
  Statement update(db_, kTouchKey);
  sqlite3_busy_timeout(db_.handle(), 0);
  bool written = true;
  try {
    update.bind(1, id).bind(2, formatIsoUtc(at)).run();
  } catch (const StoreError&) {
    if ((sqlite3_extended_errcode(db_.handle()) & 0xFF) != SQLITE_BUSY) {
      sqlite3_busy_timeout(db_.handle(), static_cast<int>(connection_.busyTimeoutMs()));
      throw;
    }
    written = false;
  }
  sqlite3_busy_timeout(db_.handle(), static_cast<int>(connection_.busyTimeoutMs()));
  return written;
}

std::vector<std::string> SqliteKeyStore::revokedBetween(TimePoint from, TimePoint to) {
  std::lock_guard lock(connection_.mutex());
  Statement select(db_, kSelectRevokedBetween);
  const auto day = std::chrono::hours(24);
  select.bind(1, formatIsoUtc(from))
      .bind(2, formatIsoUtc(to))
      .bind(3, formatIsoUtc(std::min(to + day, kLatestTime)))
      .bind(4, formatIsoUtc(std::max(from - day, kEarliestTime)));
  std::vector<std::string> ids;
  while (select.step()) {
    ids.push_back(select.columnText(0));
  }
  return ids;
}

std::vector<AuditRecord> SqliteKeyStore::auditTrail(std::string_view key_id) {
  std::lock_guard lock(connection_.mutex());
  Statement select(db_, kSelectAudit);
  select.bind(1, key_id);
  std::vector<AuditRecord> trail;
  while (select.step()) {
    AuditRecord record;
    record.id = select.columnInt(0);
    record.key_id = select.columnText(1);
    record.action = select.columnText(2);
    record.actor = select.columnText(3);
    record.at = parseIsoUtc(select.columnText(4)).value_or(TimePoint{});
    record.reason = select.columnText(5);
    record.details_json = select.columnText(6);
    trail.push_back(std::move(record));
  }
  return trail;
}

}  // namespace api
