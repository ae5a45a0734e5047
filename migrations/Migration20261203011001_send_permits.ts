import { Migration } from '@mikro-orm/migrations';

/**
 * The provider's rate budget as N reusable send permits (N = PROVIDER_MAX_RPS) instead of one
 * row of spaced slots: a permit is used again only one window after the call that last used it
 * was answered, so no event-loop or network delay can bunch more than N arrivals into a window
 * (see PgProviderRateLimiter). Rows are created by the service on demand, for the rate it runs at.
 *
 * UNLOGGED, like the table it replaces: every call holds and releases a permit, and those
 * commits need no WAL flush. A database crash empties it. provider_send_budgets (logged, written
 * once per budget) tells that apart from a budget never used: an emptied budget's permits are
 * recreated free only a window plus a hold's lease after that, so calls answered just before and
 * permits a replica still believed it held cannot add to the new permits' first window.
 *
 * Dropping provider_rate_limits in the same step is deliberate: during a rolling deploy a replica
 * of the previous version can no longer reserve a slot, so its provider calls fail before anything
 * is sent (its claimed work is retried, by a new replica at the latest) instead of sending on a
 * second budget next to the permits, which could double the rate the provider sees.
 */
export class Migration20261203011001_send_permits extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      CREATE UNLOGGED TABLE provider_send_permits (
        budget text NOT NULL,
        slot int NOT NULL,
        free_at timestamptz NOT NULL,
        held_by text NULL,
        held_until timestamptz NULL,
        PRIMARY KEY (budget, slot),
        CHECK ((held_by IS NULL) = (held_until IS NULL))
      );
      CREATE TABLE provider_send_budgets (
        budget text PRIMARY KEY
      );
      DROP TABLE provider_rate_limits;
    `);
  }

  override async down(): Promise<void> {
    this.addSql(`
      CREATE UNLOGGED TABLE provider_rate_limits (
        name text PRIMARY KEY,
        next_slot_at timestamptz NOT NULL
      );
      DROP TABLE provider_send_permits;
      DROP TABLE provider_send_budgets;
    `);
  }
}
