// SqliteUsageStore: api_requests and the usage rollup tables.
#include "store/sqlite/sqlite_stores.hpp"

#include <array>

#include "util/time_text.hpp"

namespace api {
namespace {

constexpr Query kInsertRequest{
    "INSERT INTO api_requests (key_id, endpoint, method, status_code, response_time, ip_address,"
    " user_agent, timestamp) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    "writing a request record"};
constexpr Query kInsertRequestWithTextId{
    "INSERT INTO api_requests (id, key_id, endpoint, method, status_code, response_time,"
    " ip_address, user_agent, timestamp)"
    " VALUES (lower(hex(randomblob(16))), ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    "writing a request record"};
constexpr Query kAddToRollup{
    "INSERT INTO api_usage_rollups (interval_start, key_id, endpoint, method, requests, errors,"
    " total_time, last_request) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
    " ON CONFLICT (interval_start, key_id, endpoint, method) DO UPDATE SET"
    " requests = requests + excluded.requests, errors = errors + excluded.errors,"
    " total_time = total_time + excluded.total_time,"
    " last_request = max(last_request, excluded.last_request)",
    "updating a usage rollup"};
constexpr Query kAddToEndpointRollup{
    "INSERT INTO api_usage_endpoint_rollups (interval_start, endpoint, method, requests, errors,"
    " total_time) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
    " ON CONFLICT (interval_start, endpoint, method) DO UPDATE SET"
    " requests = requests + excluded.requests, errors = errors + excluded.errors,"
    " total_time = total_time + excluded.total_time",
    "updating an endpoint rollup"};
constexpr Query kAddToKeyRollup{
    "INSERT INTO api_usage_key_rollups (interval_start, key_id, requests, errors, total_time,"
    " last_request) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
    " ON CONFLICT (interval_start, key_id) DO UPDATE SET"
    " requests = requests + excluded.requests, errors = errors + excluded.errors,"
    " total_time = total_time + excluded.total_time,"
    " last_request = max(last_request, excluded.last_request)",
    "updating a key rollup"};
constexpr Query kSelectLatency{
    "SELECT histogram FROM api_usage_latency WHERE interval_start = ?1 AND key_id = ?2",
    "reading a latency histogram"};
constexpr Query kPutLatency{
    "INSERT OR REPLACE INTO api_usage_latency (interval_start, key_id, histogram)"
    " VALUES (?1, ?2, ?3)",
    "writing a latency histogram"};
constexpr Query kSelectLatencyAll{
    "SELECT histogram FROM api_usage_latency_all WHERE interval_start = ?1",
    "reading a latency histogram"};
constexpr Query kPutLatencyAll{
    "INSERT OR REPLACE INTO api_usage_latency_all (interval_start, histogram) VALUES (?1, ?2)",
    "writing a latency histogram"};
constexpr Query kSelectKeyRollups{
    "SELECT interval_start, endpoint, method, requests, errors, total_time, last_request"
    " FROM api_usage_rollups WHERE key_id = ?3 AND interval_start BETWEEN ?1 AND ?2",
    "reading usage rollups"};
constexpr Query kSelectEndpointRollups{
    "SELECT interval_start, endpoint, method, requests, errors, total_time"
    " FROM api_usage_endpoint_rollups WHERE interval_start BETWEEN ?1 AND ?2",
    "reading endpoint rollups"};
constexpr Query kSelectAllKeyRollups{
    "SELECT interval_start, key_id, requests, errors, total_time, last_request"
    " FROM api_usage_key_rollups WHERE interval_start BETWEEN ?1 AND ?2",
    "reading key rollups"};
constexpr Query kSelectLatencies{
    "SELECT histogram FROM api_usage_latency_all WHERE interval_start BETWEEN ?1 AND ?2",
    "reading latency histograms"};
// By time alone, through idx_api_requests_key_timestamp one key at a time (api_requests has
// no index on timestamp alone: see schema/0001): a seek per key plus the rows wanted.
constexpr Query kSelectKeyLatencies{
    "SELECT histogram FROM api_usage_latency WHERE key_id = ?3 AND interval_start BETWEEN ?1 AND"
    " ?2",
    "reading latency histograms"};
constexpr Query kSelectKeyRaw{
    "SELECT key_id, endpoint, method, status_code, response_time, timestamp FROM api_requests"
    " WHERE key_id = ?3 AND timestamp >= ?1 AND timestamp < ?2",
    "reading request records"};
constexpr Query kDeleteOldRequests{
    "DELETE FROM api_requests WHERE key_id IN (SELECT id FROM api_keys) AND timestamp < ?1",
    "deleting old request records"};
constexpr Query kSelectRaw{
    "SELECT key_id, endpoint, method, status_code, response_time, timestamp FROM api_requests"
    " WHERE key_id IN (SELECT id FROM api_keys) AND timestamp >= ?1 AND timestamp < ?2",
    "reading request records"};
// The original system's rows: their timestamp is text (a number never is), which the index on
// (key_id, timestamp) finds per key with one seek: SQLite orders every number before any
// text. julianday() reads its CURRENT_TIMESTAMP form (and ISO 8601); a time it cannot read
// is left alone. Each adopted row is rewritten as this module writes its own (the time in
// ms, the method upper case, the response time whole ms within 0..kMaxHistogramValue), so
// its raw row and its rollups say the same.
#define API_LEGACY_REQUESTS                                                          \
  " FROM api_requests WHERE key_id IN (SELECT id FROM api_keys) AND timestamp >= ''" \
  " AND julianday(timestamp) IS NOT NULL"
constexpr Query kAnyLegacyRequest{"SELECT 1" API_LEGACY_REQUESTS " LIMIT 1",
                                  "looking for the original system's request records"};
constexpr Query kSelectLegacyRequests{
    "SELECT rowid, key_id, endpoint, upper(method), status_code,"
    " min(max(CAST(response_time AS INTEGER), 0), 86400000),"
    " CAST(round((julianday(timestamp) - 2440587.5) * 86400000.0) AS INTEGER)" API_LEGACY_REQUESTS
    " LIMIT ?1",
    "reading the original system's request records"};
#undef API_LEGACY_REQUESTS
static_assert(kMaxHistogramValue == 86'400'000, "kSelectLegacyRequests clamps to it");
constexpr Query kAdoptLegacyRequest{
    "UPDATE api_requests SET timestamp = ?2, method = ?3, response_time = ?4"
    " WHERE rowid = ?1 AND typeof(timestamp) = 'text'",
    "adopting a request record of the original system"};
constexpr std::array<Query, 5> kDeleteOldRollups{{
    {"DELETE FROM api_usage_rollups WHERE interval_start < ?1", "deleting old usage rollups"},
    {"DELETE FROM api_usage_latency WHERE interval_start < ?1",
     "deleting old per-key latency rollups"},
    {"DELETE FROM api_usage_endpoint_rollups WHERE interval_start < ?1",
     "deleting old endpoint rollups"},
    {"DELETE FROM api_usage_key_rollups WHERE interval_start < ?1", "deleting old key rollups"},
    {"DELETE FROM api_usage_latency_all WHERE interval_start < ?1", "deleting old latency rollups"},
}};
// A request row's key_id, endpoint, method, status_code, response_time and timestamp, in that
// order from column `first` on.
void readRequest(const Statement& row, int first, RequestRecord& out) {
  out.key_id = row.columnText(first);
  out.endpoint = row.columnText(first + 1);
  out.method = row.columnText(first + 2);
  out.status_code = static_cast<int>(row.columnInt(first + 3));
  out.response_time_ms = row.columnInt(first + 4);
  out.timestamp_ms = row.columnInt(first + 5);
}

// A stored histogram that does not decode: never rewritten as if it were empty, which
// would lose its counts for good. The batch is refused (not transient).
StoreError corruptHistogram(std::string_view table, std::int64_t interval_start_ms) {
  return StoreError("the latency histogram in " + std::string(table) + " for the interval at " +
                    formatIsoUtc(TimePoint(std::chrono::milliseconds(interval_start_ms))) +
                    " is corrupt; refusing to overwrite it");
}

}  // namespace

SqliteUsageStore::SqliteUsageStore(SqliteConnection& connection)
    : connection_(connection), db_(connection.db()) {}

void SqliteUsageStore::append(std::span<const RequestRecord> records, const RollupDelta& delta,
                              const HistogramMerge& merge) {
  std::lock_guard lock(connection_.mutex());
  Transaction transaction(db_, "writing request records");
  Statement insert(db_,
                   connection_.requestIdsAreText() ? kInsertRequestWithTextId : kInsertRequest);
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
  addToRollups(delta, merge);
  transaction.commit();
}

void SqliteUsageStore::addToRollups(const RollupDelta& delta, const HistogramMerge& merge) {
  Statement rollup(db_, kAddToRollup);
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
  Statement by_endpoint(db_, kAddToEndpointRollup);
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
  Statement by_key(db_, kAddToKeyRollup);
  for (const auto& [where, c] : delta.key_rows) {
    by_key.bind(1, where.first)
        .bind(2, where.second)
        .bind(3, c.requests)
        .bind(4, c.errors)
        .bind(5, c.total_time)
        .bind(6, c.last_request)
        .run();
  }
  Statement get(db_, kSelectLatency);
  Statement put(db_, kPutLatency);
  for (const auto& [where, added] : delta.latency) {
    get.bind(1, where.first).bind(2, where.second);
    const std::optional<std::string> merged = merge(get.step() ? get.columnBlob(0) : "", added);
    get.reset();
    if (!merged) {
      throw corruptHistogram("api_usage_latency", where.first);
    }
    put.bind(1, where.first).bind(2, where.second).bindBlob(3, *merged).run();
  }
  Statement get_all(db_, kSelectLatencyAll);
  Statement put_all(db_, kPutLatencyAll);
  for (const auto& [start, added] : delta.latency_all) {
    get_all.bind(1, start);
    const std::optional<std::string> merged =
        merge(get_all.step() ? get_all.columnBlob(0) : "", added);
    get_all.reset();
    if (!merged) {
      throw corruptHistogram("api_usage_latency_all", start);
    }
    put_all.bind(1, start).bindBlob(2, *merged).run();
  }
}

std::int64_t SqliteUsageStore::adoptLegacyRows(std::int64_t limit, const Fold& fold,
                                               const HistogramMerge& merge) {
  std::lock_guard lock(connection_.mutex());
  {
    // A plain read first: with nothing to adopt (every database after its first adoption, and
    // every database this module made), no write lock is taken.
    Statement any(db_, kAnyLegacyRequest);
    if (!any.step()) {
      return 0;
    }
  }
  Transaction transaction(db_, "adopting the original system's request records");
  std::vector<std::int64_t> rows;
  std::vector<RequestRecord> records;
  {
    Statement select(db_, kSelectLegacyRequests);
    select.bind(1, limit);
    while (select.step()) {
      rows.push_back(select.columnInt(0));
      readRequest(select, 1, records.emplace_back());
    }
  }
  if (rows.empty()) {
    return 0;
  }
  Statement update(db_, kAdoptLegacyRequest);
  for (size_t i = 0; i < rows.size(); ++i) {
    update.bind(1, rows[i])
        .bind(2, records[i].timestamp_ms)
        .bind(3, records[i].method)
        .bind(4, records[i].response_time_ms)
        .run();
  }
  addToRollups(fold(records), merge);
  transaction.commit();
  return static_cast<std::int64_t>(rows.size());
}

void SqliteUsageStore::read(const Query& query, Visitor& visitor) {
  std::lock_guard lock(connection_.mutex());
  Transaction snapshot(db_, "a usage read", Transaction::Mode::kRead);  // one for every read
  {
    const bool one_key = query.key_id.has_value();
    RollupCounts counts;
    if (one_key) {
      Statement rollups(db_, kSelectKeyRollups);
      rollups.bind(1, query.rollup_first).bind(2, query.rollup_last).bind(3, *query.key_id);
      while (rollups.step()) {
        counts = {rollups.columnInt(3), rollups.columnInt(4), rollups.columnInt(5),
                  rollups.columnInt(6)};
        visitor.byEndpoint(rollups.columnInt(0), rollups.columnView(1), rollups.columnView(2),
                           counts);
        visitor.byKey(rollups.columnInt(0), *query.key_id, counts);
      }
    } else {
      Statement endpoints(db_, kSelectEndpointRollups);
      endpoints.bind(1, query.rollup_first).bind(2, query.rollup_last);
      while (endpoints.step()) {
        counts = {endpoints.columnInt(3), endpoints.columnInt(4), endpoints.columnInt(5), 0};
        visitor.byEndpoint(endpoints.columnInt(0), endpoints.columnView(1), endpoints.columnView(2),
                           counts);
      }
      Statement keys(db_, kSelectAllKeyRollups);
      keys.bind(1, query.rollup_first).bind(2, query.rollup_last);
      while (keys.step()) {
        counts = {keys.columnInt(2), keys.columnInt(3), keys.columnInt(4), keys.columnInt(5)};
        visitor.byKey(keys.columnInt(0), keys.columnView(1), counts);
      }
    }
    Statement latency(db_, one_key ? kSelectKeyLatencies : kSelectLatencies);
    latency.bind(1, query.rollup_first).bind(2, query.rollup_last);
    if (one_key) {
      latency.bind(3, *query.key_id);
    }
    while (latency.step()) {
      visitor.latency(latency.columnBlob(0));
    }
    Statement raw(db_, one_key ? kSelectKeyRaw : kSelectRaw);
    raw.bind(1, query.raw_first).bind(2, query.raw_end);
    if (one_key) {
      raw.bind(3, *query.key_id);
    }
    RequestRecord record;
    while (raw.step()) {
      readRequest(raw, 0, record);
      visitor.raw(record);
    }
  }
  snapshot.commit();
}

std::pair<std::int64_t, std::int64_t> SqliteUsageStore::deleteBefore(
    std::int64_t raw_cutoff_ms, std::int64_t rollup_cutoff_ms) {
  std::lock_guard lock(connection_.mutex());
  Transaction transaction(db_, "applying usage retention");
  Statement requests(db_, kDeleteOldRequests);
  requests.bind(1, raw_cutoff_ms).run();
  const std::int64_t raw_deleted = sqlite3_changes64(db_.handle());
  std::int64_t rollups_deleted = 0;
  for (const api::Query& query : kDeleteOldRollups) {
    Statement rollups(db_, query);
    rollups.bind(1, rollup_cutoff_ms).run();
    rollups_deleted += sqlite3_changes64(db_.handle());
  }
  transaction.commit();
  return {raw_deleted, rollups_deleted};
}

}  // namespace api
