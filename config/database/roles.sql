-- Two database roles for alicloud-recharge (run once per database, as an administrator, connected
-- to the service's database; set the passwords separately, e.g. psql's \password):
--   recharge_migrator  owns the schema and every table: the migration Job's DATABASE_URL (DDL).
--   recharge_app       reads and writes rows, nothing else: the service's DATABASE_URL.
-- Only an owner may drop or alter a table, drop or disable a trigger, or replace its function, so
-- the service's role cannot remove the ledger's append-only trigger, nor the ledger itself.
-- Tested against a real PostgreSQL by test/integration/database/roles.spec.ts.

CREATE ROLE recharge_migrator LOGIN;
CREATE ROLE recharge_app LOGIN;

-- The schema belongs to the migrator; nobody else may create objects in it.
ALTER SCHEMA public OWNER TO recharge_migrator;
REVOKE CREATE ON SCHEMA public FROM PUBLIC;
GRANT USAGE ON SCHEMA public TO recharge_app;

DO $$
BEGIN
  EXECUTE format('REVOKE ALL ON DATABASE %I FROM PUBLIC', current_database());
  EXECUTE format('GRANT CONNECT ON DATABASE %I TO recharge_migrator, recharge_app', current_database());
END
$$;

-- Every table and sequence the migrator creates from now on: rows only for the service.
-- (The administrator must be a member of recharge_migrator for this, or a superuser.)
ALTER DEFAULT PRIVILEGES FOR ROLE recharge_migrator IN SCHEMA public
  GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO recharge_app;
ALTER DEFAULT PRIVILEGES FOR ROLE recharge_migrator IN SCHEMA public
  GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO recharge_app;
-- Functions are executable by PUBLIC by default; triggers run with the table owner's rights anyway.

-- No TRUNCATE, REFERENCES or TRIGGER privilege is granted: TRUNCATE skips row triggers, and the
-- ledger's statement trigger refuses it as a second line.
