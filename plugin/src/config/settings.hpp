// The api module's configuration (module.yaml `config:`), parsed once at load into typed
// values with checked invariants.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "domain/limits.hpp"

namespace api {

// API keys: what ApiKeyService needs.
struct KeySettings {
  // Prefix of every generated key: 1..16 characters of [A-Za-z0-9_].
  std::string prefix = "sk_";
  // Most keys one user may have active at once; 0 means no limit. 0 .. 1,000,000.
  std::int64_t max_active_per_user = 0;
  // Whether keys issued by the original system (the prefix and 43 base64url characters, no
  // checksum) validate, authorize and can be revoked and rotated.
  bool accept_legacy = true;
};

// Rate limits: the window every key is counted in, and the limit a new key gets.
struct RateLimitSettings {
  // Requests per window for a key that has no limit of its own. 1..1,000,000,000.
  std::int64_t default_limit = 1000;
  // Length of the sliding rate-limit window, ms. 1,000 (1 s) .. 2,678,400,000 (31 days).
  std::int64_t window_ms = 3'600'000;
  // Sub-windows the sliding window is divided into. 1..3,600, and it must divide window_ms
  // into whole milliseconds.
  std::int64_t sub_windows = 60;
  // On a storage error, admit (true) or refuse (false) the request. Every fail-open decision
  // is logged and counted.
  bool fail_open = false;

  // The window and its sub-windows, as the engine takes them (whose subWindowMs() is the one
  // place S = W / N is computed; whole: parseSettings checks that N divides W).
  WindowShape windowShape() const { return {window_ms, sub_windows}; }
};

// The store: which database, and how long a call waits for it.
struct StoreSettings {
  // SQLite database file, absolute. Config `databasePath`: empty means
  // `<state dir>/api.sqlite3`; a relative path is taken from the state directory.
  std::string database_path;
  // How long a store call waits for another process's lock, ms. 0 .. 600,000.
  std::int64_t busy_timeout_ms = 5'000;
  // Config `databaseUrl` (or PROMPT_API_DATABASE_URL): a postgresql:// URL chooses the
  // PostgreSQL store (libpq's parameters, sslmode among them, pass through); empty, the
  // default, the SQLite file at database_path. A secret: never logged or shown.
  std::string database_url;
  // PostgreSQL: connections each pool keeps at most (the module opens three pools: requests,
  // key lookups, usage writes; each grows on demand). 1 .. 256.
  std::int64_t pool_size = 8;
  // PostgreSQL: how long one store call may take, ms (the server's statement and lock timeouts,
  // and the client's own deadline). 100 .. 600,000.
  std::int64_t database_timeout_ms = 5'000;
  // Where the rate-limit windows are decided: kShared in a memory-mapped segment beside the
  // database, shared by every process of the machine and written back to the database at
  // each cleanup; kDatabase in the database itself (one write transaction per check). With
  // database_url set it is always kDatabase (one limit across every host).
  enum class WindowStoreKind { kShared, kDatabase };
  WindowStoreKind window_store = WindowStoreKind::kShared;
  // Keys the shared segment holds at once (a sparse file: pages are touched on use).
  // 1,024 .. 4,194,304.
  std::int64_t window_slots = 65'536;
};

// Usage analytics: the recorder's queue and writer, rollups and retention.
struct UsageSettings {
  // Request records that may wait in memory for the writer; more are dropped and counted.
  // 1,000 .. 10,000,000.
  std::int64_t queue_capacity = 100'000;
  // The same bound in bytes of memory the waiting records hold (64 MiB: about 24,000 records
  // of the largest accepted size, millions of typical ones). 1 MiB .. 4 GiB.
  std::int64_t queue_max_bytes = 64LL << 20;
  // The writer flushes at least this often, ms. 10 .. 1,000.
  std::int64_t flush_interval_ms = 1'000;
  // Length of a usage rollup interval, ms: 60,000 (1 minute) .. 86,400,000 (1 day), and a
  // divisor of a day so that hourly and daily series line up.
  std::int64_t aggregation_interval_ms = 3'600'000;
  // Raw request rows older than this are deleted by cleanup, ms. At least one day.
  std::int64_t request_retention_ms = 30LL * 86'400'000;
  // Rollups older than this are deleted by cleanup, ms. At least request_retention_ms.
  std::int64_t rollup_retention_ms = 400LL * 86'400'000;
};

// Cleanup: how often the host runs it (the module states it in sp_module).
struct CleanupSettings {
  // 10 .. 86,400,000 ms (1 day).
  std::int64_t interval_ms = 300'000;
};

// The HTTP edge `prompt serve` runs (http/): where it listens and how it bounds its clients.
struct HttpSettings {
  // Config `httpListen`: "address:port" (an IPv4 address, or an IPv6 one in brackets; port
  // 0 takes any free one), or empty (the default) for no listener.
  std::string listen;
  std::string address;  // listen's address, parsed
  std::int64_t port = 0;
  // I/O threads serving connections. 1..64.
  std::int64_t threads = 2;
  // Connections open at once. At the limit a new connection closes the kept-alive connection
  // idle the longest; with none idle, the new one is closed as it comes. 1..100,000.
  std::int64_t max_connections = 1'024;
  // A request must arrive whole within this of its first byte (or of the connection), ms.
  // 100..600,000.
  std::int64_t request_timeout_ms = 10'000;
  // A kept-alive connection with no request for this long is closed, ms. 100..3,600,000.
  std::int64_t idle_timeout_ms = 60'000;
  // Config `httpRecordUsage`: whether each /v1/auth decision about a known key is recorded as
  // a request (the usage recorder's path), with the decision's status.
  bool record_usage = true;
  // Not a config key: the threads that answer requests whose answer may wait on the database,
  // so that the I/O threads never do (a stalled server would hold every connection still).
  // 0 answers everything on the I/O threads. ApiModule sets decisionWorkers(store).
  std::int64_t decision_workers = 0;
};

// The edge's decision workers for a store: none when rate limits live in the shared segment
// (a decision takes microseconds, less than a hop to another thread); on PostgreSQL one per
// connection of a pool (more would only wait for a connection); 2 for SQLite's database
// store, whose checks are write transactions taken one at a time.
std::int64_t decisionWorkers(const StoreSettings& store);

// Everything `config:` sets, one part per component: a component reads its own part (the
// store is handed only StoreSettings).
struct ApiSettings {
  KeySettings keys;
  RateLimitSettings rate_limits;
  StoreSettings store;
  UsageSettings usage;
  CleanupSettings cleanup;
  HttpSettings http;
};

// The shortest wait of the usage writer between writes, ms. While records keep coming it
// writes them in pieces of about UsageRecorder::kPieceRecords: it waits what the last
// records took to arrive, scaled to that many, between this and usageFlushInterval. With
// SQLite, 2 ms: the writer's work is done on the cores the request path runs on, and pieces
// of some 64 records (a fraction of a millisecond) pass between requests where thousands at
// once (up to 4,096 a transaction) hold them up for milliseconds; a slow stream still gets
// one write an interval.
// With PostgreSQL, usageFlushInterval (no pieces): the work is the server's, and each write a
// transaction on a server that others share.
std::int64_t usageShortestFlushIntervalMs(const ApiSettings& settings);

// One integer key of `config:`: the field it sets and the range accepted. The table of them
// (integerSettings) drives parsing, the accepted-keys message and README's check.
struct IntegerSetting {
  std::string_view key;
  std::int64_t& (*field)(ApiSettings&);
  std::int64_t min;
  std::int64_t max;
  std::string_view unit;  // as errors say it, e.g. " ms"

  // The value in `settings`. Sound because `field` only names a member, never writes.
  std::int64_t of(const ApiSettings& settings) const {
    return field(const_cast<ApiSettings&>(settings));
  }
};
std::span<const IntegerSetting> integerSettings();

// Every key parseSettings accepts, in README's order.
std::span<const std::string_view> settingKeys();

// Parses the module's config JSON object. Every key is optional (defaults above); an
// unknown key, a wrong type or a value out of range throws std::invalid_argument naming the
// key, the value and what is accepted.
ApiSettings parseSettings(std::string_view config_json, std::string_view state_dir);

}  // namespace api
