import { Migration } from '@mikro-orm/migrations';

/**
 * Callbacks of one recharge arrive in order, and only the newest is worth delivering.
 *
 * - At most one callback of a recharge waits for delivery (`pending`): a newer one supersedes it in
 *   the transaction that queues the newer one (status `superseded`, never sent again). A
 *   `recharge.failed` for TIMEOUT still waiting for a retry can then not arrive after the corrected
 *   `recharge.succeeded`. The unique index makes a second waiting callback an error, not a race.
 * - `leased_until` marks a callback a replica is sending right now. A callback is not claimed while
 *   another of the same recharge is leased, so an older one already on the wire (even one just
 *   superseded) finishes before the newer one leaves: deliveries of a recharge never overtake each
 *   other, whichever replicas send them.
 * - Once per (recharge, event type) no longer holds: an operator may settle a FAILED recharge again
 *   (TIMEOUT → NOT_APPLIED), which is a second `recharge.failed` with different data.
 */
export class Migration20261203003001_callback_order extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      ALTER TABLE callback_deliveries DROP CONSTRAINT callback_deliveries_status_check;
      ALTER TABLE callback_deliveries ADD CONSTRAINT callback_deliveries_status_check
        CHECK (status IN ('pending', 'delivered', 'failed', 'superseded'));
      ALTER TABLE callback_deliveries
        ADD COLUMN leased_until timestamptz,
        ADD COLUMN superseded_by text;

      -- Rows written before this version: of several waiting callbacks of one recharge, the newest stays.
      UPDATE callback_deliveries d SET status = 'superseded', next_attempt_at = NULL, superseded_by = newer.id
        FROM (SELECT DISTINCT ON (recharge_id) recharge_id, id, created_at FROM callback_deliveries
              WHERE status = 'pending' ORDER BY recharge_id, created_at DESC, id DESC) newer
        WHERE d.recharge_id = newer.recharge_id AND d.status = 'pending' AND d.id <> newer.id;

      CREATE UNIQUE INDEX callback_deliveries_one_pending_per_recharge ON callback_deliveries (recharge_id)
        WHERE status = 'pending';
      CREATE INDEX callback_deliveries_leased_idx ON callback_deliveries (recharge_id) WHERE leased_until IS NOT NULL;
      CREATE INDEX callback_deliveries_recharge_idx ON callback_deliveries (recharge_id, created_at);
      ALTER TABLE callback_deliveries DROP CONSTRAINT callback_deliveries_once_per_event;
    `);
  }

  override async down(): Promise<void> {
    this.addSql(`
      ALTER TABLE callback_deliveries ADD CONSTRAINT callback_deliveries_once_per_event UNIQUE (recharge_id, event_type);
      DROP INDEX callback_deliveries_recharge_idx, callback_deliveries_leased_idx,
        callback_deliveries_one_pending_per_recharge;
      UPDATE callback_deliveries SET status = 'failed' WHERE status = 'superseded';
      ALTER TABLE callback_deliveries DROP COLUMN superseded_by, DROP COLUMN leased_until;
      ALTER TABLE callback_deliveries DROP CONSTRAINT callback_deliveries_status_check;
      ALTER TABLE callback_deliveries ADD CONSTRAINT callback_deliveries_status_check
        CHECK (status IN ('pending', 'delivered', 'failed'));
    `);
  }
}
