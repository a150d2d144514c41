// PgWindowStore: api_rate_limits, one row per key per sub-window, exact across hosts.
//
// A check is two round trips, each a pipeline: (BEGIN, lock the key, read its sub-windows)
// then (add to one, COMMIT), the commit not waiting for a disk flush (see kAsyncCommit). The key's
// lock is an advisory transaction lock on a 64-bit hash of its id: it needs no row to exist, leaves
// nothing behind, and every host contends on the same one. Under READ COMMITTED each statement
// reads a snapshot taken when it starts, and the read starts only once the lock is held, so it sees
// every count committed before.
//
// A later leasing layer (a host takes a share of a key's window from here and admits from
// shared memory) would take the same lock to grant a share, and write back through write(),
// which only ever raises counts.
#include <algorithm>

#include "store/postgres/pg_stores.hpp"

namespace api {
namespace {

// A check's commit does not wait for its WAL record to reach the disk: the transaction is
// atomic and isolated as any other, and only a crash of the server itself can forget the
// checks of its last moments (at most three wal_writer_delay, 600 ms by default), never a key
// change. Without it a check on one key costs a disk flush under that key's lock.
constexpr PgQuery kAsyncCommit{"SET LOCAL synchronous_commit TO off",
                               "letting a rate-limit check commit without a disk flush"};
constexpr PgQuery kLockKey{"SELECT pg_advisory_xact_lock(hashtextextended($1::text, 17))",
                           "locking a key's rate-limit windows"};
constexpr PgQuery kSelectCounts{
    "SELECT window_start, request_count FROM api_rate_limits"
    " WHERE key_id = $1::text AND window_start >= $2::bigint ORDER BY window_start",
    "reading rate-limit windows"};
constexpr PgQuery kAddToWindow{
    "INSERT INTO api_rate_limits (key_id, window_start, window_size, request_count, rate_limit)"
    " VALUES ($1::text, $2::bigint, $3::bigint, $4::bigint, $5::bigint)"
    " ON CONFLICT (key_id, window_start) DO UPDATE SET"
    " request_count = api_rate_limits.request_count + excluded.request_count,"
    " rate_limit = excluded.rate_limit",
    "counting a request"};
constexpr PgQuery kSumKeyWindows{
    "SELECT coalesce(sum(request_count), 0)::bigint FROM api_rate_limits WHERE key_id = $1::text",
    "counting a key's requests"};
constexpr PgQuery kDeleteKeyWindows{"DELETE FROM api_rate_limits WHERE key_id = $1::text",
                                    "clearing a key's rate-limit windows"};
constexpr PgQuery kSetWindow{
    "INSERT INTO api_rate_limits (key_id, window_start, window_size, request_count, rate_limit)"
    " VALUES ($1::text, $2::bigint, $3::bigint, $4::bigint, $5::bigint)"
    " ON CONFLICT (key_id, window_start) DO UPDATE SET"
    " request_count = greatest(api_rate_limits.request_count, excluded.request_count),"
    " window_size = excluded.window_size, rate_limit = excluded.rate_limit",
    "writing back rate-limit windows"};
constexpr PgQuery kDeleteEndedWindows{
    "DELETE FROM api_rate_limits"
    " WHERE window_start <= $1::bigint - $2::bigint AND window_start + window_size <= $1::bigint",
    "deleting ended rate-limit windows"};

void fillCounts(const PgResult& rows, const WindowStore::Plan& plan, WindowStore::Read& read) {
  read.counts.clear();
  for (int row = 0; row < rows.rows(); ++row) {
    const std::int64_t start = rows.integer(row, 0);
    if (start >= plan.range_first_ms && start <= plan.range_last_ms) {
      read.counts.push_back({start, rows.integer(row, 1)});
    }
  }
}

}  // namespace

PgWindowStore::PgWindowStore(PgPool& pool) : pool_(pool) {}

bool PgWindowStore::consume(const Request& request, const Clock& clock, Decider& decider,
                            Read& read) {
  return pool_.run([&](PgConnection& connection) {
    // What to read is known only once the lock is held; read from where the window starts
    // now, and again (rarely) if the clock stepped back meanwhile.
    const std::int64_t from = decider.plan(clock.now()).range_first_ms;
    const PgParam key(request.key_id);
    const PgParam first(from);
    const PgParam lock_params[] = {key};
    const PgParam read_params[] = {key, first};
    const PgCall opening[] = {{&kPgBegin, {}},
                              {&kAsyncCommit, {}},
                              {&kLockKey, lock_params},
                              {&kSelectCounts, read_params}};
    static_assert(std::size(opening) == 4, "opened[3] is the read");
    // Every way out but the commit rolls back, so that the connection goes back to its pool
    // outside any transaction (one the server aborted included).
    try {
      const std::vector<PgResult> opened = connection.pipeline(opening);
      const TimePoint now = clock.now();  // only now that the key's lock is held
      const Plan plan = decider.plan(now);
      read.now = now;
      if (plan.range_first_ms < from) {
        const PgParam again[] = {key, PgParam(plan.range_first_ms)};
        fillCounts(connection.run(kSelectCounts, again), plan, read);
      } else {
        fillCounts(opened[3], plan, read);
      }
      const bool admit = decider.admit(read);
      if (admit) {
        const PgParam add[] = {key, PgParam(plan.consume_start_ms), PgParam(request.sub_window_ms),
                               PgParam(request.cost), PgParam(request.limit)};
        const PgCall closing[] = {{&kAddToWindow, add}, {&kPgCommit, {}}};
        connection.pipeline(closing);
      } else {
        connection.run(kPgCommit);
      }
      return admit;
    } catch (...) {
      if (!connection.broken()) {
        try {
          connection.run(kPgRollback);
        } catch (...) {  // the pool drops a connection left in a transaction
        }
      }
      throw;
    }
  });
}

void PgWindowStore::peek(std::string_view key_id, const Clock& clock, Decider& decider,
                         Read& read) {
  pool_.run([&](PgConnection& connection) {
    const TimePoint now = clock.now();
    const Plan plan = decider.plan(now);
    read.now = now;
    fillCounts(connection.run(kSelectCounts, {key_id, plan.range_first_ms}), plan, read);
  });
}

std::int64_t PgWindowStore::reset(std::string_view key_id) {
  return pool_.run([&](PgConnection& connection) {
    PgTransaction transaction(connection);
    connection.run(kLockKey, {key_id});
    const std::int64_t cleared = connection.run(kSumKeyWindows, {key_id}).integer(0, 0);
    connection.run(kDeleteKeyWindows, {key_id});
    transaction.commit();
    return cleared;
  });
}

std::int64_t PgWindowStore::forget(std::string_view key_id) {
  return pool_.run([&](PgConnection& connection) {
    PgTransaction transaction(connection);
    connection.run(kLockKey, {key_id});
    const std::int64_t deleted = connection.run(kDeleteKeyWindows, {key_id}).affected();
    transaction.commit();
    return deleted;
  });
}

std::int64_t PgWindowStore::deleteEnded(TimePoint cutoff, std::int64_t sub_window_ms) {
  return pool_.run([&](PgConnection& connection) {
    return connection
        .run(kDeleteEndedWindows,
             {static_cast<std::int64_t>(cutoff.time_since_epoch().count()), sub_window_ms})
        .affected();
  });
}

void PgWindowStore::write(const std::vector<KeyCounts>& keys) {
  if (keys.empty()) {
    return;
  }
  // Keys locked in id order: two writers never wait for each other in a cycle.
  std::vector<const KeyCounts*> ordered;
  ordered.reserve(keys.size());
  for (const KeyCounts& key : keys) {
    ordered.push_back(&key);
  }
  std::sort(ordered.begin(), ordered.end(),
            [](const KeyCounts* a, const KeyCounts* b) { return a->key_id < b->key_id; });
  pool_.run([&](PgConnection& connection) {
    PgTransaction transaction(connection);
    for (const KeyCounts* key : ordered) {
      connection.run(kLockKey, {key->key_id});
      for (const Count& c : key->counts) {
        connection.run(kSetWindow,
                       {key->key_id, c.start_ms, key->sub_window_ms, c.count, key->limit});
      }
    }
    transaction.commit();
  });
}

}  // namespace api
