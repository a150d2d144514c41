// The embedded backend: one SQLite file in WAL mode, shared safely by every process of the
// host on this machine. One connection (SqliteConnection) serves the four aggregate stores
// of a SqliteStores; each process opens as many sets as it wants connections.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <utility>

#include "store/sqlite/key_epoch.hpp"
#include "store/sqlite/sqlite_db.hpp"
#include "store/stores.hpp"

namespace api {

struct SqliteStoreOptions {
  SqliteStoreOptions(std::string path_in, std::int64_t busy_timeout_ms_in = 5000,
                     StoreTrace trace_in = {})
      : path(std::move(path_in)), busy_timeout_ms(busy_timeout_ms_in), trace(std::move(trace_in)) {}

  std::string path;              // database file; created (mode 0600) when missing
  std::int64_t busy_timeout_ms;  // wait this long for another process's lock
  StoreTrace trace;              // every statement run, once opened
};

// One connection and the lock that serialises its users (the four stores of one set).
class SqliteConnection {
 public:
  // Opens the database, sets WAL, busy timeout and foreign keys, and applies every pending
  // migration in one transaction each (concurrent openers wait for each other). Throws
  // StoreError, e.g. when the file's schema is newer than this build knows.
  explicit SqliteConnection(const SqliteStoreOptions& options);

  SqliteDb& db() { return db_; }
  std::mutex& mutex() { return mutex_; }
  std::int64_t busyTimeoutMs() const { return busy_timeout_ms_; }
  // api_requests.id is TEXT in a database made by the original system: rows then need an id.
  bool requestIdsAreText() const { return request_ids_are_text_; }
  // The key change epoch's token (see KeyEpoch): it moves with every key change made through
  // SqliteKeyStore by any process, and with nothing else.
  std::optional<ChangeToken> changeToken() const noexcept;
  // Brackets every key change (SqliteKeyStore), around its transaction.
  const KeyEpoch& keyEpoch() const { return *epoch_; }
  StoreHealth health() noexcept;
  // The highest migration version applied to the file.
  int schemaVersion();

 private:
  void migrate();
  int appliedVersion();
  // Rewrites the original system's rate-limit rows (text times) as this module's, once, in one
  // transaction; a database without them costs one index seek.
  void adoptLegacyWindows();

  std::mutex mutex_;  // guards db_ and every statement prepared on it
  SqliteDb db_;
  std::int64_t busy_timeout_ms_;
  bool request_ids_are_text_ = false;
  std::unique_ptr<KeyEpoch> epoch_;  // "<database>-keyepoch"
};

class SqliteKeyStore final : public KeyStore {
 public:
  // REQUIRED: `connection` outlives this store.
  explicit SqliteKeyStore(SqliteConnection& connection);

  std::optional<ChangeToken> changeToken() const noexcept override;
  InsertOutcome insert(const KeyRecord& key, std::int64_t max_active_per_user, TimePoint now,
                       const AuditRecord& audit) override;
  std::optional<KeyRecord> findByHash(std::string_view key_hash) override;
  std::optional<KeyRecord> findById(std::string_view id) override;
  bool exists(std::string_view id) override;
  std::vector<KeyRecord> list(std::optional<std::string_view> user_id) override;
  ChangeResult revoke(std::string_view id, std::string_view reason, TimePoint at,
                      const AuditRecord& audit) override;
  ChangeResult rotate(const KeyRecord& old, const KeyRecord& replacement, TimePoint now,
                      TimePoint old_revoked_at, std::int64_t max_active_per_user,
                      const AuditRecord& old_audit, const AuditRecord& new_audit) override;
  bool undoRotation(std::string_view old_id, std::string_view new_id, TimePoint old_revoked_at,
                    TimePoint now, const AuditRecord& old_audit,
                    const AuditRecord& new_audit) override;
  ChangeOutcome setRateLimit(const KeyRecord& key, std::int64_t new_limit,
                             const AuditRecord& audit) override;
  void appendAudit(const AuditRecord& audit) override;
  bool touchLastUsed(std::string_view id, TimePoint at) override;
  std::vector<std::string> revokedBetween(TimePoint from, TimePoint to) override;
  std::vector<AuditRecord> auditTrail(std::string_view key_id) override;

 private:
  // REQUIRED: the connection's mutex held.
  std::optional<KeyRecord> keyById(std::string_view id);
  void insertRow(const KeyRecord& key);
  void insertAudit(const AuditRecord& audit);
  std::int64_t activeKeysOf(std::string_view user_id, TimePoint now);

  SqliteConnection& connection_;
  SqliteDb& db_;
  // Prepared once: validation's and the rate-limit check's hot paths.
  std::unique_ptr<Statement> find_by_hash_;
  std::unique_ptr<Statement> find_by_id_;
};

class SqliteWindowStore final : public WindowStore {
 public:
  // REQUIRED: `connection` outlives this store.
  explicit SqliteWindowStore(SqliteConnection& connection);

  bool consume(const Request& request, const Clock& clock, Decider& decider, Read& read) override;
  void peek(std::string_view key_id, const Clock& clock, Decider& decider, Read& read) override;
  std::int64_t reset(std::string_view key_id) override;
  std::int64_t forget(std::string_view key_id) override;
  std::int64_t deleteEnded(TimePoint cutoff, std::int64_t sub_window_ms) override;
  void write(const std::vector<KeyCounts>& keys) override;

  // Cleanup's delete of ended windows (?1 the cutoff, ?2 the sub-window length), public so
  // that a test can check its query plan. The first condition lets SQLite walk
  // idx_api_rate_limits_window_start instead of scanning the table: every row of the current
  // sub-window length that ended by ?1 satisfies it (rows of a shorter, older configuration
  // wait for a later run).
  static constexpr std::string_view kDeleteEndedWindowsSql =
      "DELETE FROM api_rate_limits"
      " WHERE window_start <= ?1 - ?2 AND window_start + window_size <= ?1";

 private:
  // REQUIRED: the connection's mutex held.
  void readCounts(std::string_view key_id, TimePoint now, const Plan& plan, Read& read);

  SqliteConnection& connection_;
  SqliteDb& db_;
  // Prepared once: the request path.
  std::unique_ptr<Statement> select_counts_;
  std::unique_ptr<Statement> add_to_window_;
};

class SqliteUsageStore final : public UsageStore {
 public:
  // REQUIRED: `connection` outlives this store.
  explicit SqliteUsageStore(SqliteConnection& connection);

  void append(std::span<const RequestRecord> records, const RollupDelta& delta,
              const HistogramMerge& merge) override;
  std::int64_t adoptLegacyRows(std::int64_t limit, const Fold& fold,
                               const HistogramMerge& merge) override;
  void read(const Query& query, Visitor& visitor) override;
  std::pair<std::int64_t, std::int64_t> deleteBefore(std::int64_t raw_cutoff_ms,
                                                     std::int64_t rollup_cutoff_ms) override;

 private:
  // REQUIRED: the connection's mutex held, a write transaction open.
  void addToRollups(const RollupDelta& delta, const HistogramMerge& merge);
  SqliteConnection& connection_;
  SqliteDb& db_;
};

class SqliteCounterStore final : public CounterStore {
 public:
  // REQUIRED: `connection` outlives this store.
  explicit SqliteCounterStore(SqliteConnection& connection);

  void add(const std::vector<std::pair<std::string, std::int64_t>>& deltas, TimePoint now) override;
  std::vector<Counter> all() override;

 private:
  SqliteConnection& connection_;
  SqliteDb& db_;
};

// The four stores on one connection.
class SqliteStores final : public Stores {
 public:
  explicit SqliteStores(const SqliteStoreOptions& options);

  KeyStore& keys() override { return keys_; }
  WindowStore& windows() override { return windows_; }
  UsageStore& usage() override { return usage_; }
  CounterStore& counters() override { return counters_; }
  StoreHealth health() noexcept override { return connection_.health(); }

  SqliteConnection& connection() { return connection_; }

 private:
  SqliteConnection connection_;
  SqliteKeyStore keys_;
  SqliteWindowStore windows_;
  SqliteUsageStore usage_;
  SqliteCounterStore counters_;
};

}  // namespace api
