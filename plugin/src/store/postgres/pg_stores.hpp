// The shared backend: one PostgreSQL database serving every host of a deployment. Each
// PgStores has its own pool of connections (PgPool); the key change listener
// (KeyChangeListener) is shared by every PgStores of a process that names the same database.
//
// Across hosts:
//  - a rate-limit check locks its key (an advisory transaction lock on a hash of the key id),
//    reads the key's sub-windows and adds to one, in one transaction: exact for every host;
//  - key changes raise the key epoch and notify api_key_changes (a trigger on api_keys), so
//    every host's key cache drops what changed within milliseconds; while a host's listening
//    connection is down its cache is not used at all (changeToken answers nullopt).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "store/postgres/key_change_listener.hpp"
#include "store/postgres/pg_connection.hpp"
#include "store/stores.hpp"

namespace api {

class PgKeyStore final : public KeyStore {
 public:
  PgKeyStore(PgPool& pool, KeyChangeListener& listener);

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
  // Commits a key change's transaction and tells the listener the epoch it raised, so that
  // this process's caches drop the change at once, before the notification comes back.
  void commitChange(PgConnection& connection, PgTransaction& transaction);

  PgPool& pool_;
  KeyChangeListener& listener_;
};

class PgWindowStore final : public WindowStore {
 public:
  explicit PgWindowStore(PgPool& pool);

  bool consume(const Request& request, const Clock& clock, Decider& decider, Read& read) override;
  void peek(std::string_view key_id, const Clock& clock, Decider& decider, Read& read) override;
  std::int64_t reset(std::string_view key_id) override;
  std::int64_t forget(std::string_view key_id) override;
  std::int64_t deleteEnded(TimePoint cutoff, std::int64_t sub_window_ms) override;
  void write(const std::vector<KeyCounts>& keys) override;

 private:
  PgPool& pool_;
};

class PgUsageStore final : public UsageStore {
 public:
  explicit PgUsageStore(PgPool& pool);

  void append(std::span<const RequestRecord> records, const RollupDelta& delta,
              const HistogramMerge& merge) override;
  // The original system never ran on PostgreSQL: there is nothing to adopt.
  std::int64_t adoptLegacyRows(std::int64_t /*limit*/, const Fold& /*fold*/,
                               const HistogramMerge& /*merge*/) override {
    return 0;
  }
  void read(const Query& query, Visitor& visitor) override;
  std::pair<std::int64_t, std::int64_t> deleteBefore(std::int64_t raw_cutoff_ms,
                                                     std::int64_t rollup_cutoff_ms) override;

 private:
  PgPool& pool_;
};

class PgCounterStore final : public CounterStore {
 public:
  explicit PgCounterStore(PgPool& pool);

  void add(const std::vector<std::pair<std::string, std::int64_t>>& deltas, TimePoint now) override;
  std::vector<Counter> all() override;

 private:
  PgPool& pool_;
};

// The four stores on one pool, over a database migrated on opening.
class PgStores final : public Stores {
 public:
  // Connects, applies every pending migration (under an advisory lock: hosts starting
  // together migrate once; a database migrated by a newer build is refused) and starts (or
  // joins) the process's key change listener. Throws StoreError.
  explicit PgStores(PgOptions options);
  ~PgStores() override;

  KeyStore& keys() override { return keys_; }
  WindowStore& windows() override { return windows_; }
  UsageStore& usage() override { return usage_; }
  CounterStore& counters() override { return counters_; }
  StoreHealth health() noexcept override;

  PgPool& pool() { return pool_; }
  KeyChangeListener& listener() { return *listener_; }

 private:
  PgPool pool_;
  std::shared_ptr<KeyChangeListener> listener_;
  PgKeyStore keys_;
  PgWindowStore windows_;
  PgUsageStore usage_;
  PgCounterStore counters_;
};

}  // namespace api
