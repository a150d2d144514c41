-- Usage analytics. api_requests.timestamp holds integer milliseconds since the Unix epoch
-- (the original system never wrote a row there, so no text timestamps exist to mix with).
--
-- Rollups per aggregation interval (default one hour), maintained by the request writer in
-- the same transaction as the raw rows they summarise, so they always agree. Response-time
-- histograms are exact (whole milliseconds), stored as blobs of varint (value delta, count)
-- pairs in ascending order.
--
--   api_usage_rollups           per interval, key, endpoint, method (reports for one key)
--   api_usage_latency           per interval and key (percentiles for one key)
--   api_usage_endpoint_rollups  per interval, endpoint, method (reports for all keys)
--   api_usage_key_rollups       per interval and key (reports for all keys)
--   api_usage_latency_all       per interval (percentiles for all keys)
CREATE TABLE IF NOT EXISTS api_usage_rollups (
  interval_start INTEGER NOT NULL,
  key_id         TEXT NOT NULL,
  endpoint       TEXT NOT NULL,
  method         TEXT NOT NULL,
  requests       INTEGER NOT NULL,
  errors         INTEGER NOT NULL,
  total_time     INTEGER NOT NULL,
  last_request   INTEGER NOT NULL,
  PRIMARY KEY (key_id, interval_start, endpoint, method)
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS idx_api_usage_rollups_interval ON api_usage_rollups (interval_start);

CREATE TABLE IF NOT EXISTS api_usage_latency (
  interval_start INTEGER NOT NULL,
  key_id         TEXT NOT NULL,
  histogram      BLOB NOT NULL,
  PRIMARY KEY (key_id, interval_start)
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS idx_api_usage_latency_interval ON api_usage_latency (interval_start);

CREATE TABLE IF NOT EXISTS api_usage_endpoint_rollups (
  interval_start INTEGER NOT NULL,
  endpoint       TEXT NOT NULL,
  method         TEXT NOT NULL,
  requests       INTEGER NOT NULL,
  errors         INTEGER NOT NULL,
  total_time     INTEGER NOT NULL,
  PRIMARY KEY (interval_start, endpoint, method)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS api_usage_key_rollups (
  interval_start INTEGER NOT NULL,
  key_id         TEXT NOT NULL,
  requests       INTEGER NOT NULL,
  errors         INTEGER NOT NULL,
  total_time     INTEGER NOT NULL,
  last_request   INTEGER NOT NULL,
  PRIMARY KEY (interval_start, key_id)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS api_usage_latency_all (
  interval_start INTEGER PRIMARY KEY,
  histogram      BLOB NOT NULL
);
