import { Migration } from '@mikro-orm/migrations';

/**
 * Confirm and tell: the provider-notification inbox (unique on webhook-id, so a duplicate is a
 * no-op by construction), discrepancies for finance, reconciliation runs for operators, and the
 * callback outbox written in the same transaction as the final transition.
 */
export class Migration20261125000003_confirmations extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      CREATE TABLE provider_notifications (
        webhook_id text PRIMARY KEY,
        event_id text NOT NULL,
        type text NOT NULL,
        out_biz_id text NOT NULL,
        owner_id text NOT NULL,
        amount text NOT NULL,
        currency text NOT NULL,
        transaction_number text,
        failure_code text,
        payload jsonb NOT NULL,
        received_at timestamptz NOT NULL,
        processed_at timestamptz,
        result text CHECK (result IN ('applied', 'duplicate', 'ignored', 'orphan', 'discrepancy')),
        detail text
      );
      CREATE INDEX provider_notifications_pending_idx ON provider_notifications (received_at)
        WHERE processed_at IS NULL OR result = 'orphan';
      CREATE INDEX provider_notifications_out_biz_id_idx ON provider_notifications (out_biz_id);

      CREATE TABLE discrepancies (
        id bigserial PRIMARY KEY,
        kind text NOT NULL,
        recharge_id text,
        webhook_id text REFERENCES provider_notifications (webhook_id),
        detail jsonb NOT NULL,
        detected_at timestamptz NOT NULL,
        CONSTRAINT discrepancies_once_per_notification UNIQUE (webhook_id, kind)
      );

      CREATE TABLE reconciliation_runs (
        id text PRIMARY KEY,
        started_at timestamptz NOT NULL,
        finished_at timestamptz,
        outcome text NOT NULL CHECK (outcome IN ('running', 'succeeded', 'failed')),
        redriven integer NOT NULL DEFAULT 0,
        expired integer NOT NULL DEFAULT 0,
        notifications_applied integer NOT NULL DEFAULT 0,
        orphans_matched integer NOT NULL DEFAULT 0,
        orphans_open integer NOT NULL DEFAULT 0,
        discrepancies integer NOT NULL DEFAULT 0,
        error text
      );
      CREATE INDEX reconciliation_runs_started_idx ON reconciliation_runs (started_at DESC);

      CREATE TABLE callback_deliveries (
        id text PRIMARY KEY,
        recharge_id text NOT NULL REFERENCES recharges (id),
        client_id text NOT NULL REFERENCES clients (id),
        url text NOT NULL,
        event_type text NOT NULL,
        payload jsonb NOT NULL,
        status text NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
        attempts integer NOT NULL DEFAULT 0,
        next_attempt_at timestamptz,
        last_status_code integer,
        last_error text,
        created_at timestamptz NOT NULL,
        delivered_at timestamptz,
        CONSTRAINT callback_deliveries_once_per_event UNIQUE (recharge_id, event_type)
      );
      CREATE INDEX callback_deliveries_due_idx ON callback_deliveries (next_attempt_at) WHERE status = 'pending';

      CREATE TABLE callback_attempts (
        id bigserial PRIMARY KEY,
        delivery_id text NOT NULL REFERENCES callback_deliveries (id),
        attempted_at timestamptz NOT NULL,
        status_code integer,
        latency_ms integer NOT NULL,
        error text
      );
      CREATE INDEX callback_attempts_delivery_idx ON callback_attempts (delivery_id, id);

      -- the reconciler looks for unconfirmed recharges past the confirmation window
      CREATE INDEX recharges_submitted_open_idx ON recharges (submitted_at)
        WHERE state IN ('SUBMITTED', 'PENDING_CONFIRMATION');
    `);
  }

  override async down(): Promise<void> {
    this.addSql(
      'DROP TABLE callback_attempts, callback_deliveries, reconciliation_runs, discrepancies, provider_notifications;',
    );
    this.addSql('DROP INDEX recharges_submitted_open_idx;');
  }
}
