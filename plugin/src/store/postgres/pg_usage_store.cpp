// PgUsageStore: api_requests and the usage rollup tables. A batch is one transaction: the raw
// rows by COPY, each rollup table by one INSERT ... SELECT FROM unnest(arrays) ... ON CONFLICT,
// and each latency histogram read under its row lock, merged and written back. Rows are
// touched in the order of the batch's sorted maps, so two writers never deadlock.
#include <array>

#include "store/postgres/pg_stores.hpp"
#include "util/time_text.hpp"

namespace api {
namespace {

constexpr PgQuery kCopyRequests{
    "COPY api_requests (key_id, endpoint, method, status_code, response_time, ip_address,"
    " user_agent, timestamp) FROM STDIN",
    "writing request records"};
// Array parameters travel as text literals ({1,2,3}, {"a","b"}) cast on the server.
constexpr PgQuery kAddToRollups{
    "INSERT INTO api_usage_rollups (interval_start, key_id, endpoint, method, requests, errors,"
    " total_time, last_request)"
    " SELECT * FROM unnest($1::text::bigint[], $2::text::text[], $3::text::text[],"
    " $4::text::text[], $5::text::bigint[], $6::text::bigint[], $7::text::bigint[],"
    " $8::text::bigint[])"
    " ON CONFLICT (key_id, interval_start, endpoint, method) DO UPDATE SET"
    " requests = api_usage_rollups.requests + excluded.requests,"
    " errors = api_usage_rollups.errors + excluded.errors,"
    " total_time = api_usage_rollups.total_time + excluded.total_time,"
    " last_request = greatest(api_usage_rollups.last_request, excluded.last_request)",
    "updating usage rollups"};
constexpr PgQuery kAddToEndpointRollups{
    "INSERT INTO api_usage_endpoint_rollups (interval_start, endpoint, method, requests, errors,"
    " total_time)"
    " SELECT * FROM unnest($1::text::bigint[], $2::text::text[], $3::text::text[],"
    " $4::text::bigint[], $5::text::bigint[], $6::text::bigint[])"
    " ON CONFLICT (interval_start, endpoint, method) DO UPDATE SET"
    " requests = api_usage_endpoint_rollups.requests + excluded.requests,"
    " errors = api_usage_endpoint_rollups.errors + excluded.errors,"
    " total_time = api_usage_endpoint_rollups.total_time + excluded.total_time",
    "updating endpoint rollups"};
constexpr PgQuery kAddToKeyRollups{
    "INSERT INTO api_usage_key_rollups (interval_start, key_id, requests, errors, total_time,"
    " last_request)"
    " SELECT * FROM unnest($1::text::bigint[], $2::text::text[], $3::text::bigint[],"
    " $4::text::bigint[], $5::text::bigint[], $6::text::bigint[])"
    " ON CONFLICT (interval_start, key_id) DO UPDATE SET"
    " requests = api_usage_key_rollups.requests + excluded.requests,"
    " errors = api_usage_key_rollups.errors + excluded.errors,"
    " total_time = api_usage_key_rollups.total_time + excluded.total_time,"
    " last_request = greatest(api_usage_key_rollups.last_request, excluded.last_request)",
    "updating key rollups"};
// A histogram row is made empty if missing, then read under its row lock, then rewritten.
constexpr PgQuery kEnsureLatency{
    "INSERT INTO api_usage_latency (interval_start, key_id, histogram)"
    " VALUES ($1::bigint, $2::text, ''::bytea) ON CONFLICT DO NOTHING",
    "writing a latency histogram"};
constexpr PgQuery kLockLatency{
    "SELECT histogram FROM api_usage_latency WHERE interval_start = $1::bigint"
    " AND key_id = $2::text FOR UPDATE",
    "reading a latency histogram"};
constexpr PgQuery kPutLatency{
    "UPDATE api_usage_latency SET histogram = $3::bytea WHERE interval_start = $1::bigint"
    " AND key_id = $2::text",
    "writing a latency histogram"};
constexpr PgQuery kEnsureLatencyAll{
    "INSERT INTO api_usage_latency_all (interval_start, histogram)"
    " VALUES ($1::bigint, ''::bytea) ON CONFLICT DO NOTHING",
    "writing a latency histogram"};
constexpr PgQuery kLockLatencyAll{
    "SELECT histogram FROM api_usage_latency_all WHERE interval_start = $1::bigint FOR UPDATE",
    "reading a latency histogram"};
constexpr PgQuery kPutLatencyAll{
    "UPDATE api_usage_latency_all SET histogram = $2::bytea WHERE interval_start = $1::bigint",
    "writing a latency histogram"};
constexpr PgQuery kSelectKeyRollups{
    "SELECT interval_start, endpoint, method, requests, errors, total_time, last_request"
    " FROM api_usage_rollups WHERE key_id = $3::text"
    " AND interval_start BETWEEN $1::bigint AND $2::bigint",
    "reading usage rollups"};
constexpr PgQuery kSelectEndpointRollups{
    "SELECT interval_start, endpoint, method, requests, errors, total_time"
    " FROM api_usage_endpoint_rollups WHERE interval_start BETWEEN $1::bigint AND $2::bigint",
    "reading endpoint rollups"};
constexpr PgQuery kSelectAllKeyRollups{
    "SELECT interval_start, key_id, requests, errors, total_time, last_request"
    " FROM api_usage_key_rollups WHERE interval_start BETWEEN $1::bigint AND $2::bigint",
    "reading key rollups"};
constexpr PgQuery kSelectLatencies{
    "SELECT histogram FROM api_usage_latency_all"
    " WHERE interval_start BETWEEN $1::bigint AND $2::bigint",
    "reading latency histograms"};
constexpr PgQuery kSelectKeyLatencies{
    "SELECT histogram FROM api_usage_latency WHERE key_id = $3::text"
    " AND interval_start BETWEEN $1::bigint AND $2::bigint",
    "reading latency histograms"};
constexpr PgQuery kSelectKeyRaw{
    "SELECT key_id, endpoint, method, status_code, response_time, timestamp FROM api_requests"
    " WHERE key_id = $3::text AND timestamp >= $1::bigint AND timestamp < $2::bigint",
    "reading request records"};
constexpr PgQuery kSelectRaw{
    "SELECT key_id, endpoint, method, status_code, response_time, timestamp FROM api_requests"
    " WHERE timestamp >= $1::bigint AND timestamp < $2::bigint",
    "reading request records"};
constexpr PgQuery kDeleteOldRequests{"DELETE FROM api_requests WHERE timestamp < $1::bigint",
                                     "deleting old request records"};
constexpr std::array<PgQuery, 5> kDeleteOldRollups{{
    {"DELETE FROM api_usage_rollups WHERE interval_start < $1::bigint",
     "deleting old usage rollups"},
    {"DELETE FROM api_usage_latency WHERE interval_start < $1::bigint",
     "deleting old per-key latency rollups"},
    {"DELETE FROM api_usage_endpoint_rollups WHERE interval_start < $1::bigint",
     "deleting old endpoint rollups"},
    {"DELETE FROM api_usage_key_rollups WHERE interval_start < $1::bigint",
     "deleting old key rollups"},
    {"DELETE FROM api_usage_latency_all WHERE interval_start < $1::bigint",
     "deleting old latency rollups"},
}};

// COPY's text format: a backslash, tab, newline or carriage return is escaped.
void appendCopyField(std::string& out, std::string_view value) {
  for (const char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      default:
        out += c;
    }
  }
}

// An array literal, built one element at a time.
class ArrayLiteral {
 public:
  void add(std::int64_t value) {
    text_ += text_.size() > 1 ? "," : "";
    text_ += std::to_string(value);
  }
  void add(std::string_view value) {
    text_ += text_.size() > 1 ? ",\"" : "\"";
    for (const char c : value) {
      if (c == '"' || c == '\\') {
        text_ += '\\';
      }
      text_ += c;
    }
    text_ += '"';
  }
  const std::string& text() {
    if (text_.back() != '}') {
      text_ += '}';
    }
    return text_;
  }

 private:
  std::string text_ = "{";
};

void readRequest(const PgResult& rows, int row, RequestRecord& out) {
  out.key_id = rows.bytes(row, 0);
  out.endpoint = rows.bytes(row, 1);
  out.method = rows.bytes(row, 2);
  out.status_code = static_cast<int>(rows.integer(row, 3));
  out.response_time_ms = rows.integer(row, 4);
  out.timestamp_ms = rows.integer(row, 5);
}

StoreError corruptHistogram(std::string_view table, std::int64_t interval_start_ms) {
  return StoreError("the latency histogram in " + std::string(table) + " for the interval at " +
                    formatIsoUtc(TimePoint(std::chrono::milliseconds(interval_start_ms))) +
                    " is corrupt; refusing to overwrite it");
}

void addToRollups(PgConnection& connection, const RollupDelta& delta,
                  const UsageStore::HistogramMerge& merge) {
  if (!delta.rows.empty()) {
    std::array<ArrayLiteral, 8> columns;
    for (const auto& [where, c] : delta.rows) {
      const auto& [start, key_id, endpoint, method] = where;
      columns[0].add(start);
      columns[1].add(key_id);
      columns[2].add(endpoint);
      columns[3].add(method);
      columns[4].add(c.requests);
      columns[5].add(c.errors);
      columns[6].add(c.total_time);
      columns[7].add(c.last_request);
    }
    connection.run(kAddToRollups,
                   {columns[0].text(), columns[1].text(), columns[2].text(), columns[3].text(),
                    columns[4].text(), columns[5].text(), columns[6].text(), columns[7].text()});
  }
  if (!delta.endpoint_rows.empty()) {
    std::array<ArrayLiteral, 6> columns;
    for (const auto& [where, c] : delta.endpoint_rows) {
      const auto& [start, endpoint, method] = where;
      columns[0].add(start);
      columns[1].add(endpoint);
      columns[2].add(method);
      columns[3].add(c.requests);
      columns[4].add(c.errors);
      columns[5].add(c.total_time);
    }
    connection.run(kAddToEndpointRollups,
                   {columns[0].text(), columns[1].text(), columns[2].text(), columns[3].text(),
                    columns[4].text(), columns[5].text()});
  }
  if (!delta.key_rows.empty()) {
    std::array<ArrayLiteral, 6> columns;
    for (const auto& [where, c] : delta.key_rows) {
      columns[0].add(where.first);
      columns[1].add(where.second);
      columns[2].add(c.requests);
      columns[3].add(c.errors);
      columns[4].add(c.total_time);
      columns[5].add(c.last_request);
    }
    connection.run(kAddToKeyRollups, {columns[0].text(), columns[1].text(), columns[2].text(),
                                      columns[3].text(), columns[4].text(), columns[5].text()});
  }
  for (const auto& [where, added] : delta.latency) {
    connection.run(kEnsureLatency, {where.first, where.second});
    const PgResult stored = connection.run(kLockLatency, {where.first, where.second});
    const std::optional<std::string> merged = merge(stored.bytes(0, 0), added);
    if (!merged) {
      throw corruptHistogram("api_usage_latency", where.first);
    }
    connection.run(kPutLatency, {where.first, where.second, *merged});
  }
  for (const auto& [start, added] : delta.latency_all) {
    connection.run(kEnsureLatencyAll, {start});
    const PgResult stored = connection.run(kLockLatencyAll, {start});
    const std::optional<std::string> merged = merge(stored.bytes(0, 0), added);
    if (!merged) {
      throw corruptHistogram("api_usage_latency_all", start);
    }
    connection.run(kPutLatencyAll, {start, *merged});
  }
}

}  // namespace

PgUsageStore::PgUsageStore(PgPool& pool) : pool_(pool) {}

void PgUsageStore::append(std::span<const RequestRecord> records, const RollupDelta& delta,
                          const HistogramMerge& merge) {
  std::string copy;
  copy.reserve(records.size() * 96);
  for (const RequestRecord& r : records) {
    appendCopyField(copy, r.key_id);
    copy += '\t';
    appendCopyField(copy, r.endpoint);
    copy += '\t';
    appendCopyField(copy, r.method);
    copy += '\t';
    copy += std::to_string(r.status_code);
    copy += '\t';
    copy += std::to_string(r.response_time_ms);
    copy += '\t';
    appendCopyField(copy, r.ip_address);
    copy += '\t';
    appendCopyField(copy, r.user_agent);
    copy += '\t';
    copy += std::to_string(r.timestamp_ms);
    copy += '\n';
  }
  pool_.run([&](PgConnection& connection) {
    PgTransaction transaction(connection);
    if (!copy.empty()) {
      connection.copyIn(kCopyRequests, copy);
    }
    addToRollups(connection, delta, merge);
    transaction.commit();
  });
}

void PgUsageStore::read(const Query& query, Visitor& visitor) {
  pool_.run([&](PgConnection& connection) {
    PgTransaction snapshot(connection, PgTransaction::Mode::kSnapshot);
    const bool one_key = query.key_id.has_value();
    RollupCounts counts;
    if (one_key) {
      const PgResult rows =
          connection.run(kSelectKeyRollups, {query.rollup_first, query.rollup_last, *query.key_id});
      for (int row = 0; row < rows.rows(); ++row) {
        counts = {rows.integer(row, 3), rows.integer(row, 4), rows.integer(row, 5),
                  rows.integer(row, 6)};
        visitor.byEndpoint(rows.integer(row, 0), rows.bytes(row, 1), rows.bytes(row, 2), counts);
        visitor.byKey(rows.integer(row, 0), *query.key_id, counts);
      }
    } else {
      const PgResult endpoints =
          connection.run(kSelectEndpointRollups, {query.rollup_first, query.rollup_last});
      for (int row = 0; row < endpoints.rows(); ++row) {
        counts = {endpoints.integer(row, 3), endpoints.integer(row, 4), endpoints.integer(row, 5),
                  0};
        visitor.byEndpoint(endpoints.integer(row, 0), endpoints.bytes(row, 1),
                           endpoints.bytes(row, 2), counts);
      }
      const PgResult keys =
          connection.run(kSelectAllKeyRollups, {query.rollup_first, query.rollup_last});
      for (int row = 0; row < keys.rows(); ++row) {
        counts = {keys.integer(row, 2), keys.integer(row, 3), keys.integer(row, 4),
                  keys.integer(row, 5)};
        visitor.byKey(keys.integer(row, 0), keys.bytes(row, 1), counts);
      }
    }
    const PgResult latencies =
        one_key ? connection.run(kSelectKeyLatencies,
                                 {query.rollup_first, query.rollup_last, *query.key_id})
                : connection.run(kSelectLatencies, {query.rollup_first, query.rollup_last});
    for (int row = 0; row < latencies.rows(); ++row) {
      visitor.latency(latencies.bytes(row, 0));
    }
    const PgResult raw =
        one_key ? connection.run(kSelectKeyRaw, {query.raw_first, query.raw_end, *query.key_id})
                : connection.run(kSelectRaw, {query.raw_first, query.raw_end});
    RequestRecord record;
    for (int row = 0; row < raw.rows(); ++row) {
      readRequest(raw, row, record);
      visitor.raw(record);
    }
    snapshot.commit();
  });
}

std::pair<std::int64_t, std::int64_t> PgUsageStore::deleteBefore(std::int64_t raw_cutoff_ms,
                                                                 std::int64_t rollup_cutoff_ms) {
  return pool_.run([&](PgConnection& connection) {
    PgTransaction transaction(connection);
    const std::int64_t raw_deleted = connection.run(kDeleteOldRequests, {raw_cutoff_ms}).affected();
    std::int64_t rollups_deleted = 0;
    for (const PgQuery& query : kDeleteOldRollups) {
      rollups_deleted += connection.run(query, {rollup_cutoff_ms}).affected();
    }
    transaction.commit();
    return std::pair<std::int64_t, std::int64_t>(raw_deleted, rollups_deleted);
  });
}

}  // namespace api
