// PgConnection, PgTransaction and PgPool over libpq's asynchronous API, so that every wait
// has a deadline: a server that stops answering costs a caller timeout_ms, never a hang.
#include "store/postgres/pg_connection.hpp"

#include "store/postgres/libpq_loader.hpp"

#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <limits>

namespace api {
namespace {

// PostgreSQL's binary timestamps count microseconds from 2000-01-01T00:00:00Z.
constexpr std::int64_t kPostgresEpochMs = 946'684'800'000;

void putBigEndian(char* out, std::uint64_t value) {
  for (int i = 7; i >= 0; --i) {
    out[i] = static_cast<char>(value & 0xFF);
    value >>= 8;
  }
}

std::int64_t readBigEndian(const char* in, int length) {
  std::uint64_t value = 0;
  for (int i = 0; i < length; ++i) {
    value = (value << 8) | static_cast<unsigned char>(in[i]);
  }
  if (length < 8 && length > 0 && (static_cast<unsigned char>(in[0]) & 0x80) != 0) {
    value |= ~std::uint64_t{0} << (8 * length);  // sign-extend int4 and int2
  }
  return static_cast<std::int64_t>(value);
}

// A failed result's own message (its first line, without "ERROR:" and the position marker).
std::string resultMessage(const PGresult* result) {
  const char* primary = PQresultErrorField(result, PG_DIAG_MESSAGE_PRIMARY);
  if (primary != nullptr) {
    return primary;
  }
  const char* whole = PQresultErrorMessage(result);
  std::string text = whole == nullptr ? "" : whole;
  text = text.substr(0, text.find('\n'));
  return text.empty() ? "no reason given" : text;
}

std::string trimmed(const char* message) {
  std::string text = message == nullptr ? "" : message;
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
    text.pop_back();
  }
  return text.empty() ? "no reason given" : text;
}

// Whether a failed statement may succeed later: lost connections, serialization failures and
// deadlocks, lack of resources, timeouts and cancels, a server shutting down, lock timeouts.
bool transientState(const char* sqlstate) {
  if (sqlstate == nullptr) {
    return true;
  }
  const std::string_view state(sqlstate);
  return state.starts_with("08") || state.starts_with("40") || state.starts_with("53") ||
         state.starts_with("57") || state == "55P03" || state == "55006";
}

std::int64_t nanosSince(MonotonicTime start) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() -
                                                              start)
      .count();
}

}  // namespace

const PgQuery kPgBegin{"BEGIN", "beginning a transaction"};
const PgQuery kPgCommit{"COMMIT", "committing a transaction"};
const PgQuery kPgRollback{"ROLLBACK", "rolling back a transaction"};
constexpr PgQuery kPgBeginSnapshot{"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
                                   "beginning a read"};

// ---- PgParam

PgParam::PgParam(std::int64_t value) : null_(false), inline_(true), length_(8) {
  putBigEndian(storage_, static_cast<std::uint64_t>(value));
}

PgParam::PgParam(std::string_view value)
    : null_(false),
      bytes_(value.data() == nullptr ? "" : value.data()),
      length_(static_cast<int>(value.size())) {}

PgParam PgParam::time(TimePoint at) {
  const std::int64_t micros = (at.time_since_epoch().count() - kPostgresEpochMs) * 1000;
  return PgParam(micros);
}

PgParam PgParam::optionalTime(const std::optional<TimePoint>& at) {
  return at ? time(*at) : PgParam();
}

PgParam PgParam::optionalText(const std::optional<std::string>& text) {
  return text ? PgParam(std::string_view(*text)) : PgParam();
}

// ---- PgResult

PgResult::~PgResult() {
  if (result_ != nullptr) {
    PQclear(result_);
  }
}

PgResult& PgResult::operator=(PgResult&& other) noexcept {
  if (this != &other) {
    if (result_ != nullptr) {
      PQclear(result_);
    }
    result_ = other.result_;
    other.result_ = nullptr;
  }
  return *this;
}

int PgResult::rows() const {
  return result_ == nullptr ? 0 : PQntuples(result_);
}

std::int64_t PgResult::affected() const {
  const char* text = result_ == nullptr ? nullptr : PQcmdTuples(result_);
  return text == nullptr || *text == '\0' ? 0 : std::strtoll(text, nullptr, 10);
}

bool PgResult::isNull(int row, int column) const {
  return PQgetisnull(result_, row, column) != 0;
}

std::int64_t PgResult::integer(int row, int column) const {
  const int length = PQgetlength(result_, row, column);
  if (isNull(row, column) || (length != 8 && length != 4 && length != 2 && length != 1)) {
    throw StoreError("unexpected value in column " + std::to_string(column) + " of a result (" +
                     std::to_string(length) + " bytes where an integer was expected)");
  }
  const char* value = PQgetvalue(result_, row, column);
  if (length == 1) {  // bool
    return value[0] != 0 ? 1 : 0;
  }
  return readBigEndian(value, length);
}

std::string_view PgResult::bytes(int row, int column) const {
  if (isNull(row, column)) {
    return {};
  }
  return {PQgetvalue(result_, row, column),
          static_cast<std::size_t>(PQgetlength(result_, row, column))};
}

TimePoint PgResult::time(int row, int column) const {
  const std::int64_t micros = integer(row, column);
  // 'infinity' and '-infinity' (the largest and smallest int64) are no time this module can
  // hold: unreadable, as a time SQLite holds as other text is (a storage error, not transient).
  // Before this check, negating '-infinity' overflowed and made it a time some 290,000 years
  // ahead: a key revoked at '-infinity' passed as not yet revoked.
  if (micros == std::numeric_limits<std::int64_t>::max() ||
      micros == std::numeric_limits<std::int64_t>::min()) {
    throw StoreError(std::string("unreadable time: ") +
                     (micros > 0 ? "'infinity'" : "'-infinity'") + " in column " +
                     PQfname(result_, column));
  }
  // Floor division: a time before 2000 must not round toward it.
  const std::int64_t millis = micros >= 0 ? micros / 1000 : -((-micros + 999) / 1000);
  return TimePoint(std::chrono::milliseconds(millis + kPostgresEpochMs));
}

std::optional<TimePoint> PgResult::optionalTime(int row, int column) const {
  if (isNull(row, column)) {
    return std::nullopt;
  }
  return time(row, column);
}

// ---- location

std::string redactedLocation(const std::string& url) {
  loadLibpq();
  // Parsed by libpq itself, so that every form it accepts (URL or key=value) is understood.
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(url.c_str(), &error);
  if (options == nullptr) {
    PQfreemem(error);
    return "postgresql (unreadable connection settings)";
  }
  std::string user;
  std::string host;
  std::string port;
  std::string database;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val == nullptr) {
      continue;
    }
    const std::string_view keyword(o->keyword);
    if (keyword == "user") {
      user = o->val;
    } else if (keyword == "host" || (keyword == "hostaddr" && host.empty())) {
      host = o->val;
    } else if (keyword == "port") {
      port = o->val;
    } else if (keyword == "dbname") {
      database = o->val;
    }
  }
  PQconninfoFree(options);
  std::string out = "postgresql://";
  if (!user.empty()) {
    out += user + "@";
  }
  out += host.empty() ? "localhost" : host;
  if (!port.empty()) {
    out += ":" + port;
  }
  if (!database.empty()) {
    out += "/" + database;
  }
  return out;
}

// ---- PgConnection

namespace {

// The password the URL carries, decoded, and as written in it (percent-encoded), so that
// neither can reach an error; nullopt when libpq cannot read the URL at all, whose reason may
// quote any part of it, the password included.
std::optional<std::vector<std::string>> passwordsIn(const std::string& url) {
  char* error = nullptr;
  PQconninfoOption* options = PQconninfoParse(url.c_str(), &error);
  if (options == nullptr) {
    PQfreemem(error);
    return std::nullopt;
  }
  std::vector<std::string> passwords;
  for (PQconninfoOption* o = options; o->keyword != nullptr; ++o) {
    if (o->val != nullptr && std::string_view(o->keyword) == "password" && *o->val != '\0') {
      passwords.emplace_back(o->val);
    }
  }
  PQconninfoFree(options);
  // user:password@ of a URL, as typed.
  const auto scheme = url.find("://");
  if (scheme != std::string::npos) {
    const auto at = url.find('@', scheme + 3);
    const auto slash = url.find('/', scheme + 3);
    if (at != std::string::npos && (slash == std::string::npos || at < slash)) {
      const auto colon = url.find(':', scheme + 3);
      if (colon != std::string::npos && colon < at && colon + 1 < at) {
        passwords.push_back(url.substr(colon + 1, at - colon - 1));
      }
    }
  }
  return passwords;
}

}  // namespace

std::string PgConnection::scrubbed(std::string text) const {
  for (const std::string& secret : passwords_) {
    for (std::size_t at; (at = text.find(secret)) != std::string::npos;) {
      text.replace(at, secret.size(), "(password)");
    }
  }
  return text;
}

PgConnection::PgConnection(const PgOptions& options)
    : location_(redactedLocation(options.url)),  // loads libpq first
      timeout_ms_(std::max<std::int64_t>(options.timeout_ms, 1)),
      trace_(options.trace) {
  std::optional<std::vector<std::string>> passwords = passwordsIn(options.url);
  if (!passwords) {
    throw StoreError(
        "the database URL (databaseUrl) cannot be read by libpq; its reason is not shown, as "
        "it may quote the URL's password: check the URL's form and percent-encoding");
  }
  passwords_ = std::move(*passwords);
  conn_ = PQconnectStart(options.url.c_str());
  if (conn_ == nullptr) {
    throw StoreError("cannot connect to " + location_ + ": out of memory", true);
  }
  if (PQstatus(conn_) == CONNECTION_BAD) {
    const std::string reason = scrubbed(trimmed(PQerrorMessage(conn_)));
    PQfinish(conn_);
    throw StoreError("cannot connect to " + location_ + ": " + reason, true);
  }
  const MonotonicTime until = deadline();
  PostgresPollingStatusType status = PGRES_POLLING_WRITING;
  while (status != PGRES_POLLING_OK && status != PGRES_POLLING_FAILED) {
    pollfd fd{PQsocket(conn_),
              static_cast<short>(status == PGRES_POLLING_READING ? POLLIN : POLLOUT), 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0 || ::poll(&fd, 1, static_cast<int>(left.count())) == 0) {
      PQfinish(conn_);
      throw StoreError("cannot connect to " + location_ + ": no answer within " +
                           std::to_string(timeout_ms_) + " ms",
                       true);
    }
    status = PQconnectPoll(conn_);
  }
  if (status == PGRES_POLLING_FAILED) {
    const std::string reason = scrubbed(trimmed(PQerrorMessage(conn_)));
    PQfinish(conn_);
    throw StoreError("cannot connect to " + location_ + ": " + reason, true);
  }
  PQsetnonblocking(conn_, 1);
  // The server's notices ("already exists, skipping") and a FATAL message on a terminated
  // session go nowhere: libpq would print them to the host's stderr. Failures are reported
  // through each call's result instead.
  PQsetNoticeProcessor(
      conn_, [](void*, const char*) {}, nullptr);
  // Times are exchanged in binary (never as text), but the session's own zone and timeouts
  // must not depend on the server's defaults: a lock or statement never waits longer than
  // a call may take.
  try {
    exec("SET TimeZone = 'UTC'; SET statement_timeout = " + std::to_string(timeout_ms_) +
             "; SET lock_timeout = " + std::to_string(timeout_ms_) +
             "; SET idle_in_transaction_session_timeout = " + std::to_string(timeout_ms_ + 60'000) +
             "; SET application_name = '" + options.application_name + "'",
         "configuring the session");
  } catch (...) {
    PQfinish(conn_);  // the destructor does not run for a constructor that throws
    conn_ = nullptr;
    throw;
  }
}

PgConnection::~PgConnection() {
  if (conn_ != nullptr) {
    PQfinish(conn_);
  }
}

MonotonicTime PgConnection::deadline() const {
  // The server gives up after timeout_ms; the client waits a little longer for it to say so.
  return std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms_ + 1'000);
}

bool PgConnection::broken() const {
  return lost_ || PQstatus(conn_) != CONNECTION_OK;
}

bool PgConnection::inTransaction() const {
  return PQtransactionStatus(conn_) != PQTRANS_IDLE;
}

void PgConnection::fail(std::string_view what, const std::string& reason, bool transient) {
  throw StoreError(std::string(what) + " failed on " + location_ + ": " + scrubbed(reason),
                   transient);
}

bool PgConnection::waitReadable(MonotonicTime until) const {
  pollfd fd{PQsocket(conn_), POLLIN, 0};
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return false;
    }
    const int ready = ::poll(&fd, 1, static_cast<int>(left.count()));
    if (ready > 0) {
      return true;
    }
    if (ready < 0 && errno != EINTR) {
      return true;  // let PQconsumeInput report the socket's failure
    }
  }
}

void PgConnection::flush(MonotonicTime until, std::string_view what) {
  for (;;) {
    const int rc = PQflush(conn_);
    if (rc == 0) {
      return;
    }
    if (rc < 0) {
      lost_ = true;
      fail(what, trimmed(PQerrorMessage(conn_)), true);
    }
    pollfd fd{PQsocket(conn_), POLLIN | POLLOUT, 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0 || ::poll(&fd, 1, static_cast<int>(left.count())) == 0) {
      lost_ = true;
      fail(what,
           "the server did not take the request within " + std::to_string(timeout_ms_) + " ms",
           true);
    }
    if ((fd.revents & POLLIN) != 0 && PQconsumeInput(conn_) == 0) {
      lost_ = true;
      fail(what, trimmed(PQerrorMessage(conn_)), true);
    }
  }
}

pg_result* PgConnection::nextResult(MonotonicTime until, std::string_view what) {
  while (PQisBusy(conn_) != 0) {
    if (!waitReadable(until)) {
      lost_ = true;  // mid-protocol: never lend this connection again
      fail(what, "no answer within " + std::to_string(timeout_ms_) + " ms", true);
    }
    if (PQconsumeInput(conn_) == 0) {
      lost_ = true;
      fail(what, trimmed(PQerrorMessage(conn_)), true);
    }
  }
  return PQgetResult(conn_);
}

const std::string& PgConnection::prepare(const PgQuery& query) {
  const auto found = prepared_.find(&query);
  if (found != prepared_.end()) {
    return found->second;
  }
  const std::string name = "s" + std::to_string(prepared_.size());
  const std::string sql(query.sql);
  const MonotonicTime until = deadline();
  if (PQsendPrepare(conn_, name.c_str(), sql.c_str(), 0, nullptr) == 0) {
    lost_ = PQstatus(conn_) != CONNECTION_OK;
    fail(query.what, trimmed(PQerrorMessage(conn_)), true);
  }
  flush(until, query.what);
  PgResult result(nextResult(until, query.what));
  while (pg_result* extra = nextResult(until, query.what)) {
    PQclear(extra);
  }
  if (PQresultStatus(result.raw()) != PGRES_COMMAND_OK) {
    const char* state = PQresultErrorField(result.raw(), PG_DIAG_SQLSTATE);
    lost_ = PQstatus(conn_) != CONNECTION_OK;
    fail(query.what, resultMessage(result.raw()), lost_ || transientState(state));
  }
  return prepared_.emplace(&query, name).first->second;
}

void PgConnection::send(const PgQuery& query, std::span<const PgParam> params) {
  const std::string& name = prepare(query);
  constexpr std::size_t kMaxParams = 16;
  if (params.size() > kMaxParams) {
    fail(query.what, "too many parameters", false);
  }
  std::array<const char*, kMaxParams> values{};
  std::array<int, kMaxParams> lengths{};
  std::array<int, kMaxParams> formats{};
  for (std::size_t i = 0; i < params.size(); ++i) {
    values[i] = params[i].data();
    lengths[i] = params[i].length();
    formats[i] = 1;
  }
  if (PQsendQueryPrepared(conn_, name.c_str(), static_cast<int>(params.size()), values.data(),
                          lengths.data(), formats.data(), 1) == 0) {
    lost_ = PQstatus(conn_) != CONNECTION_OK;
    fail(query.what, trimmed(PQerrorMessage(conn_)), true);
  }
}

PgResult PgConnection::run(const PgQuery& query, std::span<const PgParam> params) {
  const MonotonicTime started = std::chrono::steady_clock::now();
  const MonotonicTime until = deadline();
  if (&query == &kPgCommit) {
    commit_in_flight_ = true;
  }
  send(query, params);
  flush(until, query.what);
  PgResult result(nextResult(until, query.what));
  while (pg_result* extra = nextResult(until, query.what)) {
    PQclear(extra);
  }
  const ExecStatusType status = PQresultStatus(result.raw());
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    const char* state = PQresultErrorField(result.raw(), PG_DIAG_SQLSTATE);
    lost_ = lost_ || PQstatus(conn_) != CONNECTION_OK;
    fail(query.what, resultMessage(result.raw()), lost_ || transientState(state));
  }
  commit_in_flight_ = false;
  if (trace_) {
    trace_(query.sql, nanosSince(started));
  }
  return result;
}

std::vector<PgResult> PgConnection::pipeline(std::span<const PgCall> calls) {
  const MonotonicTime started = std::chrono::steady_clock::now();
  for (const PgCall& call : calls) {
    prepare(*call.query);  // outside the pipeline: each is prepared once per connection
    if (call.query == &kPgCommit) {
      commit_in_flight_ = true;
    }
  }
  const MonotonicTime until = deadline();
  if (PQenterPipelineMode(conn_) == 0) {
    fail("a pipeline", trimmed(PQerrorMessage(conn_)), true);
  }
  std::vector<PgResult> results;
  results.reserve(calls.size());
  std::string failure;
  std::string_view failed_what;
  bool failure_transient = false;
  try {
    for (const PgCall& call : calls) {
      send(*call.query, call.params);
    }
    if (PQpipelineSync(conn_) == 0) {
      lost_ = true;
      fail("a pipeline", trimmed(PQerrorMessage(conn_)), true);
    }
    flush(until, calls.empty() ? "a pipeline" : calls.front().query->what);
    for (const PgCall& call : calls) {
      PgResult result(nextResult(until, call.query->what));
      while (pg_result* extra = nextResult(until, call.query->what)) {
        PQclear(extra);
      }
      const ExecStatusType status = PQresultStatus(result.raw());
      if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK && failure.empty()) {
        failed_what = call.query->what;
        if (status == PGRES_PIPELINE_ABORTED) {
          failure = "an earlier statement of its pipeline failed";
        } else {
          failure = resultMessage(result.raw());
          failure_transient = transientState(PQresultErrorField(result.raw(), PG_DIAG_SQLSTATE));
        }
      }
      results.push_back(std::move(result));
    }
    PgResult sync(nextResult(until, "a pipeline"));
    if (PQresultStatus(sync.raw()) != PGRES_PIPELINE_SYNC) {
      lost_ = true;
      fail("a pipeline", "the server did not end it", true);
    }
  } catch (...) {
    lost_ = true;  // the pipeline's state is unknown: never lend this connection again
    throw;
  }
  PQexitPipelineMode(conn_);
  if (!failure.empty()) {
    lost_ = lost_ || PQstatus(conn_) != CONNECTION_OK;
    fail(failed_what, failure, lost_ || failure_transient);
  }
  commit_in_flight_ = false;
  if (trace_) {
    for (const PgCall& call : calls) {
      trace_(call.query->sql, nanosSince(started));
    }
  }
  return results;
}

void PgConnection::exec(std::string_view sql, std::string_view what) {
  const MonotonicTime until = deadline();
  const std::string text(sql);
  if (PQsendQuery(conn_, text.c_str()) == 0) {
    lost_ = PQstatus(conn_) != CONNECTION_OK;
    fail(what, trimmed(PQerrorMessage(conn_)), true);
  }
  flush(until, what);
  std::string failure;
  bool transient = false;
  while (pg_result* raw = nextResult(until, what)) {
    PgResult result(raw);
    const ExecStatusType status = PQresultStatus(raw);
    if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK && failure.empty()) {
      failure = resultMessage(raw);
      transient = transientState(PQresultErrorField(raw, PG_DIAG_SQLSTATE));
    }
  }
  if (!failure.empty()) {
    lost_ = PQstatus(conn_) != CONNECTION_OK;
    fail(what, failure, lost_ || transient);
  }
}

void PgConnection::copyIn(const PgQuery& copy, std::string_view data) {
  const MonotonicTime started = std::chrono::steady_clock::now();
  const MonotonicTime until = deadline();
  const std::string sql(copy.sql);
  if (PQsendQuery(conn_, sql.c_str()) == 0) {
    lost_ = PQstatus(conn_) != CONNECTION_OK;
    fail(copy.what, trimmed(PQerrorMessage(conn_)), true);
  }
  flush(until, copy.what);
  {
    PgResult started_copy(nextResult(until, copy.what));
    if (PQresultStatus(started_copy.raw()) != PGRES_COPY_IN) {
      const char* state = PQresultErrorField(started_copy.raw(), PG_DIAG_SQLSTATE);
      const std::string reason = resultMessage(started_copy.raw());
      while (pg_result* extra = nextResult(until, copy.what)) {
        PQclear(extra);
      }
      fail(copy.what, reason, transientState(state));
    }
  }
  constexpr std::size_t kChunk = 256 * 1024;
  for (std::size_t at = 0; at < data.size();) {
    const std::size_t n = std::min(kChunk, data.size() - at);
    const int rc = PQputCopyData(conn_, data.data() + at, static_cast<int>(n));
    if (rc < 0) {
      lost_ = true;
      fail(copy.what, trimmed(PQerrorMessage(conn_)), true);
    }
    if (rc == 0) {
      flush(until, copy.what);  // the buffer is full: send some, then try again
      continue;
    }
    at += n;
  }
  for (;;) {
    const int rc = PQputCopyEnd(conn_, nullptr);
    if (rc < 0) {
      lost_ = true;
      fail(copy.what, trimmed(PQerrorMessage(conn_)), true);
    }
    if (rc == 1) {
      break;
    }
    flush(until, copy.what);
  }
  flush(until, copy.what);
  std::string failure;
  bool transient = false;
  while (pg_result* raw = nextResult(until, copy.what)) {
    PgResult result(raw);
    if (PQresultStatus(raw) != PGRES_COMMAND_OK && failure.empty()) {
      failure = resultMessage(raw);
      transient = transientState(PQresultErrorField(raw, PG_DIAG_SQLSTATE));
    }
  }
  if (!failure.empty()) {
    lost_ = PQstatus(conn_) != CONNECTION_OK;
    fail(copy.what, failure, lost_ || transient);
  }
  if (trace_) {
    trace_(copy.sql, nanosSince(started));
  }
}

// ---- PgTransaction

PgTransaction::PgTransaction(PgConnection& connection, Mode mode) : connection_(connection) {
  connection_.run(mode == Mode::kSnapshot ? kPgBeginSnapshot : kPgBegin);
}

PgTransaction::~PgTransaction() {
  if (open_ && !connection_.broken()) {
    try {
      connection_.run(kPgRollback);
    } catch (...) {  // a connection that cannot roll back is lost: the server rolls back
    }
  }
}

void PgTransaction::commit() {
  connection_.run(kPgCommit);
  open_ = false;
}

// ---- PgPool

PgPool::PgPool(PgOptions options)
    : options_(std::move(options)), location_(redactedLocation(options_.url)) {
  options_.pool_size = std::max<std::size_t>(options_.pool_size, 1);
}

PgPool::~PgPool() = default;

PgPool::Lease::Lease(PgPool& pool_in) : pool(pool_in), connection(pool_in.acquire()) {
  connection->setCommitInFlight(false);
}

PgPool::Lease::~Lease() {
  pool.release(std::move(connection));
}

std::unique_ptr<PgConnection> PgPool::acquire() {
  std::unique_lock lock(mutex_);
  const auto until =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(options_.timeout_ms);
  for (;;) {
    if (!idle_.empty()) {
      std::unique_ptr<PgConnection> connection = std::move(idle_.back());
      idle_.pop_back();
      return connection;
    }
    const bool backing_off = std::chrono::steady_clock::now() < retry_at_;
    // During a back-off a caller fails at once only when no connection is open at all; with
    // some open (and lent), it waits for one of them to come back, as at the pool's size.
    if (open_ < options_.pool_size && !(backing_off && open_ > 0)) {
      const auto now = std::chrono::steady_clock::now();
      if (now < retry_at_) {
        const auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(retry_at_ - now);
        throw StoreError("the database is unreachable (" + last_failure_ + "); next attempt in " +
                             std::to_string(wait.count()) + " ms",
                         true);
      }
      ++open_;
      lock.unlock();
      try {
        auto connection = std::make_unique<PgConnection>(options_);
        lock.lock();
        backoff_ = std::chrono::milliseconds(0);
        return connection;
      } catch (const StoreError& e) {
        lock.lock();
        --open_;
        backoff_ = std::clamp(backoff_ * 2, std::chrono::milliseconds(100),
                              std::chrono::milliseconds(5'000));
        retry_at_ = std::chrono::steady_clock::now() + backoff_;
        last_failure_ = e.what();
        available_.notify_one();
        throw;
      }
    }
    // Until a connection comes back, or the back-off ends (then a new one is tried), or the
    // caller's time is up.
    const auto wake =
        backing_off && open_ < options_.pool_size ? std::min(until, retry_at_) : until;
    available_.wait_until(lock, wake);
    if (std::chrono::steady_clock::now() >= until && idle_.empty()) {
      throw StoreError("no connection to " + location_ + " came free within " +
                           std::to_string(options_.timeout_ms) + " ms (" + std::to_string(open_) +
                           " of " + std::to_string(options_.pool_size) + " open and in use)",
                       true);
    }
  }
}

void PgPool::release(std::unique_ptr<PgConnection> connection) {
  std::lock_guard lock(mutex_);
  if (connection == nullptr) {
    return;
  }
  // A connection left inside a transaction (a unit that threw before its ROLLBACK could run)
  // would run the next caller's statements in it: dropped as a broken one is.
  if (connection->broken() || connection->inTransaction()) {
    --open_;  // dropped: the next caller connects anew
  } else {
    idle_.push_back(std::move(connection));
  }
  available_.notify_one();
}

}  // namespace api
