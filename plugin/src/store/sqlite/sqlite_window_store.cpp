// SqliteWindowStore: api_rate_limits, one row per key per sub-window. The key's lock is the
// database's write lock (BEGIN IMMEDIATE): one lock for every key, which is exact and simple,
// and what limits a SQLite store to one check at a time per machine.
#include "store/sqlite/sqlite_stores.hpp"

namespace api {
namespace {

constexpr Query kSelectCounts{
    "SELECT window_start, request_count FROM api_rate_limits"
    " WHERE key_id = ?1 AND window_start BETWEEN ?2 AND ?3 ORDER BY window_start",
    "reading rate-limit windows"};
constexpr Query kAddToWindow{
    "INSERT INTO api_rate_limits (key_id, window_start, window_size, request_count, rate_limit)"
    " VALUES (?1, ?2, ?3, ?4, ?5)"
    " ON CONFLICT (key_id, window_start) DO UPDATE SET"
    " request_count = request_count + excluded.request_count, rate_limit = excluded.rate_limit",
    "counting a request"};
constexpr Query kSumKeyWindows{
    "SELECT coalesce(sum(request_count), 0) FROM api_rate_limits WHERE key_id = ?1",
    "counting a key's requests"};
constexpr Query kDeleteKeyWindows{"DELETE FROM api_rate_limits WHERE key_id = ?1",
                                  "clearing a key's rate-limit windows"};
constexpr Query kSetWindow{
    "INSERT INTO api_rate_limits (key_id, window_start, window_size, request_count, rate_limit)"
    " VALUES (?1, ?2, ?3, ?4, ?5)"
    " ON CONFLICT (key_id, window_start) DO UPDATE SET"
    " request_count = max(request_count, excluded.request_count),"
    " window_size = excluded.window_size, rate_limit = excluded.rate_limit",
    "writing back rate-limit windows"};
constexpr Query kDeleteEndedWindows{SqliteWindowStore::kDeleteEndedWindowsSql,
                                    "deleting ended rate-limit windows"};

}  // namespace

SqliteWindowStore::SqliteWindowStore(SqliteConnection& connection)
    : connection_(connection),
      db_(connection.db()),
      select_counts_(std::make_unique<Statement>(db_, kSelectCounts, true)),
      add_to_window_(std::make_unique<Statement>(db_, kAddToWindow, true)) {}

void SqliteWindowStore::readCounts(std::string_view key_id, TimePoint now, const Plan& plan,
                                   Read& read) {
  Statement& select = *select_counts_;
  read.now = now;
  read.counts.clear();
  select.bind(1, key_id).bind(2, plan.range_first_ms).bind(3, plan.range_last_ms);
  try {
    while (select.step()) {
      read.counts.push_back({select.columnInt(0), select.columnInt(1)});
    }
  } catch (...) {
    select.reset();
    throw;
  }
  select.reset();
}

bool SqliteWindowStore::consume(const Request& request, const Clock& clock, Decider& decider,
                                Read& read) {
  std::lock_guard lock(connection_.mutex());
  Transaction transaction(db_, "a rate-limit check");
  const TimePoint now = clock.now();  // only now that the write lock is held
  const Plan plan = decider.plan(now);
  readCounts(request.key_id, now, plan, read);
  const bool admit = decider.admit(read);
  if (admit) {
    try {
      add_to_window_->bind(1, request.key_id)
          .bind(2, plan.consume_start_ms)
          .bind(3, request.sub_window_ms)
          .bind(4, request.cost)
          .bind(5, request.limit)
          .run();
    } catch (...) {
      add_to_window_->reset();  // its bindings must not outlive this call
      throw;
    }
  }
  transaction.commit();
  return admit;
}

void SqliteWindowStore::peek(std::string_view key_id, const Clock& clock, Decider& decider,
                             Read& read) {
  std::lock_guard lock(connection_.mutex());
  const TimePoint now = clock.now();
  readCounts(key_id, now, decider.plan(now), read);
}

std::int64_t SqliteWindowStore::reset(std::string_view key_id) {
  std::lock_guard lock(connection_.mutex());
  Transaction transaction(db_, "resetting a rate limit");
  Statement sum(db_, kSumKeyWindows);
  sum.bind(1, key_id).step();
  const std::int64_t cleared = sum.columnInt(0);
  Statement del(db_, kDeleteKeyWindows);
  del.bind(1, key_id).run();
  transaction.commit();
  return cleared;
}

std::int64_t SqliteWindowStore::forget(std::string_view key_id) {
  std::lock_guard lock(connection_.mutex());
  Statement del(db_, kDeleteKeyWindows);
  del.bind(1, key_id).run();
  return sqlite3_changes64(db_.handle());
}

std::int64_t SqliteWindowStore::deleteEnded(TimePoint cutoff, std::int64_t sub_window_ms) {
  std::lock_guard lock(connection_.mutex());
  Statement ended(db_, kDeleteEndedWindows);
  ended.bind(1, static_cast<std::int64_t>(cutoff.time_since_epoch().count()))
      .bind(2, sub_window_ms)
      .run();
  return sqlite3_changes64(db_.handle());
}

void SqliteWindowStore::write(const std::vector<KeyCounts>& keys) {
  if (keys.empty()) {
    return;
  }
  std::lock_guard lock(connection_.mutex());
  Transaction transaction(db_, "writing back rate-limit windows");
  Statement set(db_, kSetWindow);
  for (const KeyCounts& key : keys) {
    for (const Count& c : key.counts) {
      set.bind(1, key.key_id)
          .bind(2, c.start_ms)
          .bind(3, key.sub_window_ms)
          .bind(4, c.count)
          .bind(5, key.limit)
          .run();
    }
  }
  transaction.commit();
}

}  // namespace api
