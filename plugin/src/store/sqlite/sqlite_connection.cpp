// SqliteConnection (opening, WAL, migrations, health) and the SqliteStores set.
#include "store/migrations.hpp"
#include "store/sqlite/sqlite_stores.hpp"

namespace api {
namespace {

constexpr Query kCreateMigrationsTable{
    "CREATE TABLE IF NOT EXISTS api_schema_migrations ("
    " version INTEGER PRIMARY KEY,"
    " name TEXT NOT NULL,"
    " applied_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ', 'now')))",
    "creating the migrations table"};
constexpr Query kMigrationsTableExists{
    "SELECT count(*) FROM sqlite_schema WHERE type = 'table' AND name = 'api_schema_migrations'",
    "reading the schema version"};
constexpr Query kSelectAppliedVersion{"SELECT coalesce(max(version), 0) FROM api_schema_migrations",
                                      "reading the schema version"};
constexpr Query kInsertMigration{
    "INSERT INTO api_schema_migrations (version, name) VALUES (?1, ?2)", "recording a migration"};
constexpr Query kRequestIdType{
    "SELECT upper(type) FROM pragma_table_info('api_requests') WHERE name = 'id'",
    "reading the api_requests schema"};
constexpr Query kEnableWal{"PRAGMA journal_mode = WAL", "enabling WAL mode"};
constexpr Query kConfigure{"PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON",
                           "configuring the connection"};
constexpr Query kProbe{"SELECT count(*) FROM api_keys", "probing the api_keys table"};

// The original system's rate-limit rows: window_start as text (its CURRENT_TIMESTAMP, UTC),
// window_size in ms. Text sorts after every number, so `window_start >= ''` is a seek on
// idx_api_rate_limits_window_start that finds only them. A row that can be read (a time
// julianday() understands, a key that exists) becomes `request_count` requests at the last
// millisecond of its window: counted as late as they can have been, so they count for as long
// as they can and never less (window_size 1, so cleanup ends them a window after that).
#define API_LEGACY_WINDOWS                                                                 \
  " FROM api_rate_limits WHERE window_start >= '' AND julianday(window_start) IS NOT NULL" \
  " AND key_id IN (SELECT id FROM api_keys)"
constexpr Query kAnyLegacyWindow{"SELECT 1" API_LEGACY_WINDOWS " LIMIT 1",
                                 "looking for the original system's rate-limit rows"};
constexpr Query kAdoptLegacyWindows{
    "INSERT INTO api_rate_limits (key_id, window_start, window_size, request_count, rate_limit)"
    " SELECT key_id, CAST(round((julianday(window_start) - 2440587.5) * 86400000.0) AS INTEGER)"
    " + max(window_size, 1) - 1, 1, max(request_count, 0), rate_limit" API_LEGACY_WINDOWS
    " ORDER BY 1, 2"
    " ON CONFLICT (key_id, window_start) DO UPDATE"
    " SET request_count = request_count + excluded.request_count",
    "adopting the original system's rate-limit rows"};
constexpr Query kDeleteLegacyWindows{"DELETE" API_LEGACY_WINDOWS,
                                     "adopting the original system's rate-limit rows"};
#undef API_LEGACY_WINDOWS

int latestVersion() {
  const auto all = schemaMigrations();
  return all.empty() ? 0 : all.back().version;
}

}  // namespace

SqliteConnection::SqliteConnection(const SqliteStoreOptions& options)
    : db_(options.path), busy_timeout_ms_(options.busy_timeout_ms) {
  db_.check(sqlite3_busy_timeout(db_.handle(), static_cast<int>(options.busy_timeout_ms)),
            "setting the busy timeout");
  if (options.trace) {
    db_.traceStatements(options.trace);
  }
  {
    // The pragma answers the mode now in force; a file that cannot switch (a read-only
    // directory, a VFS without shared memory) must not silently run in another mode.
    Statement wal(db_, kEnableWal);
    if (!wal.step() || wal.columnText(0) != "wal") {
      throw StoreError("database '" + db_.path() + "' could not be put in WAL mode (it is in '" +
                       wal.columnText(0) + "' mode)");
    }
  }
  db_.exec(kConfigure.sql, kConfigure.what);
  migrate();
  {
    Statement type(db_, kRequestIdType);
    request_ids_are_text_ = type.step() && type.columnText(0) == "TEXT";
  }
  adoptLegacyWindows();
  // No key change can take longer than a wait for the lock and its statements: a change in
  // flight for much longer was left by a process that died inside it.
  epoch_ = std::make_unique<KeyEpoch>(
      db_.path() + "-keyepoch",
      std::chrono::milliseconds(options.busy_timeout_ms) + std::chrono::seconds(60));
}

std::optional<ChangeToken> SqliteConnection::changeToken() const noexcept {
  const std::optional<std::uint64_t> generation = epoch_->token();
  if (!generation) {
    return std::nullopt;
  }
  return ChangeToken(&*generation, sizeof(*generation));
}

void SqliteConnection::adoptLegacyWindows() {
  {
    Statement any(db_, kAnyLegacyWindow);  // a plain read: usually nothing, and no write lock
    if (!any.step()) {
      return;
    }
  }
  Transaction transaction(db_, "adopting the original system's rate-limit rows");
  Statement(db_, kAdoptLegacyWindows).run();
  Statement(db_, kDeleteLegacyWindows).run();
  transaction.commit();
}

int SqliteConnection::appliedVersion() {
  Statement exists(db_, kMigrationsTableExists);
  exists.step();
  if (exists.columnInt(0) == 0) {
    return 0;
  }
  Statement version(db_, kSelectAppliedVersion);
  version.step();
  return static_cast<int>(version.columnInt(0));
}

void SqliteConnection::migrate() {
  const int latest = latestVersion();
  // Fast path, read only: an up-to-date file needs no write lock.
  if (appliedVersion() == latest) {
    return;
  }
  Transaction transaction(db_, "the schema migration");
  {
    db_.exec(kCreateMigrationsTable.sql, kCreateMigrationsTable.what);
    const int applied = appliedVersion();  // again, under the write lock
    if (applied > latest) {
      throw StoreError("database '" + db_.path() + "' has schema version " +
                       std::to_string(applied) + ", newer than this build knows (" +
                       std::to_string(latest) + "); upgrade the api module");
    }
    Statement record(db_, kInsertMigration);
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

int SqliteConnection::schemaVersion() {
  std::lock_guard lock(mutex_);
  return appliedVersion();
}

StoreHealth SqliteConnection::health() noexcept {
  StoreHealth health;
  health.latest_schema_version = latestVersion();
  try {
    health.location = "sqlite:" + db_.path();
    std::lock_guard lock(mutex_);
    health.schema_version = appliedVersion();
    Statement probe(db_, kProbe);
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

SqliteStores::SqliteStores(const SqliteStoreOptions& options)
    : connection_(options),
      keys_(connection_),
      windows_(connection_),
      usage_(connection_),
      counters_(connection_) {}

}  // namespace api
