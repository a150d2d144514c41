#include "store/sqlite_store.hpp"

#include "store/migrations.hpp"

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
constexpr std::string_view kDeleteEndedWindows =
    "DELETE FROM api_rate_limits WHERE window_start + window_size <= ?1";

int latestVersion() {
  const auto all = schemaMigrations();
  return all.empty() ? 0 : all.back().version;
}

}  // namespace

SqliteStore::SqliteStore(const SqliteStoreOptions& options) : db_(options.path) {
  db_.check(sqlite3_busy_timeout(db_.handle(), static_cast<int>(options.busy_timeout_ms)),
            "setting the busy timeout");
  db_.exec("PRAGMA journal_mode = WAL", "enabling WAL mode");
  db_.exec("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON", "configuring the connection");
  migrate();
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
  db_.exec("BEGIN IMMEDIATE", "starting the schema migration");
  try {
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
    db_.exec("COMMIT", "committing the schema migration");
  } catch (...) {
    sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
    throw;
  }
}

int SqliteStore::schemaVersion() {
  std::lock_guard lock(mutex_);
  return appliedVersion();
}

StoreHealth SqliteStore::health() noexcept {
  StoreHealth health;
  health.location = "sqlite:" + db_.path();
  health.latest_schema_version = latestVersion();
  try {
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
  }
  health.healthy = health.problem.empty();
  return health;
}

std::int64_t SqliteStore::deleteRateLimitWindowsEndedBy(TimePoint cutoff) {
  std::lock_guard lock(mutex_);
  Statement del(db_, kDeleteEndedWindows, "deleting ended rate-limit windows");
  del.bind(1, static_cast<std::int64_t>(cutoff.time_since_epoch().count())).run();
  return sqlite3_changes64(db_.handle());
}

}  // namespace api
