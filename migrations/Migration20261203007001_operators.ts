import { Migration } from '@mikro-orm/migrations';

/**
 * Operators (people, not clients) and the audit trail of what they do. Tokens are stored as
 * SHA-256 hashes like client keys, in their own table, so neither kind of credential can stand in
 * for the other. operator_actions is append-only by trigger, like the ledger. A recharge's events
 * name the operator who made an operator transition (`actor`), and an operator can settle an
 * unknown outcome as NOT_APPLIED.
 */
export class Migration20261203007001_operators extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      CREATE TABLE operators (
        id text PRIMARY KEY,
        name text NOT NULL,
        role text NOT NULL CHECK (role IN ('viewer', 'operator')),
        token_hash text NOT NULL UNIQUE,
        token_prefix text NOT NULL,
        created_at timestamptz NOT NULL,
        revoked_at timestamptz
      );

      CREATE TABLE operator_actions (
        id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        operator_id text NOT NULL REFERENCES operators (id),
        action text NOT NULL,
        target_type text NOT NULL CHECK (target_type IN ('recharge', 'discrepancy')),
        target_id text NOT NULL,
        recharge_id text,
        reason text,
        detail jsonb NOT NULL DEFAULT '{}',
        at timestamptz NOT NULL
      );
      CREATE INDEX operator_actions_recharge_idx ON operator_actions (recharge_id, id) WHERE recharge_id IS NOT NULL;
      CREATE INDEX operator_actions_at_idx ON operator_actions (at DESC);

      CREATE FUNCTION operator_actions_are_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'operator_actions is append-only: % refused', TG_OP USING ERRCODE = 'restrict_violation';
      END $$;
      CREATE TRIGGER operator_actions_no_update_delete BEFORE UPDATE OR DELETE ON operator_actions
        FOR EACH ROW EXECUTE FUNCTION operator_actions_are_immutable();
      CREATE TRIGGER operator_actions_no_truncate BEFORE TRUNCATE ON operator_actions
        FOR EACH STATEMENT EXECUTE FUNCTION operator_actions_are_immutable();

      ALTER TABLE recharge_events ADD COLUMN actor text;

      ALTER TABLE recharges DROP CONSTRAINT recharges_failure_code_check;
      ALTER TABLE recharges ADD CONSTRAINT recharges_failure_code_check
        CHECK (failure_code IN ('PROVIDER_REJECTED', 'TIMEOUT', 'NOT_APPLIED', 'CANCELED'));
    `);
  }

  override async down(): Promise<void> {
    this.addSql(`
      ALTER TABLE recharges DROP CONSTRAINT recharges_failure_code_check;
      ALTER TABLE recharges ADD CONSTRAINT recharges_failure_code_check
        CHECK (failure_code IN ('PROVIDER_REJECTED', 'TIMEOUT', 'CANCELED'));
      ALTER TABLE recharge_events DROP COLUMN actor;
      DROP TABLE operator_actions, operators;
      DROP FUNCTION operator_actions_are_immutable();
    `);
  }
}
