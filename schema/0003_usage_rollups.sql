-- Usage analytics. api_requests.timestamp holds integer milliseconds since the Unix epoch
-- (the original system never wrote a row there, so no text timestamps exist to mix with).
--
-- Rollups per aggregation interval (default one hour), maintained by the request writer in
-- the same transaction as the raw rows they summarise, so they always agree:
--   api_usage_rollups: per interval, key, endpoint and method: counts and times;
--   api_usage_latency: per interval and key, the exact histogram of response times (whole
--   milliseconds) as a blob of varint (value delta, count) pairs, ascending.
CREATE TABLE IF NOT EXISTS api_usage_rollups (
  interval_start INTEGER NOT NULL,
  key_id         TEXT NOT NULL,
  endpoint       TEXT NOT NULL,
  method         TEXT NOT NULL,
  requests       INTEGER NOT NULL,
  errors         INTEGER NOT NULL,
  total_time     INTEGER NOT NULL,
  last_request   INTEGER NOT NULL,
  PRIMARY KEY (interval_start, key_id, endpoint, method)
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS idx_api_usage_rollups_key ON api_usage_rollups (key_id, interval_start);

CREATE TABLE IF NOT EXISTS api_usage_latency (
  interval_start INTEGER NOT NULL,
  key_id         TEXT NOT NULL,
  histogram      BLOB NOT NULL,
  PRIMARY KEY (interval_start, key_id)
) WITHOUT ROWID;

CREATE INDEX IF NOT EXISTS idx_api_usage_latency_key ON api_usage_latency (key_id, interval_start);
