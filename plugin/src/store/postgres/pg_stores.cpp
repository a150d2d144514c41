// PgStores: opening (migrations under an advisory lock) and health.
#include "store/postgres/pg_stores.hpp"

#include "store/migrations.hpp"

namespace api {
namespace {

// The migration lock: a two-key advisory lock, a space apart from the one-key (bigint) locks
// of keys and users.
constexpr PgQuery kLockMigrations{"SELECT pg_advisory_xact_lock(1634758000, 1)",
                                  "waiting for another host's schema migration"};
constexpr PgQuery kCreateMigrationsTable{
    "CREATE TABLE IF NOT EXISTS api_schema_migrations ("
    " version bigint PRIMARY KEY,"
    " name text NOT NULL,"
    " applied_at timestamptz NOT NULL DEFAULT now())",
    "creating the migrations table"};
constexpr PgQuery kMigrationsTableExists{"SELECT to_regclass('api_schema_migrations') IS NOT NULL",
                                         "reading the schema version"};
constexpr PgQuery kSelectAppliedVersion{
    "SELECT coalesce(max(version), 0)::bigint FROM api_schema_migrations",
    "reading the schema version"};
constexpr PgQuery kInsertMigration{
    "INSERT INTO api_schema_migrations (version, name) VALUES ($1::bigint, $2::text)",
    "recording a migration"};
constexpr PgQuery kProbe{"SELECT count(*) FROM api_keys", "probing the api_keys table"};

int latestVersion() {
  const auto all = postgresMigrations();
  return all.empty() ? 0 : all.back().version;
}

int appliedVersion(PgConnection& connection) {
  if (connection.run(kMigrationsTableExists).integer(0, 0) == 0) {
    return 0;
  }
  return static_cast<int>(connection.run(kSelectAppliedVersion).integer(0, 0));
}

// Applies every pending migration, in one transaction under the migration lock.
void migrate(PgPool& pool) {
  const int latest = latestVersion();
  pool.run([&](PgConnection& connection) {
    if (appliedVersion(connection) == latest) {  // the usual case: no lock taken
      return;
    }
    PgTransaction transaction(connection);
    // A host waits for another's migration, and a migration runs, longer than one call may:
    // up to ten minutes (the client's own deadline is a call's; the server ends it at 600 s).
    connection.exec("SET LOCAL lock_timeout = '600s'; SET LOCAL statement_timeout = '600s'",
                    "allowing the schema migration its time");
    struct LongCalls {  // the client's bound too, given back with the connection
      PgConnection& connection;
      std::int64_t normal = connection.timeoutMs();
      ~LongCalls() { connection.setTimeoutMs(normal); }
    } long_calls{connection};
    connection.setTimeoutMs(600'000);
    connection.run(kLockMigrations);
    connection.exec(kCreateMigrationsTable.sql, kCreateMigrationsTable.what);
    const int applied = appliedVersion(connection);  // again, under the lock
    if (applied > latest) {
      throw StoreError("database " + pool.location() + " has schema version " +
                       std::to_string(applied) + ", newer than this build knows (" +
                       std::to_string(latest) + "); upgrade the api module");
    }
    for (const Migration& migration : postgresMigrations()) {
      if (migration.version > applied) {
        connection.exec(migration.sql, "applying migration " + std::string(migration.name));
        connection.run(kInsertMigration,
                       {static_cast<std::int64_t>(migration.version), migration.name});
      }
    }
    transaction.commit();
  });
}

// The listener reads the key epoch: it starts once the schema is there.
std::shared_ptr<KeyChangeListener> migrateAndListen(PgPool& pool) {
  migrate(pool);
  return KeyChangeListener::forDatabase(pool.options());
}

}  // namespace

PgStores::PgStores(PgOptions options)
    : pool_(std::move(options)),
      listener_(migrateAndListen(pool_)),
      keys_(pool_, *listener_),
      windows_(pool_),
      usage_(pool_),
      counters_(pool_) {}

PgStores::~PgStores() = default;

StoreHealth PgStores::health() noexcept {
  StoreHealth health;
  health.latest_schema_version = latestVersion();
  try {
    health.location = pool_.location();
    pool_.run([&](PgConnection& connection) {
      health.schema_version = appliedVersion(connection);
      connection.run(kProbe);
    });
    if (health.schema_version != health.latest_schema_version) {
      health.problem = "schema version " + std::to_string(health.schema_version) + ", expected " +
                       std::to_string(health.latest_schema_version);
    } else if (!listener_->listening()) {
      health.problem = "not listening for key changes (the key cache is off until it is)";
    }
  } catch (const std::exception& e) {
    health.problem = e.what();
  } catch (...) {
    health.problem = "unknown failure";
  }
  health.healthy = health.problem.empty();
  return health;
}

}  // namespace api
