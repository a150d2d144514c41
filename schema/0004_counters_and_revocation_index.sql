-- Running totals that operators need across processes: `prompt health`, run by any process,
-- shows what a serving host counted (request records dropped or lost, rate-limit decisions
-- that failed open). Each process adds what it counted since its last write.
CREATE TABLE IF NOT EXISTS api_counters (
  name       TEXT PRIMARY KEY,
  value      INTEGER NOT NULL DEFAULT 0,
  updated_at INTEGER NOT NULL  -- ms since the Unix epoch of the last addition
);

-- Cleanup clears the rate-limit windows of keys whose revocation took effect (a rotation's
-- grace period ended): find those keys without scanning every key.
CREATE INDEX IF NOT EXISTS idx_api_keys_revoked_at ON api_keys (revoked_at);
