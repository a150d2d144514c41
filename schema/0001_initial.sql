-- The three tables of the original SystemPrompt OS api module, column for column, so that a
-- database created by that system opens unchanged: every statement is IF NOT EXISTS.
--
-- Time columns of api_keys hold ISO-8601 UTC text (YYYY-MM-DDTHH:MM:SS.sssZ), which sorts
-- chronologically. The rate-limit window columns and api_requests.timestamp hold integer
-- milliseconds since the Unix epoch, because the limiter and the statistics do arithmetic on
-- them. api_requests.id is an integer here; in a database of the original system it is TEXT,
-- and the store then gives each row a random text id (see SqliteStore).

CREATE TABLE IF NOT EXISTS api_keys (
  id             TEXT PRIMARY KEY,
  key_hash       TEXT NOT NULL UNIQUE,
  key_prefix     TEXT NOT NULL,
  user_id        TEXT NOT NULL,
  name           TEXT NOT NULL,
  scopes         TEXT NOT NULL DEFAULT '[]',
  rate_limit     INTEGER NOT NULL DEFAULT 1000,
  expires_at     DATETIME,
  last_used_at   DATETIME,
  created_at     DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP,
  revoked_at     DATETIME,
  revoked_reason TEXT,
  metadata       TEXT
);

CREATE INDEX IF NOT EXISTS idx_api_keys_user_id ON api_keys (user_id);

CREATE TABLE IF NOT EXISTS api_rate_limits (
  key_id        TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
  window_start  INTEGER NOT NULL,
  window_size   INTEGER NOT NULL,
  request_count INTEGER NOT NULL DEFAULT 0,
  rate_limit    INTEGER NOT NULL,
  PRIMARY KEY (key_id, window_start)
);

CREATE INDEX IF NOT EXISTS idx_api_rate_limits_window_start ON api_rate_limits (window_start);

CREATE TABLE IF NOT EXISTS api_requests (
  id            INTEGER PRIMARY KEY,
  key_id        TEXT NOT NULL REFERENCES api_keys (id) ON DELETE CASCADE,
  endpoint      TEXT NOT NULL,
  method        TEXT NOT NULL,
  status_code   INTEGER NOT NULL,
  response_time INTEGER NOT NULL,
  ip_address    TEXT,
  user_agent    TEXT,
  timestamp     DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP
);

-- One index only: every row written pays for each index, and the request log is the table
-- written most. Reads by time alone walk this index key by key (key_id IN api_keys).
CREATE INDEX IF NOT EXISTS idx_api_requests_key_timestamp ON api_requests (key_id, timestamp);
