-- Audit trail of every change to a key: create, revoke, rotate, rate-limit update and reset.
-- Written in the same transaction as the change it records. Never holds a secret.
CREATE TABLE IF NOT EXISTS api_key_audit (
  id      INTEGER PRIMARY KEY,
  key_id  TEXT NOT NULL,
  action  TEXT NOT NULL,
  actor   TEXT,
  at      TEXT NOT NULL,
  reason  TEXT,
  details TEXT NOT NULL DEFAULT '{}'
);

CREATE INDEX IF NOT EXISTS idx_api_key_audit_key_id ON api_key_audit (key_id, id);
