// Thin RAII over libpq for the PostgreSQL stores: one connection with prepared statements,
// binary parameters and results, a deadline on every call, pipelines; and a pool of them that
// reconnects with back-off. Failures become StoreError naming the operation and the server's
// own reason, never the URL's password.
//
// Every statement is a constant PgQuery. Its parameters are typed in the SQL itself
// ($1::bigint, $2::text, ...), because they are sent in binary: an int64 as int8, a string as
// its bytes. Results come back in binary too (see PgResult).
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "domain/clock.hpp"
#include "store/store_error.hpp"

struct pg_conn;
struct pg_result;

namespace api {

// A statement as the stores name it: its SQL and what it does, for errors.
struct PgQuery {
  std::string_view sql;
  std::string_view what;
};

// One bound parameter: an int64 (int8), bytes (text or bytea), a time (timestamptz, ms) or
// NULL. Strings are referenced, not copied: they must outlive the call.
class PgParam {
 public:
  PgParam() = default;              // NULL
  PgParam(std::int64_t value);      // NOLINT(google-explicit-constructor)
  PgParam(std::string_view value);  // NOLINT(google-explicit-constructor)
  PgParam(const std::string& value) : PgParam(std::string_view(value)) {}  // NOLINT
  PgParam(const char* value) : PgParam(std::string_view(value)) {}         // NOLINT
  static PgParam time(TimePoint at);
  static PgParam optionalTime(const std::optional<TimePoint>& at);
  static PgParam optionalText(const std::optional<std::string>& text);

  const char* data() const { return null_ ? nullptr : (inline_ ? storage_ : bytes_); }
  int length() const { return length_; }

 private:
  bool null_ = true;
  bool inline_ = false;
  char storage_[8] = {};
  const char* bytes_ = nullptr;
  int length_ = 0;
};

// A result of a statement that succeeded, in binary format.
class PgResult {
 public:
  explicit PgResult(pg_result* result = nullptr) : result_(result) {}
  ~PgResult();
  PgResult(PgResult&& other) noexcept : result_(other.result_) { other.result_ = nullptr; }
  PgResult& operator=(PgResult&& other) noexcept;
  PgResult(const PgResult&) = delete;
  PgResult& operator=(const PgResult&) = delete;

  int rows() const;
  // Rows a statement without RETURNING changed.
  std::int64_t affected() const;
  bool isNull(int row, int column) const;
  // An int8 column (or int4, or a bool as 0/1).
  std::int64_t integer(int row, int column) const;
  // A text or bytea column; valid as long as this result.
  std::string_view bytes(int row, int column) const;
  std::string text(int row, int column) const { return std::string(bytes(row, column)); }
  // A timestamptz column, to the millisecond (microseconds are cut, toward the past).
  TimePoint time(int row, int column) const;
  std::optional<TimePoint> optionalTime(int row, int column) const;
  pg_result* raw() const { return result_; }

 private:
  pg_result* result_;
};

// One call of a pipeline: a statement and its parameters.
struct PgCall {
  const PgQuery* query;
  std::span<const PgParam> params;
};

struct PgOptions {
  std::string url;  // postgresql://... or key=value; passed to libpq as it is
  // How long one call may take, ms: the server's statement and lock timeouts, and the client's
  // own deadline (a little longer) for a server that does not answer at all.
  std::int64_t timeout_ms = 5'000;
  std::size_t pool_size = 4;  // connections a pool keeps at most
  // What the server shows of these connections (pg_stat_activity).
  std::string application_name = "systemprompt-api";
  // Called for each statement run, with its SQL and how long it took. Empty: none.
  std::function<void(std::string_view sql, std::int64_t took_ns)> trace;
};

// The URL without its password (and without any other secret a conninfo may carry), for
// logs, errors and health: "postgresql://user@host:port/db".
std::string redactedLocation(const std::string& url);

// One connection to the server. Not thread-safe: the pool lends it to one caller at a time.
class PgConnection {
 public:
  // Connects, within options.timeout_ms, and sets the session's time zone and timeouts.
  // Throws StoreError (transient) when the server cannot be reached.
  explicit PgConnection(const PgOptions& options);
  ~PgConnection();
  PgConnection(const PgConnection&) = delete;
  PgConnection& operator=(const PgConnection&) = delete;

  // Runs one statement (prepared on this connection on first use). Throws StoreError.
  PgResult run(const PgQuery& query, std::span<const PgParam> params = {});
  PgResult run(const PgQuery& query, std::initializer_list<PgParam> params) {
    return run(query, std::span<const PgParam>(params.begin(), params.size()));
  }
  // Runs the calls in one round trip (libpq's pipeline mode), in order; the first failure
  // throws (the calls after it did not run). Results in the order of the calls.
  std::vector<PgResult> pipeline(std::span<const PgCall> calls);
  // Runs SQL without parameters and without preparing it (DDL, SET). Throws StoreError.
  void exec(std::string_view sql, std::string_view what);
  // COPY ... FROM STDIN with `data` in COPY's text format. Throws StoreError.
  void copyIn(const PgQuery& copy, std::string_view data);

  // Whether the connection is lost (the server went away, a call timed out): the pool drops
  // it rather than lend it again.
  bool broken() const;
  // Whether a transaction is open (or aborted) on it: the pool never lends such a connection.
  bool inTransaction() const;
  // Whether the last failure may have left a COMMIT's outcome unknown (it was in flight when
  // the connection was lost): such a unit must not be run again.
  bool commitInFlight() const { return commit_in_flight_; }
  void setCommitInFlight(bool in_flight) { commit_in_flight_ = in_flight; }

  // The client's own bound of each call, ms (the server's are set per session or transaction).
  std::int64_t timeoutMs() const { return timeout_ms_; }
  void setTimeoutMs(std::int64_t ms) { timeout_ms_ = ms; }

  pg_conn* handle() const { return conn_; }
  const std::string& location() const { return location_; }
  // Waits until the connection's socket is readable or `deadline`; false on timeout.
  bool waitReadable(MonotonicTime deadline) const;

 private:
  const std::string& prepare(const PgQuery& query);
  void send(const PgQuery& query, std::span<const PgParam> params);
  // Waits for and returns the next result of the current call, or null at its end.
  pg_result* nextResult(MonotonicTime deadline, std::string_view what);
  void flush(MonotonicTime deadline, std::string_view what);
  [[noreturn]] void fail(std::string_view what, const std::string& reason, bool transient);
  // `text` with the URL's password, decoded or as written, replaced.
  std::string scrubbed(std::string text) const;
  MonotonicTime deadline() const;

  pg_conn* conn_ = nullptr;
  std::string location_;
  std::vector<std::string> passwords_;  // never shown: scrubbed from every message
  std::int64_t timeout_ms_;
  std::function<void(std::string_view, std::int64_t)> trace_;
  std::unordered_map<const PgQuery*, std::string> prepared_;
  bool lost_ = false;
  bool commit_in_flight_ = false;
};

// The one way the PostgreSQL stores run a transaction: BEGIN on construction (the isolation
// given), ROLLBACK on destruction unless committed.
class PgTransaction {
 public:
  enum class Mode { kReadCommitted, kSnapshot };  // kSnapshot: REPEATABLE READ, READ ONLY
  explicit PgTransaction(PgConnection& connection, Mode mode = Mode::kReadCommitted);
  ~PgTransaction();
  PgTransaction(const PgTransaction&) = delete;
  PgTransaction& operator=(const PgTransaction&) = delete;
  void commit();

 private:
  PgConnection& connection_;
  bool open_ = true;
};

// Statements every store uses to bracket transactions (prepared like any other).
extern const PgQuery kPgBegin;
extern const PgQuery kPgCommit;
extern const PgQuery kPgRollback;

// Up to options.pool_size connections, made on demand and kept. After a failed connection
// attempt, callers fail at once (transient StoreError) until a back-off has passed: 100 ms,
// doubling to 5 s, reset by a success.
class PgPool {
 public:
  explicit PgPool(PgOptions options);
  ~PgPool();
  PgPool(const PgPool&) = delete;
  PgPool& operator=(const PgPool&) = delete;

  // Runs `unit` on a connection lent for its duration. When the connection turns out to be
  // lost (a server restart, a killed backend) before the unit sent its COMMIT, the unit ran
  // nothing durable, and it is run once more on a new connection. Throws StoreError.
  template <typename Unit>
  auto run(Unit&& unit) -> decltype(unit(std::declval<PgConnection&>())) {
    for (int attempt = 0;; ++attempt) {
      Lease lease(*this);
      try {
        return unit(*lease.connection);
      } catch (const StoreError&) {
        if (attempt == 0 && lease.connection->broken() && !lease.connection->commitInFlight()) {
          continue;  // the lease drops the lost connection
        }
        throw;
      }
    }
  }

  const PgOptions& options() const { return options_; }
  const std::string& location() const { return location_; }

 private:
  struct Lease {
    explicit Lease(PgPool& pool);
    ~Lease();
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    PgPool& pool;
    std::unique_ptr<PgConnection> connection;
  };
  std::unique_ptr<PgConnection> acquire();
  void release(std::unique_ptr<PgConnection> connection);

  PgOptions options_;
  std::string location_;
  std::mutex mutex_;
  std::condition_variable available_;
  std::vector<std::unique_ptr<PgConnection>> idle_;
  std::size_t open_ = 0;  // lent and idle
  MonotonicTime retry_at_{};
  std::chrono::milliseconds backoff_{0};
  std::string last_failure_;
};

}  // namespace api
