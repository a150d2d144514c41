-- A least-privilege role for the api module's hosts on PostgreSQL (psql, as the database's
-- owner, after the schema exists). Run `prompt health` once with the owner's URL first: it
-- applies the migrations, which create tables, a function and a trigger; the hosts then run
-- with this role, which can read and write the module's rows and nothing else (no DDL, no
-- other schema, no superuser).
--
--   psql "postgresql://owner@db.internal/prompt" -v password="'...'" -f least-privilege.sql
--
-- and give hosts databaseUrl: postgresql://api_runtime:...@db.internal/prompt?sslmode=verify-full

CREATE ROLE api_runtime LOGIN PASSWORD :password;
-- Nothing by default: an older grant to PUBLIC would let anyone create tables here.
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO api_runtime;
-- Every table the module reads and writes (api_key_epoch through the key change trigger).
GRANT SELECT, INSERT, UPDATE, DELETE ON
  api_keys, api_key_audit, api_rate_limits, api_requests, api_counters, api_key_epoch,
  api_usage_rollups, api_usage_latency, api_usage_endpoint_rollups, api_usage_key_rollups,
  api_usage_latency_all
  TO api_runtime;
-- Reads the schema version at every start; never writes it.
GRANT SELECT ON api_schema_migrations TO api_runtime;
-- The identity sequences of the request log and the audit trail.
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO api_runtime;
