#include "store/sqlite_store.hpp"

#include <array>

#include <boost/json/parse.hpp>
#include <boost/json/value.hpp>

#include "store/migrations.hpp"
#include "util/time_text.hpp"

namespace api {
namespace {

constexpr std::string_view kCreateMigrationsTable =
    "CREATE TABLE IF NOT EXISTS api_schema_migrations ("
    " version INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))";
constexpr std::string_view kMigrationsTableExists =
    "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'api_schema_migrations'";
constexpr std::string_view kSelectAppliedVersion =
    "SELECT coalesce(max(version), 0) FROM api_schema_migrations";
constexpr std::string_view kInsertMigration =
    "INSERT INTO api_schema_migrations (version, name) VALUES (?1, ?2)";
// Windows of keys whose revocation has taken effect (a rotation's grace period that ended);
// an immediate revocation deletes them itself. The text comparison with ?2 (a day after now)
// lets the index pick candidates whatever their format; julianday() then compares the times
// themselves, offsets included.
constexpr std::string_view kDeleteRevokedKeyWindows =
    "DELETE FROM api_rate_limits WHERE key_id IN"
    " (SELECT id FROM api_keys WHERE revoked_at IS NOT NULL AND revoked_at <= ?2"
    " AND julianday(revoked_at) <= julianday(?1))";

// Every SELECT of a key reads these columns in this order (see keyFromRow).
#define API_KEY_COLUMNS                                                             \
  "SELECT id, key_hash, key_prefix, user_id, name, scopes, rate_limit, created_at," \
  " expires_at, last_used_at, revoked_at, revoked_reason, metadata FROM api_keys"
constexpr std::string_view kSelectKeyByHash = API_KEY_COLUMNS " WHERE key_hash = ?1";
constexpr std::string_view kSelectKeyById = API_KEY_COLUMNS " WHERE id = ?1";
constexpr std::string_view kSelectAllKeys = API_KEY_COLUMNS " ORDER BY created_at DESC, id";
constexpr std::string_view kSelectUserKeys =
    API_KEY_COLUMNS " WHERE user_id = ?1 ORDER BY created_at DESC, id";
#undef API_KEY_COLUMNS
constexpr std::string_view kInsertKey =
    "INSERT INTO api_keys (id, key_hash, key_prefix, user_id, name, scopes, rate_limit,"
    " created_at, expires_at, last_used_at, revoked_at, revoked_reason, metadata)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, NULL, NULL, NULL, ?10)";
constexpr std::string_view kRevokeKey =
    "UPDATE api_keys SET revoked_at = ?2, revoked_reason = ?3 WHERE id = ?1";
constexpr std::string_view kRestoreKey =
    "UPDATE api_keys SET revoked_at = NULL, revoked_reason = NULL WHERE id = ?1";
constexpr std::string_view kTouchKey = "UPDATE api_keys SET last_used_at = ?2 WHERE id = ?1";
constexpr std::string_view kDeleteKeyWindows = "DELETE FROM api_rate_limits WHERE key_id = ?1";
constexpr std::string_view kInsertAudit =
    "INSERT INTO api_key_audit (key_id, action, actor, at, reason, details)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
constexpr std::string_view kSelectAudit =
    "SELECT id, key_id, action, actor, at, reason, details FROM api_key_audit"
    " WHERE key_id = ?1 ORDER BY id";

// One row per sub-window in range; a key without any gives one row of NULL window columns,
// and a missing key gives no row at all.
constexpr std::string_view kSelectWindows =
    "SELECT k.rate_limit, k.revoked_at, k.expires_at, w.window_start, w.request_count"
    " FROM api_keys k"
    " LEFT JOIN api_rate_limits w"
    " ON w.key_id = k.id AND w.window_start BETWEEN ?2 AND ?3"
    " WHERE k.id = ?1 ORDER BY w.window_start";
constexpr std::string_view kAddToWindow =
    "INSERT INTO api_rate_limits (key_id, window_start, window_size, request_count, rate_limit)"
    " VALUES (?1, ?2, ?3, ?4, ?5)"
    " ON CONFLICT (key_id, window_start) DO UPDATE SET"
    " request_count = request_count + excluded.request_count, rate_limit = excluded.rate_limit";
constexpr std::string_view kSumKeyWindows =
    "SELECT coalesce(sum(request_count), 0) FROM api_rate_limits WHERE key_id = ?1";
constexpr std::string_view kSelectKeyLimit = "SELECT rate_limit FROM api_keys WHERE id = ?1";
constexpr std::string_view kKeyExists = "SELECT 1 FROM api_keys WHERE id = ?1";
constexpr std::string_view kInsertRequest =
    "INSERT INTO api_requests (key_id, endpoint, method, status_code, response_time, ip_address,"
    " user_agent, timestamp) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
// The same, for a database of the original system, whose api_requests.id is TEXT.
constexpr std::string_view kInsertRequestWithTextId =
    "INSERT INTO api_requests (id, key_id, endpoint, method, status_code, response_time,"
    " ip_address, user_agent, timestamp)"
    " VALUES (lower(hex(randomblob(16))), ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";
constexpr std::string_view kRequestIdType =
    "SELECT upper(type) FROM pragma_table_info('api_requests') WHERE name = 'id'";
constexpr std::string_view kAddCounter =
    "INSERT INTO api_counters (name, value, updated_at) VALUES (?1, ?2, ?3)"
    " ON CONFLICT (name) DO UPDATE SET value = value + excluded.value,"
    " updated_at = excluded.updated_at";
constexpr std::string_view kSelectCounters =
    "SELECT name, value, updated_at FROM api_counters ORDER BY name";
constexpr std::string_view kAddToRollup =
    "INSERT INTO api_usage_rollups (interval_start, key_id, endpoint, method, requests, errors,"
    " total_time, last_request) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
    " ON CONFLICT (interval_start, key_id, endpoint, method) DO UPDATE SET"
    " requests = requests + excluded.requests, errors = errors + excluded.errors,"
    " total_time = total_time + excluded.total_time,"
    " last_request = max(last_request, excluded.last_request)";
constexpr std::string_view kAddToEndpointRollup =
    "INSERT INTO api_usage_endpoint_rollups (interval_start, endpoint, method, requests, errors,"
    " total_time) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
    " ON CONFLICT (interval_start, endpoint, method) DO UPDATE SET"
    " requests = requests + excluded.requests, errors = errors + excluded.errors,"
    " total_time = total_time + excluded.total_time";
constexpr std::string_view kAddToKeyRollup =
    "INSERT INTO api_usage_key_rollups (interval_start, key_id, requests, errors, total_time,"
    " last_request) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
    " ON CONFLICT (interval_start, key_id) DO UPDATE SET"
    " requests = requests + excluded.requests, errors = errors + excluded.errors,"
    " total_time = total_time + excluded.total_time,"
    " last_request = max(last_request, excluded.last_request)";
constexpr std::string_view kSelectLatency =
    "SELECT histogram FROM api_usage_latency WHERE interval_start = ?1 AND key_id = ?2";
constexpr std::string_view kPutLatency =
    "INSERT OR REPLACE INTO api_usage_latency (interval_start, key_id, histogram)"
    " VALUES (?1, ?2, ?3)";
constexpr std::string_view kSelectLatencyAll =
    "SELECT histogram FROM api_usage_latency_all WHERE interval_start = ?1";
constexpr std::string_view kPutLatencyAll =
    "INSERT OR REPLACE INTO api_usage_latency_all (interval_start, histogram) VALUES (?1, ?2)";
constexpr std::string_view kSelectKeyRollups =
    "SELECT interval_start, endpoint, method, requests, errors, total_time, last_request"
    " FROM api_usage_rollups WHERE key_id = ?3 AND interval_start BETWEEN ?1 AND ?2";
constexpr std::string_view kSelectEndpointRollups =
    "SELECT interval_start, endpoint, method, requests, errors, total_time"
    " FROM api_usage_endpoint_rollups WHERE interval_start BETWEEN ?1 AND ?2";
constexpr std::string_view kSelectAllKeyRollups =
    "SELECT interval_start, key_id, requests, errors, total_time, last_request"
    " FROM api_usage_key_rollups WHERE interval_start BETWEEN ?1 AND ?2";
constexpr std::string_view kSelectLatencies =
    "SELECT histogram FROM api_usage_latency_all WHERE interval_start BETWEEN ?1 AND ?2";
constexpr std::string_view kSelectKeyLatencies =
    "SELECT histogram FROM api_usage_latency WHERE key_id = ?3 AND interval_start BETWEEN ?1 AND"
    " ?2";
// By time alone, through idx_api_requests_key_timestamp one key at a time (api_requests has
// no index on timestamp alone: see schema/0001): a seek per key plus the rows wanted.
constexpr std::string_view kSelectRaw =
    "SELECT key_id, endpoint, method, status_code, response_time, timestamp FROM api_requests"
    " WHERE key_id IN (SELECT id FROM api_keys) AND timestamp >= ?1 AND timestamp < ?2";
constexpr std::string_view kSelectKeyRaw =
    "SELECT key_id, endpoint, method, status_code, response_time, timestamp FROM api_requests"
    " WHERE key_id = ?3 AND timestamp >= ?1 AND timestamp < ?2";
constexpr std::string_view kDeleteOldRequests =
    "DELETE FROM api_requests WHERE key_id IN (SELECT id FROM api_keys) AND timestamp < ?1";
constexpr std::array<std::string_view, 5> kDeleteOldRollupTables{
    "DELETE FROM api_usage_rollups WHERE interval_start < ?1",
    "DELETE FROM api_usage_latency WHERE interval_start < ?1",
    "DELETE FROM api_usage_endpoint_rollups WHERE interval_start < ?1",
    "DELETE FROM api_usage_key_rollups WHERE interval_start < ?1",
    "DELETE FROM api_usage_latency_all WHERE interval_start < ?1"};
constexpr std::string_view kSetKeyLimit = "UPDATE api_keys SET rate_limit = ?2 WHERE id = ?1";

std::string scopesToJson(const std::vector<std::string>& scopes) {
  std::string out = "[";
  for (const std::string& scope : scopes) {
    out += out.size() > 1 ? ",\"" : "\"";
    for (char c : scope) {
      if (c == '"' || c == '\\') {
        out += '\\';
      }
      out += c;
    }
    out += '"';
  }
  return out + "]";
}

// Scopes written by this module are a flat array of plain strings; read those without a
// JSON parser (validation's hot path), and anything else (older rows) with one.
std::vector<std::string> scopesFromJson(std::string_view text) {
  std::vector<std::string> scopes;
  if (text.empty()) {
    return scopes;
  }
  if (text.find('\\') == std::string_view::npos && text.front() == '[' && text.back() == ']') {
    size_t at = 1;
    bool ok = true;
    while (ok) {
      while (at < text.size() && (text[at] == ' ' || text[at] == ',')) {
        ++at;
      }
      if (at >= text.size() - 1) {
        break;
      }
      const size_t close = text.find('"', at + 1);
      ok = text[at] == '"' && close != std::string_view::npos && close < text.size() - 1;
      if (ok) {
        scopes.emplace_back(text.substr(at + 1, close - at - 1));
        at = close + 1;
      }
    }
    if (ok) {
      return scopes;
    }
    scopes.clear();
  }
  boost::json::error_code ec;
  const boost::json::value value = boost::json::parse(text, ec);
  if (!ec && value.is_array()) {
    for (const auto& item : value.as_array()) {
      if (item.is_string()) {
        scopes.emplace_back(item.as_string());
      }
    }
  }
  return scopes;
}

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

// A stored histogram that does not decode: never rewritten as if it were empty, which
// would lose its counts for good. The batch is refused (not transient).
StoreError corruptHistogram(std::string_view table, std::int64_t interval_start_ms) {
  return StoreError("the latency histogram in " + std::string(table) + " for the interval at " +
                    formatIsoUtc(TimePoint(std::chrono::milliseconds(interval_start_ms))) +
                    " is corrupt; refusing to overwrite it");
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

int latestVersion() {
  const auto all = schemaMigrations();
  return all.empty() ? 0 : all.back().version;
}

}  // namespace

SqliteStore::SqliteStore(const SqliteStoreOptions& options)
    : db_(options.path), busy_timeout_ms_(options.busy_timeout_ms) {
  db_.check(sqlite3_busy_timeout(db_.handle(), static_cast<int>(options.busy_timeout_ms)),
            "setting the busy timeout");
  if (options.trace) {
    db_.traceStatements(options.trace);
  }
  {
    // The pragma answers the mode now in force; a file that cannot switch (a read-only
    // directory, a VFS without shared memory) must not silently run in another mode.
    Statement wal(db_, "PRAGMA journal_mode = WAL", "enabling WAL mode");
    if (!wal.step() || wal.columnText(0) != "wal") {
      throw StoreError("database '" + db_.path() + "' could not be put in WAL mode (it is in '" +
                       wal.columnText(0) + "' mode)");
    }
  }
  db_.exec("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON", "configuring the connection");
  migrate();
  {
    Statement type(db_, kRequestIdType, "reading the api_requests schema");
    request_ids_are_text_ = type.step() && type.columnText(0) == "TEXT";
  }
  find_by_hash_ = std::make_unique<Statement>(db_, kSelectKeyByHash, "looking up a key", true);
  begin_immediate_ =
      std::make_unique<Statement>(db_, "BEGIN IMMEDIATE", "locking for a rate-limit check", true);
  commit_ = std::make_unique<Statement>(db_, "COMMIT", "committing a rate-limit check", true);
  select_windows_ =
      std::make_unique<Statement>(db_, kSelectWindows, "reading rate-limit windows", true);
  add_to_window_ = std::make_unique<Statement>(db_, kAddToWindow, "counting a request", true);
  // The connection has read the file in WAL mode, so its shared memory is mapped.
  watch_ = std::make_unique<WalIndexWatch>(db_.handle());
}

std::optional<ChangeStamp> SqliteStore::changeStamp() const noexcept {
  const auto header = watch_->read();
  if (!header) {
    return std::nullopt;
  }
  return ChangeStamp{*header};
}

int SqliteStore::appliedVersion() {
  Statement exists(db_, kMigrationsTableExists, "reading the schema version");
  exists.step();
  if (exists.columnInt(0) == 0) {
    return 0;
  }
  Statement version(db_, kSelectAppliedVersion, "reading the schema version");
  version.step();
  return static_cast<int>(version.columnInt(0));
}

void SqliteStore::migrate() {
  const int latest = latestVersion();
  // Fast path, read only: an up-to-date file needs no write lock.
  if (appliedVersion() == latest) {
    return;
  }
  Transaction transaction(db_, "the schema migration");
  {
    db_.exec(kCreateMigrationsTable, "creating the migrations table");
    const int applied = appliedVersion();  // again, under the write lock
    if (applied > latest) {
      throw StoreError("database '" + db_.path() + "' has schema version " +
                       std::to_string(applied) + ", newer than this build knows (" +
                       std::to_string(latest) + "); upgrade the api module");
    }
    Statement record(db_, kInsertMigration, "recording a migration");
    for (const Migration& migration : schemaMigrations()) {
      if (migration.version <= applied) {
        continue;
      }
      db_.exec(migration.sql, "applying migration " + std::string(migration.name));
      record.bind(1, static_cast<std::int64_t>(migration.version)).bind(2, migration.name).run();
    }
  }
  transaction.commit();
}

int SqliteStore::schemaVersion() {
  std::lock_guard lock(mutex_);
  return appliedVersion();
}

StoreHealth SqliteStore::health() noexcept {
  StoreHealth health;
  health.latest_schema_version = latestVersion();
  try {
    health.location = "sqlite:" + db_.path();
    std::lock_guard lock(mutex_);
    health.schema_version = appliedVersion();
    Statement probe(db_, "SELECT count(*) FROM api_keys", "probing the api_keys table");
    probe.step();
    if (health.schema_version != health.latest_schema_version) {
      health.problem = "schema version " + std::to_string(health.schema_version) + ", expected " +
                       std::to_string(health.latest_schema_version);
    }
  } catch (const std::exception& e) {
    health.problem = e.what();
  } catch (...) {
    health.problem = "unknown failure";
  }
  health.healthy = health.problem.empty();
  return health;
}

std::int64_t SqliteStore::deleteRateLimitWindowsEndedBy(TimePoint cutoff, TimePoint now,
                                                        std::int64_t sub_window_ms) {
  std::lock_guard lock(mutex_);
  Transaction transaction(db_, "deleting ended rate-limit windows");
  Statement ended(db_, kDeleteEndedWindowsSql, "deleting ended rate-limit windows");
  ended.bind(1, static_cast<std::int64_t>(cutoff.time_since_epoch().count()))
      .bind(2, sub_window_ms)
      .run();
  std::int64_t deleted = sqlite3_changes64(db_.handle());
  Statement revoked(db_, kDeleteRevokedKeyWindows, "deleting revoked keys' rate-limit windows");
  revoked.bind(1, formatIsoUtc(now)).bind(2, formatIsoUtc(now + std::chrono::hours(24))).run();
  deleted += sqlite3_changes64(db_.handle());
  transaction.commit();
  return deleted;
}

std::optional<KeyRecord> SqliteStore::keyById(std::string_view id) {
  Statement select(db_, kSelectKeyById, "reading a key");
  select.bind(1, id);
  if (!select.step()) {
    return std::nullopt;
  }
  return keyFromRow(select);
}

void SqliteStore::insertKeyRow(const KeyRecord& key) {
  Statement insert(db_, kInsertKey, "inserting a key");
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

void SqliteStore::insertAudit(const AuditRecord& audit) {
  Statement insert(db_, kInsertAudit, "writing an audit record");
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

void SqliteStore::deleteWindowsOf(std::string_view key_id) {
  Statement del(db_, kDeleteKeyWindows, "clearing a key's rate-limit windows");
  del.bind(1, key_id).run();
}

std::int64_t SqliteStore::activeKeysOf(std::string_view user_id, TimePoint now) {
  Statement select(db_, kSelectUserKeys, "counting a user's keys");
  select.bind(1, user_id);
  std::int64_t active = 0;
  while (select.step()) {
    active += keyFromRow(select).statusAt(now) == KeyStatus::kActive ? 1 : 0;
  }
  return active;
}

ApiStore::InsertOutcome SqliteStore::insertKey(const KeyRecord& key,
                                               std::int64_t max_active_per_user, TimePoint now,
                                               const AuditRecord& audit) {
  std::lock_guard lock(mutex_);
  Transaction transaction(db_, "creating a key");
  if (max_active_per_user > 0 && activeKeysOf(key.user_id, now) >= max_active_per_user) {
    return InsertOutcome::kUserAtKeyLimit;
  }
  insertKeyRow(key);
  insertAudit(audit);
  transaction.commit();
  return InsertOutcome::kInserted;
}

std::optional<KeyRecord> SqliteStore::findKeyByHash(std::string_view key_hash) {
  std::lock_guard lock(mutex_);
  Statement& select = *find_by_hash_;
  select.bind(1, key_hash);
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

std::optional<KeyRecord> SqliteStore::findKeyById(std::string_view id) {
  std::lock_guard lock(mutex_);
  return keyById(id);
}

std::vector<KeyRecord> SqliteStore::listKeys(std::optional<std::string_view> user_id) {
  std::lock_guard lock(mutex_);
  Statement select(db_, user_id ? kSelectUserKeys : kSelectAllKeys, "listing keys");
  if (user_id) {
    select.bind(1, *user_id);
  }
  std::vector<KeyRecord> keys;
  while (select.step()) {
    keys.push_back(keyFromRow(select));
  }
  return keys;
}

ApiStore::ChangeResult SqliteStore::revokeKey(std::string_view id, std::string_view reason,
                                              TimePoint at, const AuditRecord& audit) {
  std::lock_guard lock(mutex_);
  Transaction transaction(db_, "revoking a key");
  ChangeResult result;
  result.key = keyById(id);
  if (!result.key) {
    result.outcome = ChangeOutcome::kNotFound;
    return result;
  }
  if (result.key->revoked_at && *result.key->revoked_at <= at) {
    result.outcome = ChangeOutcome::kAlreadyRevoked;
    return result;
  }
  Statement update(db_, kRevokeKey, "revoking a key");
  update.bind(1, id).bind(2, formatIsoUtc(at));
  if (!reason.empty()) {
    update.bind(3, reason);
  }
  update.run();
  deleteWindowsOf(id);
  insertAudit(audit);
  transaction.commit();
  result.key->revoked_at = at;
  result.key->revoked_reason =
      reason.empty() ? std::nullopt : std::optional<std::string>(std::string(reason));
  result.outcome = ChangeOutcome::kDone;
  return result;
}

ApiStore::ChangeResult SqliteStore::rotateKey(std::string_view old_id, const KeyRecord& replacement,
                                              TimePoint now, TimePoint old_revoked_at,
                                              std::int64_t max_active_per_user,
                                              const AuditRecord& old_audit,
                                              const AuditRecord& new_audit) {
  std::lock_guard lock(mutex_);
  Transaction transaction(db_, "rotating a key");
  ChangeResult result;
  const std::optional<KeyRecord> old = keyById(old_id);
  if (!old) {
    result.outcome = ChangeOutcome::kNotFound;
    return result;
  }
  result.key = old;
  if (old->revoked_at || old->statusAt(now) != KeyStatus::kActive) {
    result.outcome = ChangeOutcome::kAlreadyRevoked;
    return result;
  }
  if (old_revoked_at > now && max_active_per_user > 0 &&
      activeKeysOf(old->user_id, now) >= max_active_per_user) {
    result.outcome = ChangeOutcome::kUserAtKeyLimit;
    return result;
  }
  KeyRecord inserted = replacement;
  inserted.user_id = old->user_id;
  inserted.name = old->name;
  inserted.scopes = old->scopes;
  inserted.rate_limit = old->rate_limit;
  inserted.expires_at = old->expires_at;  // a rotation never extends or drops an expiry
  inserted.metadata_json = old->metadata_json;
  insertKeyRow(inserted);
  Statement update(db_, kRevokeKey, "scheduling the old key's revocation");
  update.bind(1, old_id).bind(2, formatIsoUtc(old_revoked_at)).bind(3, "rotated").run();
  if (old_revoked_at <= now) {
    deleteWindowsOf(old_id);
  }
  insertAudit(old_audit);
  insertAudit(new_audit);
  transaction.commit();
  result.outcome = ChangeOutcome::kDone;
  result.key = std::move(inserted);
  return result;
}

bool SqliteStore::undoRotation(std::string_view old_id, std::string_view new_id,
                               TimePoint old_revoked_at, TimePoint now,
                               const AuditRecord& old_audit, const AuditRecord& new_audit) {
  std::lock_guard lock(mutex_);
  Transaction transaction(db_, "undoing a rotation");
  const std::optional<KeyRecord> replacement = keyById(new_id);
  if (replacement && !(replacement->revoked_at && *replacement->revoked_at <= now)) {
    Statement revoke(db_, kRevokeKey, "revoking an undelivered key");
    revoke.bind(1, new_id).bind(2, formatIsoUtc(now)).bind(3, "secret_not_delivered").run();
    deleteWindowsOf(new_id);
    insertAudit(new_audit);
  }
  const std::optional<KeyRecord> old = keyById(old_id);
  const bool restore = old && old->revoked_reason == std::optional<std::string>("rotated") &&
                       old->revoked_at == std::optional<TimePoint>(old_revoked_at);
  if (restore) {
    Statement update(db_, kRestoreKey, "restoring the rotated key");
    update.bind(1, old_id).run();
    insertAudit(old_audit);
  }
  transaction.commit();
  return restore;
}

bool SqliteStore::touchKeyLastUsed(std::string_view id, TimePoint at) {
  std::lock_guard lock(mutex_);
  Statement update(db_, kTouchKey, "recording a key's last use");
  sqlite3_busy_timeout(db_.handle(), 0);
  bool written = true;
  try {
    update.bind(1, id).bind(2, formatIsoUtc(at)).run();
  } catch (const StoreError&) {
    if ((sqlite3_extended_errcode(db_.handle()) & 0xFF) != SQLITE_BUSY) {
      sqlite3_busy_timeout(db_.handle(), static_cast<int>(busy_timeout_ms_));
      throw;
    }
    written = false;
  }
  sqlite3_busy_timeout(db_.handle(), static_cast<int>(busy_timeout_ms_));
  return written;
}

std::vector<AuditRecord> SqliteStore::auditTrail(std::string_view key_id) {
  std::lock_guard lock(mutex_);
  Statement select(db_, kSelectAudit, "reading the audit trail");
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

ApiStore::WindowSnapshot SqliteStore::readWindows(std::string_view key_id, TimePoint now,
                                                  const WindowPlan& plan) {
  Statement& select = *select_windows_;
  WindowSnapshot snapshot;
  snapshot.now = now;
  select.bind(1, key_id).bind(2, plan.range_first_ms).bind(3, plan.range_last_ms);
  try {
    while (select.step()) {
      if (!snapshot.key_exists) {
        snapshot.key_exists = true;
        snapshot.limit = select.columnInt(0);
        snapshot.revoked_at = timeColumn(select, 1, "api_keys.revoked_at");
        snapshot.expires_at = timeColumn(select, 2, "api_keys.expires_at");
      }
      if (!select.columnIsNull(3)) {
        snapshot.windows.push_back({select.columnInt(3), select.columnInt(4)});
      }
    }
  } catch (...) {
    select.reset();
    throw;
  }
  select.reset();
  return snapshot;
}

std::pair<ApiStore::WindowSnapshot, bool> SqliteStore::checkWindows(const WindowCheck& check,
                                                                    const Clock& clock,
                                                                    WindowDecider& decider) {
  std::lock_guard lock(mutex_);
  if (!check.consume) {
    const TimePoint now = clock.now();
    return {readWindows(check.key_id, now, decider.plan(now)), false};
  }
  begin_immediate_->run();
  try {
    const TimePoint now = clock.now();  // only now that the write lock is held
    const WindowPlan plan = decider.plan(now);
    WindowSnapshot snapshot = readWindows(check.key_id, now, plan);
    const bool consume = snapshot.key_exists && decider.admit(snapshot);
    if (consume) {
      add_to_window_->bind(1, check.key_id)
          .bind(2, plan.consume_start_ms)
          .bind(3, check.window_size_ms)
          .bind(4, check.cost)
          .bind(5, snapshot.limit)
          .run();
    }
    commit_->run();
    return {std::move(snapshot), consume};
  } catch (...) {
    add_to_window_->reset();
    sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

std::optional<std::int64_t> SqliteStore::resetWindows(std::string_view key_id,
                                                      const AuditRecord& audit) {
  std::lock_guard lock(mutex_);
  Transaction transaction(db_, "resetting a rate limit");
  Statement limit(db_, kSelectKeyLimit, "reading a key's limit");
  limit.bind(1, key_id);
  if (!limit.step()) {
    return std::nullopt;
  }
  Statement sum(db_, kSumKeyWindows, "counting a key's requests");
  sum.bind(1, key_id).step();
  const std::int64_t cleared = sum.columnInt(0);
  deleteWindowsOf(key_id);
  insertAudit(audit);
  transaction.commit();
  return cleared;
}

std::optional<std::int64_t> SqliteStore::updateRateLimit(std::string_view key_id,
                                                         std::int64_t new_limit,
                                                         const AuditRecord& audit) {
  std::lock_guard lock(mutex_);
  Transaction transaction(db_, "updating a rate limit");
  Statement limit(db_, kSelectKeyLimit, "reading a key's limit");
  limit.bind(1, key_id);
  if (!limit.step()) {
    return std::nullopt;
  }
  const std::int64_t old_limit = limit.columnInt(0);
  Statement update(db_, kSetKeyLimit, "updating a key's limit");
  update.bind(1, key_id).bind(2, new_limit).run();
  AuditRecord with_limits = audit;
  with_limits.details_json = "{\"old_limit\":" + std::to_string(old_limit) +
                             ",\"new_limit\":" + std::to_string(new_limit) + "}";
  insertAudit(with_limits);
  transaction.commit();
  return old_limit;
}

bool SqliteStore::keyExists(std::string_view id) {
  std::lock_guard lock(mutex_);
  Statement select(db_, kKeyExists, "looking up a key id");
  select.bind(1, id);
  return select.step();
}

void SqliteStore::writeRequests(const std::vector<RequestRecord>& records,
                                const RollupDelta& delta) {
  std::lock_guard lock(mutex_);
  Transaction transaction(db_, "writing request records");
  Statement insert(db_, request_ids_are_text_ ? kInsertRequestWithTextId : kInsertRequest,
                   "writing a request record");
  for (const RequestRecord& r : records) {  // `records` outlives every run: bound uncopied
    insert.bindUncopied(1, r.key_id)
        .bindUncopied(2, r.endpoint)
        .bindUncopied(3, r.method)
        .bind(4, static_cast<std::int64_t>(r.status_code))
        .bind(5, r.response_time_ms)
        .bindUncopied(6, r.ip_address)
        .bindUncopied(7, r.user_agent)
        .bind(8, r.timestamp_ms)
        .run();
  }
  Statement rollup(db_, kAddToRollup, "updating a usage rollup");
  for (const auto& [where, c] : delta.rows) {
    const auto& [start, key_id, endpoint, method] = where;
    rollup.bind(1, start)
        .bind(2, key_id)
        .bind(3, endpoint)
        .bind(4, method)
        .bind(5, c.requests)
        .bind(6, c.errors)
        .bind(7, c.total_time)
        .bind(8, c.last_request)
        .run();
  }
  Statement by_endpoint(db_, kAddToEndpointRollup, "updating an endpoint rollup");
  for (const auto& [where, c] : delta.endpoint_rows) {
    const auto& [start, endpoint, method] = where;
    by_endpoint.bind(1, start)
        .bind(2, endpoint)
        .bind(3, method)
        .bind(4, c.requests)
        .bind(5, c.errors)
        .bind(6, c.total_time)
        .run();
  }
  Statement by_key(db_, kAddToKeyRollup, "updating a key rollup");
  for (const auto& [where, c] : delta.key_rows) {
    by_key.bind(1, where.first)
        .bind(2, where.second)
        .bind(3, c.requests)
        .bind(4, c.errors)
        .bind(5, c.total_time)
        .bind(6, c.last_request)
        .run();
  }
  Statement get(db_, kSelectLatency, "reading a latency histogram");
  Statement put(db_, kPutLatency, "writing a latency histogram");
  for (const auto& [where, added] : delta.latency) {
    LatencyHistogram merged = added;
    get.bind(1, where.first).bind(2, where.second);
    if (get.step() && !mergeHistogram(get.columnBlob(0), merged)) {
      throw corruptHistogram("api_usage_latency", where.first);
    }
    get.reset();
    put.bind(1, where.first).bind(2, where.second).bindBlob(3, encodeHistogram(merged)).run();
  }
  Statement get_all(db_, kSelectLatencyAll, "reading a latency histogram");
  Statement put_all(db_, kPutLatencyAll, "writing a latency histogram");
  for (const auto& [start, added] : delta.latency_all) {
    LatencyHistogram merged = added;
    get_all.bind(1, start);
    if (get_all.step() && !mergeHistogram(get_all.columnBlob(0), merged)) {
      throw corruptHistogram("api_usage_latency_all", start);
    }
    get_all.reset();
    put_all.bind(1, start).bindBlob(2, encodeHistogram(merged)).run();
  }
  transaction.commit();
}

void SqliteStore::readUsage(const UsageQuery& query, UsageVisitor& visitor) {
  std::lock_guard lock(mutex_);
  db_.exec("BEGIN", "starting a usage read");  // one snapshot for the three reads
  try {
    const bool one_key = query.key_id.has_value();
    RollupCounts counts;
    if (one_key) {
      Statement rollups(db_, kSelectKeyRollups, "reading usage rollups");
      rollups.bind(1, query.rollup_first).bind(2, query.rollup_last).bind(3, *query.key_id);
      while (rollups.step()) {
        counts = {rollups.columnInt(3), rollups.columnInt(4), rollups.columnInt(5),
                  rollups.columnInt(6)};
        visitor.byEndpoint(rollups.columnInt(0), rollups.columnView(1), rollups.columnView(2),
                           counts);
        visitor.byKey(rollups.columnInt(0), *query.key_id, counts);
      }
    } else {
      Statement endpoints(db_, kSelectEndpointRollups, "reading endpoint rollups");
      endpoints.bind(1, query.rollup_first).bind(2, query.rollup_last);
      while (endpoints.step()) {
        counts = {endpoints.columnInt(3), endpoints.columnInt(4), endpoints.columnInt(5), 0};
        visitor.byEndpoint(endpoints.columnInt(0), endpoints.columnView(1), endpoints.columnView(2),
                           counts);
      }
      Statement keys(db_, kSelectAllKeyRollups, "reading key rollups");
      keys.bind(1, query.rollup_first).bind(2, query.rollup_last);
      while (keys.step()) {
        counts = {keys.columnInt(2), keys.columnInt(3), keys.columnInt(4), keys.columnInt(5)};
        visitor.byKey(keys.columnInt(0), keys.columnView(1), counts);
      }
    }
    Statement latency(db_, one_key ? kSelectKeyLatencies : kSelectLatencies,
                      "reading latency histograms");
    latency.bind(1, query.rollup_first).bind(2, query.rollup_last);
    if (one_key) {
      latency.bind(3, *query.key_id);
    }
    while (latency.step()) {
      visitor.latency(latency.columnBlob(0));
    }
    Statement raw(db_, one_key ? kSelectKeyRaw : kSelectRaw, "reading request records");
    raw.bind(1, query.raw_first).bind(2, query.raw_end);
    if (one_key) {
      raw.bind(3, *query.key_id);
    }
    RequestRecord record;
    while (raw.step()) {
      record.key_id = raw.columnText(0);
      record.endpoint = raw.columnText(1);
      record.method = raw.columnText(2);
      record.status_code = static_cast<int>(raw.columnInt(3));
      record.response_time_ms = raw.columnInt(4);
      record.timestamp_ms = raw.columnInt(5);
      visitor.raw(record);
    }
  } catch (...) {
    sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
  db_.exec("COMMIT", "ending a usage read");
}

void SqliteStore::addCounters(const std::vector<std::pair<std::string, std::int64_t>>& deltas,
                              TimePoint now) {
  std::lock_guard lock(mutex_);
  Transaction transaction(db_, "adding to counters");
  Statement add(db_, kAddCounter, "adding to a counter");
  for (const auto& [name, delta] : deltas) {
    add.bind(1, name).bind(2, delta).bind(3, now.time_since_epoch().count()).run();
  }
  transaction.commit();
}

std::vector<ApiStore::Counter> SqliteStore::counters() {
  std::lock_guard lock(mutex_);
  Statement select(db_, kSelectCounters, "reading counters");
  std::vector<Counter> out;
  while (select.step()) {
    out.push_back(Counter{select.columnText(0), select.columnInt(1), select.columnInt(2)});
  }
  return out;
}

std::pair<std::int64_t, std::int64_t> SqliteStore::deleteUsageBefore(
    std::int64_t raw_cutoff_ms, std::int64_t rollup_cutoff_ms) {
  std::lock_guard lock(mutex_);
  Transaction transaction(db_, "applying usage retention");
  Statement requests(db_, kDeleteOldRequests, "deleting old request records");
  requests.bind(1, raw_cutoff_ms).run();
  const std::int64_t raw_deleted = sqlite3_changes64(db_.handle());
  std::int64_t rollups_deleted = 0;
  for (const std::string_view sql : kDeleteOldRollupTables) {
    Statement rollups(db_, sql, "deleting old usage rollups");
    rollups.bind(1, rollup_cutoff_ms).run();
    rollups_deleted += sqlite3_changes64(db_.handle());
  }
  transaction.commit();
  return {raw_deleted, rollups_deleted};
}

}  // namespace api
