import { Migration } from '@mikro-orm/migrations';

/**
 * The money tables. Correctness is enforced here, not in process memory: idempotency by a unique
 * constraint, the ledger by a trigger that refuses any UPDATE, DELETE or TRUNCATE, the states and
 * amounts by CHECK constraints.
 */
export class Migration20261125000001_initial extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      CREATE TABLE clients (
        id text PRIMARY KEY,
        name text NOT NULL,
        api_key_hash text NOT NULL UNIQUE,
        api_key_prefix text NOT NULL,
        allowed_accounts text[] NOT NULL,
        webhook_secret text NOT NULL,
        created_at timestamptz NOT NULL,
        revoked_at timestamptz
      );

      CREATE TABLE recharges (
        id text PRIMARY KEY,
        client_id text NOT NULL REFERENCES clients (id),
        idempotency_key text NOT NULL,
        request_fingerprint text NOT NULL,
        account_id text NOT NULL CHECK (account_id ~ '^[0-9]{1,20}$'),
        amount bigint NOT NULL CHECK (amount > 0),
        currency text NOT NULL CHECK (currency IN ('CNY', 'USD', 'JPY')),
        order_reference text,
        metadata jsonb NOT NULL DEFAULT '{}',
        callback_url text,
        state text NOT NULL CHECK (state IN ('CREATED', 'SUBMITTED', 'PENDING_CONFIRMATION', 'SUCCEEDED', 'FAILED', 'CANCELED')),
        provider_reference text,
        message text,
        failure_code text CHECK (failure_code IN ('PROVIDER_REJECTED', 'TIMEOUT', 'CANCELED')),
        failure_message text,
        failure_provider_code text,
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz,
        submitted_at timestamptz,
        trace_context text,
        created_at timestamptz NOT NULL,
        updated_at timestamptz NOT NULL,
        completed_at timestamptz,
        version integer NOT NULL DEFAULT 1,
        CONSTRAINT recharges_client_idempotency_key_unique UNIQUE (client_id, idempotency_key)
      );
      -- listing per client (newest first), filtered by account or state
      CREATE INDEX recharges_client_id_idx ON recharges (client_id, id DESC);
      CREATE INDEX recharges_client_account_idx ON recharges (client_id, account_id, id DESC);
      CREATE INDEX recharges_client_state_idx ON recharges (client_id, state, id DESC);
      -- the dispatcher's and reconciler's work queue: only open recharges, by due time
      CREATE INDEX recharges_due_idx ON recharges (next_attempt_at)
        WHERE state IN ('CREATED', 'SUBMITTED', 'PENDING_CONFIRMATION');
      -- FAILED(TIMEOUT) recharges that a late proof of success may still correct
      CREATE INDEX recharges_timed_out_idx ON recharges (completed_at) WHERE failure_code = 'TIMEOUT';

      CREATE TABLE recharge_events (
        id bigserial PRIMARY KEY,
        recharge_id text NOT NULL REFERENCES recharges (id),
        from_state text,
        to_state text NOT NULL,
        reason text NOT NULL,
        source text NOT NULL CHECK (source IN ('api', 'dispatcher', 'webhook', 'reconciliation', 'operator')),
        correction boolean NOT NULL DEFAULT false,
        at timestamptz NOT NULL
      );
      CREATE INDEX recharge_events_recharge_idx ON recharge_events (recharge_id, id);

      CREATE TABLE ledger_entries (
        id text PRIMARY KEY,
        recharge_id text NOT NULL REFERENCES recharges (id),
        ledger_account text NOT NULL,
        account_id text,
        direction text NOT NULL CHECK (direction IN ('debit', 'credit')),
        amount bigint NOT NULL CHECK (amount > 0),
        currency text NOT NULL,
        at timestamptz NOT NULL,
        CONSTRAINT ledger_entries_once_per_recharge UNIQUE (recharge_id, ledger_account, direction)
      );
      CREATE INDEX ledger_entries_account_idx ON ledger_entries (account_id, id DESC) WHERE account_id IS NOT NULL;

      CREATE FUNCTION ledger_entries_are_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        RAISE EXCEPTION 'ledger_entries is append-only: % refused', TG_OP USING ERRCODE = 'restrict_violation';
      END $$;
      CREATE TRIGGER ledger_entries_no_update_delete BEFORE UPDATE OR DELETE ON ledger_entries
        FOR EACH ROW EXECUTE FUNCTION ledger_entries_are_immutable();
      CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
        FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_are_immutable();

      CREATE TABLE balances (
        ledger_account text NOT NULL,
        currency text NOT NULL,
        amount bigint NOT NULL,
        updated_at timestamptz NOT NULL,
        PRIMARY KEY (ledger_account, currency)
      );
    `);
  }

  override async down(): Promise<void> {
    this.addSql('DROP TABLE balances, ledger_entries, recharge_events, recharges, clients CASCADE;');
    this.addSql('DROP FUNCTION ledger_entries_are_immutable();');
  }
}
