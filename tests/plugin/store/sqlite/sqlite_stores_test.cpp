#include "store/sqlite/sqlite_stores.hpp"

#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sys/wait.h>

#include <boost/test/unit_test.hpp>
#include <filesystem>
#include <fstream>
#include <optional>
#include <set>

#include "process.hpp"
#include "store/migrations.hpp"

namespace {

using api::SqliteStoreOptions;
using api::SqliteStores;
using testing_support::TempDir;

// A second, independent connection to inspect the file as another process would.
class Inspector {
 public:
  explicit Inspector(const std::string& path) { sqlite3_open(path.c_str(), &db_); }
  ~Inspector() { sqlite3_close(db_); }
  std::string text(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr);
    std::string out;
    if (stmt != nullptr && sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0)) {
      out = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    }
    sqlite3_finalize(stmt);
    return out;
  }
  // The query plan's details, one per line.
  std::string plan(const std::string& sql) {
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(db_, ("EXPLAIN QUERY PLAN " + sql).c_str(), -1, &stmt, nullptr);
    std::string out;
    while (stmt != nullptr && sqlite3_step(stmt) == SQLITE_ROW) {
      out += reinterpret_cast<const char*>(sqlite3_column_text(stmt, 3));
      out += '\n';
    }
    sqlite3_finalize(stmt);
    return out;
  }
  std::set<std::string> columns(const std::string& table) {
    std::set<std::string> out;
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(db_, ("PRAGMA table_info(" + table + ")").c_str(), -1, &stmt, nullptr);
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      out.insert(reinterpret_cast<const char*>(sqlite3_column_text(stmt, 1)));
    }
    sqlite3_finalize(stmt);
    return out;
  }
  void exec(const std::string& sql) {
    char* error = nullptr;
    const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error);
    const std::string message = error != nullptr ? error : "";
    sqlite3_free(error);
    BOOST_REQUIRE_MESSAGE(rc == SQLITE_OK, sql << ": " << message);
  }

 private:
  sqlite3* db_ = nullptr;
};

int latest() {
  return api::schemaMigrations().back().version;
}

}  // namespace

BOOST_AUTO_TEST_SUITE(sqlite_store)

BOOST_AUTO_TEST_CASE(a_new_file_is_private_migrated_and_in_wal_mode) {
  TempDir dir;
  const std::string path = dir.path() + "/nested/dir/api.sqlite3";
  SqliteStores store(SqliteStoreOptions{path, 1000});
  struct stat st {};
  BOOST_REQUIRE(::stat(path.c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0600u);
  BOOST_REQUIRE(::stat((dir.path() + "/nested/dir").c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0700u);
  BOOST_TEST(store.connection().schemaVersion() == latest());
  Inspector db(path);
  BOOST_TEST(db.text("PRAGMA journal_mode") == "wal");
  BOOST_TEST(db.text("SELECT name FROM api_schema_migrations WHERE version = 1") == "0001_initial");
  const api::StoreHealth health = store.health();
  BOOST_TEST(health.healthy, health.problem);
  BOOST_TEST(health.location == "sqlite:" + path);
}

// The message of the StoreError that opening `path` throws; empty when it opens.
std::string openFailure(const std::string& path) {
  try {
    SqliteStores store(SqliteStoreOptions{path, 1000});
  } catch (const api::StoreError& e) {
    return e.what();
  }
  return {};
}

bool contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

BOOST_AUTO_TEST_CASE(a_database_that_others_could_plant_or_change_is_refused) {
  TempDir dir;
  const std::string real = dir.path() + "/real.db";
  { SqliteStores store(SqliteStoreOptions{real, 1000}); }

  // A symlink, even to a good database of ours.
  const std::string link = dir.path() + "/link.db";
  BOOST_REQUIRE(::symlink(real.c_str(), link.c_str()) == 0);
  std::string failure = openFailure(link);
  BOOST_TEST(contains(failure, "'" + link + "': it is a symbolic link"), failure);

  // Writable by the group or by everyone.
  BOOST_REQUIRE(::chmod(real.c_str(), 0620) == 0);
  failure = openFailure(real);
  BOOST_TEST(contains(failure, "mode 0620 lets others write it"), failure);
  BOOST_REQUIRE(::chmod(real.c_str(), 0600) == 0);
  BOOST_TEST(openFailure(real).empty());

  // In a directory that others can write (and that is not sticky).
  const std::string open_dir = dir.path() + "/open";
  BOOST_REQUIRE(::mkdir(open_dir.c_str(), 0700) == 0);
  BOOST_REQUIRE(::chmod(open_dir.c_str(), 0777) == 0);
  failure = openFailure(open_dir + "/api.db");
  BOOST_TEST(contains(failure, "refusing database directory '" + open_dir + "': mode 0777"),
             failure);
  struct stat st {};
  BOOST_TEST(::stat((open_dir + "/api.db").c_str(), &st) != 0);  // nothing was created there
  BOOST_REQUIRE(::chmod(open_dir.c_str(), 01777) == 0);  // sticky, like /tmp: ours stays ours
  BOOST_TEST(openFailure(open_dir + "/api.db").empty());

  // Owned by someone else (only root can give a file away).
  if (::geteuid() != 0) {
    BOOST_TEST_MESSAGE("not root: the check of another user's file is not exercised");
    return;
  }
  BOOST_REQUIRE(::chown(real.c_str(), 65534, 65534) == 0);
  failure = openFailure(real);
  BOOST_TEST(contains(failure, "owned by uid 65534, not by this user"), failure);
}

BOOST_AUTO_TEST_CASE(tables_keep_the_original_systemprompt_columns) {
  TempDir dir;
  SqliteStores store(SqliteStoreOptions{dir.path() + "/a.db", 1000});
  Inspector db(dir.path() + "/a.db");
  const std::set<std::string> keys{"id",           "key_hash",   "key_prefix", "user_id",
                                   "name",         "scopes",     "rate_limit", "expires_at",
                                   "last_used_at", "created_at", "revoked_at", "revoked_reason",
                                   "metadata"};
  for (const auto& c : keys) {
    BOOST_TEST(db.columns("api_keys").count(c) == 1u, "api_keys." << c);
  }
  for (const auto& c : {"key_id", "window_start", "window_size", "request_count", "rate_limit"}) {
    BOOST_TEST(db.columns("api_rate_limits").count(c) == 1u, "api_rate_limits." << c);
  }
  for (const auto& c : {"id", "key_id", "endpoint", "method", "status_code", "response_time",
                        "ip_address", "user_agent", "timestamp"}) {
    BOOST_TEST(db.columns("api_requests").count(c) == 1u, "api_requests." << c);
  }
}

BOOST_AUTO_TEST_CASE(reopening_is_idempotent_and_an_original_database_opens_unchanged) {
  TempDir dir;
  const std::string path = dir.path() + "/legacy.db";
  {
    Inspector legacy(path);  // as the original system left it: its tables, no migrations table
    legacy.exec(
        "CREATE TABLE api_keys (id TEXT PRIMARY KEY, key_hash TEXT NOT NULL UNIQUE,"
        " key_prefix TEXT NOT NULL, user_id TEXT NOT NULL, name TEXT NOT NULL, scopes TEXT,"
        " rate_limit INTEGER DEFAULT 1000, expires_at DATETIME, last_used_at DATETIME,"
        " created_at DATETIME DEFAULT CURRENT_TIMESTAMP, revoked_at DATETIME,"
        " revoked_reason TEXT, metadata TEXT);"
        "INSERT INTO api_keys (id, key_hash, key_prefix, user_id, name)"
        " VALUES ('k1', 'abc', 'sk_abcde', 'u1', 'legacy key');"
        "CREATE TABLE api_requests (id TEXT PRIMARY KEY, key_id TEXT NOT NULL,"
        " endpoint TEXT NOT NULL, method TEXT NOT NULL, status_code INTEGER NOT NULL,"
        " response_time INTEGER NOT NULL, ip_address TEXT, user_agent TEXT,"
        " timestamp TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,"
        " FOREIGN KEY (key_id) REFERENCES api_keys(id) ON DELETE CASCADE);");
  }
  { SqliteStores first(SqliteStoreOptions{path, 1000}); }
  SqliteStores again(SqliteStoreOptions{path, 1000});
  BOOST_TEST(again.connection().schemaVersion() == latest());
  Inspector db(path);
  BOOST_TEST(db.text("SELECT name FROM api_keys WHERE id = 'k1'") == "legacy key");
  BOOST_TEST(db.text("SELECT count(*) FROM api_schema_migrations") == std::to_string(latest()));
  // Its api_requests keeps its TEXT id: every row written gets one of its own.
  std::vector<api::RequestRecord> records(2);
  for (auto& r : records) {
    r.key_id = "k1";
    r.endpoint = "/v1";
    r.method = "GET";
    r.status_code = 200;
    r.timestamp_ms = 1'700'000'000'000;
  }
  again.usage().append(records, api::foldIntoRollups(records, 3'600'000),
                       api::addToStoredHistogram);
  BOOST_TEST(db.text("SELECT count(DISTINCT id) FROM api_requests WHERE length(id) = 32") == "2");
}

BOOST_AUTO_TEST_CASE(a_corrupt_stored_histogram_refuses_the_batch_and_is_not_overwritten) {
  TempDir dir;
  const std::string path = dir.path() + "/h.db";
  SqliteStores store(SqliteStoreOptions{path, 1000});
  Inspector db(path);
  db.exec(
      "INSERT INTO api_keys (id, key_hash, key_prefix, user_id, name)"
      " VALUES ('k1', 'h', 'sk_x', 'u', 'n')");
  std::vector<api::RequestRecord> records(1);
  records[0].key_id = "k1";
  records[0].endpoint = "/v1";
  records[0].method = "GET";
  records[0].status_code = 200;
  records[0].response_time_ms = 12;
  records[0].timestamp_ms = 1'700'000'000'000;
  store.usage().append(records, api::foldIntoRollups(records, 3'600'000),
                       api::addToStoredHistogram);
  db.exec("UPDATE api_usage_latency_all SET histogram = x'80'");  // a truncated varint
  const std::string before = db.text("SELECT count(*) FROM api_requests");
  try {
    store.usage().append(records, api::foldIntoRollups(records, 3'600'000),
                         api::addToStoredHistogram);
    BOOST_FAIL("a corrupt histogram was merged");
  } catch (const api::StoreError& e) {
    BOOST_TEST(!e.transient());
    BOOST_TEST(contains(e.what(), "api_usage_latency_all"), e.what());
    BOOST_TEST(contains(e.what(), "is corrupt; refusing to overwrite it"), e.what());
  }
  BOOST_TEST(db.text("SELECT hex(histogram) FROM api_usage_latency_all") == "80");
  BOOST_TEST(db.text("SELECT count(*) FROM api_requests") == before);  // nothing of the batch
}

BOOST_AUTO_TEST_CASE(the_change_token_moves_with_every_key_change_by_anyone_and_only_then) {
  TempDir dir;
  const std::string path = dir.path() + "/stamp.db";
  SqliteStores store(SqliteStoreOptions{path, 1000});
  SqliteStores other(SqliteStoreOptions{path, 1000});  // as another process would have
  const auto before = store.keys().changeToken();
  BOOST_REQUIRE(before.has_value());
  BOOST_TEST((other.keys().changeToken() == before));  // one epoch for every connection

  api::KeyRecord key;
  key.id = "key_00112233aabbccdd";
  key.key_hash = std::string(64, 'a');
  key.key_prefix = "sk_abcd";
  key.user_id = "u";
  key.name = "n";
  key.rate_limit = 10;
  const api::TimePoint now{std::chrono::milliseconds(1'000'000)};
  key.created_at = now;
  api::AuditRecord audit;
  audit.key_id = key.id;
  audit.action = "create";
  audit.at = now;
  audit.details_json = "{}";
  BOOST_REQUIRE(
      (other.keys().insert(key, 0, now, audit) == api::KeyStore::InsertOutcome::kInserted));
  const auto after_insert = store.keys().changeToken();
  BOOST_TEST((after_insert != before));

  // Commits that change no key's validity leave it alone: last use, rate-limit windows,
  // usage rows, counters, audit rows on their own, and writes by other software.
  BOOST_TEST(other.keys().touchLastUsed(key.id, now));
  other.windows().reset(key.id);
  const std::vector<api::RequestRecord> records{{key.id, "/x", "GET", "", "", 200, 5, 1000000}};
  other.usage().append(records, api::foldIntoRollups(records, 3'600'000),
                       api::addToStoredHistogram);
  audit.action = "reset_rate_limit";
  other.keys().appendAudit(audit);
  Inspector(path).exec("UPDATE api_keys SET name = 'renamed elsewhere'");
  BOOST_TEST((store.keys().changeToken() == after_insert));

  audit.action = "update_limit";
  BOOST_TEST((other.keys().setRateLimit(*other.keys().findById(key.id), 20, audit) ==
              api::KeyStore::ChangeOutcome::kDone));
  const auto after_limit = store.keys().changeToken();
  BOOST_TEST((after_limit != after_insert));
  audit.action = "revoke";
  other.keys().revoke(key.id, "r", now, audit);
  BOOST_TEST((store.keys().changeToken() != after_limit));
}

BOOST_AUTO_TEST_CASE(no_token_while_a_key_change_is_in_flight_and_a_dead_ones_is_cleared) {
  TempDir dir;
  const std::string path = dir.path() + "/api.sqlite3-keyepoch";
  std::int64_t now_ms = 1'000;
  api::KeyEpoch epoch(path, std::chrono::milliseconds(5'000), [&] { return now_ms; });
  const auto idle = epoch.token();
  BOOST_REQUIRE(idle.has_value());
  {
    const api::KeyEpoch::Change change(epoch);
    BOOST_TEST(!epoch.token().has_value());
    now_ms += 4'000;
    BOOST_TEST(!epoch.token().has_value());  // not yet older than the bound
  }
  const auto after = epoch.token();
  BOOST_REQUIRE(after.has_value());
  BOOST_TEST(*after != *idle);

  // A process that dies inside a change never ends it: every cache is off until the change
  // is older than the bound, then the next reader clears it.
  const pid_t child = ::fork();
  BOOST_REQUIRE(child >= 0);
  if (child == 0) {
    api::KeyEpoch in_child(path, std::chrono::milliseconds(5'000), [&] { return now_ms; });
    new api::KeyEpoch::Change(in_child);  // never destroyed: the process ends inside it
    ::_exit(0);
  }
  int status = 0;
  ::waitpid(child, &status, 0);
  BOOST_TEST(!epoch.token().has_value());
  now_ms += 5'001;
  BOOST_TEST(!epoch.token().has_value());  // this read clears it
  const auto cleared = epoch.token();
  BOOST_REQUIRE(cleared.has_value());
  BOOST_TEST(*cleared != *after);
}

BOOST_AUTO_TEST_CASE(a_stalled_change_cleared_as_stale_does_not_count_down_a_later_one) {
  TempDir dir;
  const std::string path = dir.path() + "/api.sqlite3-keyepoch";
  std::int64_t now_ms = 1'000;
  api::KeyEpoch epoch(path, std::chrono::milliseconds(5'000), [&] { return now_ms; });
  auto stalled = std::make_optional<api::KeyEpoch::Change>(epoch);  // e.g. a stopped process
  now_ms += 5'001;
  BOOST_TEST(!epoch.token().has_value());  // cleared by this read
  BOOST_REQUIRE(epoch.token().has_value());
  const api::KeyEpoch::Change live(epoch);  // a change under way
  BOOST_TEST(!epoch.token().has_value());
  stalled.reset();                         // the stalled change ends late
  BOOST_TEST(!epoch.token().has_value());  // the live one still counts
}

BOOST_AUTO_TEST_CASE(a_short_timeout_never_clears_a_change_of_a_process_with_a_long_one) {
  TempDir dir;
  const std::string path = dir.path() + "/api.sqlite3-keyepoch";
  std::int64_t now_ms = 1'000;
  api::KeyEpoch patient(path, std::chrono::milliseconds(600'000), [&] { return now_ms; });
  api::KeyEpoch hasty(path, std::chrono::milliseconds(1'000), [&] { return now_ms; });
  const api::KeyEpoch::Change waiting(patient);  // may wait up to its own bound
  now_ms += 2'000;
  BOOST_TEST(!hasty.token().has_value());
  BOOST_TEST(!hasty.token().has_value());  // not cleared: its deadline is the patient one's
}

BOOST_AUTO_TEST_CASE(a_foreign_or_truncated_epoch_file_is_rebuilt_and_a_loose_one_refused) {
  TempDir dir;
  const std::string path = dir.path() + "/api.sqlite3-keyepoch";
  {
    std::ofstream garbage(path, std::ios::binary);
    garbage << std::string(4096, '\x7f');
  }
  ::chmod(path.c_str(), 0600);
  std::optional<std::uint64_t> first;
  {
    api::KeyEpoch epoch(path, std::chrono::milliseconds(1'000));
    first = epoch.token();  // rebuilt: garbage held a change "in flight"
    BOOST_TEST(first.has_value());
  }
  ::truncate(path.c_str(), 100);
  {
    api::KeyEpoch epoch(path, std::chrono::milliseconds(1'000));
    BOOST_TEST(epoch.token().has_value());
  }
  ::chmod(path.c_str(), 0620);
  try {
    api::KeyEpoch epoch(path, std::chrono::milliseconds(1'000));
    BOOST_FAIL("a group-writable epoch file was trusted");
  } catch (const api::StoreError& e) {
    BOOST_TEST(contains(e.what(), "others may write it"), e.what());
  }
  const std::string link = dir.path() + "/link-keyepoch";
  ::chmod(path.c_str(), 0600);
  BOOST_REQUIRE(::symlink(path.c_str(), link.c_str()) == 0);
  try {
    api::KeyEpoch epoch(link, std::chrono::milliseconds(1'000));
    BOOST_FAIL("an epoch file was opened through a symbolic link");
  } catch (const api::StoreError& e) {
    BOOST_TEST(contains(e.what(), "symbolic link"), e.what());
  }
}

BOOST_AUTO_TEST_CASE(a_schema_newer_than_this_build_is_refused) {
  TempDir dir;
  const std::string path = dir.path() + "/future.db";
  { SqliteStores store(SqliteStoreOptions{path, 1000}); }
  Inspector(path).exec("INSERT INTO api_schema_migrations (version, name) VALUES (999, 'x')");
  try {
    SqliteStores store(SqliteStoreOptions{path, 1000});
    BOOST_FAIL("a newer schema was accepted");
  } catch (const api::StoreError& e) {
    BOOST_TEST(std::string(e.what()).find("schema version 999, newer than this build knows") !=
                   std::string::npos,
               e.what());
  }
}

BOOST_AUTO_TEST_CASE(an_unusable_path_is_a_store_error_naming_it) {
  TempDir dir;
  testing_support::writeFile(dir.path() + "/file", "x");
  BOOST_CHECK_EXCEPTION(SqliteStores(SqliteStoreOptions{dir.path() + "/file/api.db", 1000}),
                        api::StoreError, [&](const api::StoreError& e) {
                          return std::string(e.what()).find(dir.path() + "/file") !=
                                 std::string::npos;
                        });
}

// A PostgreSQL URL handed to the SQLite store (a test or a config mix-up) once became
// directories named after it, password and all, beside the working directory.
BOOST_AUTO_TEST_CASE(a_url_for_a_path_is_refused_unshown_and_creates_nothing) {
  TempDir dir;
  const std::string url = dir.path() + "/postgresql://api:s3cret-pw@/db?host=/run/pg";
  try {
    SqliteStores stores(SqliteStoreOptions{url, 1000});
    BOOST_FAIL("a URL was opened as a SQLite file");
  } catch (const api::StoreError& e) {
    const std::string message = e.what();
    BOOST_TEST(message.find("s3cret-pw") == std::string::npos, message);
    BOOST_TEST(message.find("databaseUrl") != std::string::npos, message);
  }
  BOOST_TEST(!std::filesystem::exists(dir.path() + "/postgresql:"));
}

BOOST_AUTO_TEST_CASE(health_reports_a_damaged_schema) {
  TempDir dir;
  const std::string path = dir.path() + "/d.db";
  SqliteStores store(SqliteStoreOptions{path, 1000});
  Inspector(path).exec(
      "PRAGMA foreign_keys = OFF; DROP TABLE api_requests; "
      "DROP TABLE api_rate_limits; DROP TABLE api_keys");
  const api::StoreHealth health = store.health();
  BOOST_TEST(!health.healthy);
  BOOST_TEST(health.problem.find("api_keys") != std::string::npos, health.problem);
}

BOOST_AUTO_TEST_CASE(cleanup_deletes_only_windows_that_have_ended) {
  TempDir dir;
  const std::string path = dir.path() + "/w.db";
  SqliteStores store(SqliteStoreOptions{path, 1000});
  Inspector db(path);
  db.exec(
      "INSERT INTO api_keys (id, key_hash, key_prefix, user_id, name) "
      "VALUES ('k', 'h', 'sk_x', 'u', 'n');"
      "INSERT INTO api_rate_limits VALUES ('k', 1000, 60000, 5, 100);"   // ends 61000
      "INSERT INTO api_rate_limits VALUES ('k', 61000, 60000, 5, 100);"  // ends 121000
      "INSERT INTO api_rate_limits VALUES ('k', 121000, 60000, 5, 100);");
  const auto at = [](std::int64_t ms) { return api::TimePoint(std::chrono::milliseconds(ms)); };
  BOOST_TEST(store.windows().deleteEnded(at(60999), 60000) == 0);
  BOOST_TEST(store.windows().deleteEnded(at(121000), 60000) == 2);
  BOOST_TEST(store.windows().deleteEnded(at(121000), 60000) == 0);
  BOOST_TEST(db.text("SELECT window_start FROM api_rate_limits") == "121000");
  // The index serves the delete: no scan of the whole table under the write lock.
  const std::string plan = db.plan(std::string(api::SqliteWindowStore::kDeleteEndedWindowsSql));
  BOOST_TEST(plan.find("idx_api_rate_limits_window_start") != std::string::npos, plan);
}

BOOST_AUTO_TEST_CASE(cleanup_finds_the_keys_whose_revocation_took_effect) {
  TempDir dir;
  const std::string path = dir.path() + "/r.db";
  SqliteStores store(SqliteStoreOptions{path, 1000});
  Inspector db(path);
  db.exec(
      "INSERT INTO api_keys (id, key_hash, key_prefix, user_id, name, revoked_at) VALUES"
      " ('gone', 'h1', 'sk_x', 'u', 'n', '1970-01-01T00:01:00.000Z'),"
      " ('grace', 'h2', 'sk_y', 'u', 'n', '1970-01-01T00:10:00.000Z'),"
      // 01:01:30Z, in another format: as text it sorts before now, as a time it is after.
      " ('offset', 'h4', 'sk_w', 'u', 'n', '1970-01-01T00:01:30-01:00'),"
      " ('live', 'h3', 'sk_z', 'u', 'n', NULL);"
      "INSERT INTO api_rate_limits VALUES ('gone', 100000, 60000, 5, 100),"
      " ('grace', 100000, 60000, 5, 100), ('live', 100000, 60000, 5, 100),"
      " ('offset', 100000, 60000, 5, 100);");
  const auto at = [](std::int64_t ms) { return api::TimePoint(std::chrono::milliseconds(ms)); };
  using Ids = std::vector<std::string>;
  BOOST_TEST(store.keys().revokedBetween(at(0), at(120000)) == Ids{"gone"});
  BOOST_TEST(store.keys().revokedBetween(at(60000), at(120000)) == Ids{});  // (from, to]
  BOOST_TEST(store.keys().revokedBetween(at(0), at(600000)) == (Ids{"gone", "grace"}));
  BOOST_TEST(store.keys().revokedBetween(at(0), at(7'290'000)) == (Ids{"gone", "grace", "offset"}));
  // Forgetting one key's windows leaves every other key's.
  BOOST_TEST(store.windows().forget("gone") == 1);
  BOOST_TEST(db.text("SELECT group_concat(key_id, ',') FROM (SELECT key_id FROM api_rate_limits"
                     " ORDER BY key_id)") == "grace,live,offset");
}

BOOST_AUTO_TEST_SUITE_END()
