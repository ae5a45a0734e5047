import { Migration } from '@mikro-orm/migrations';

/**
 * The provider's rate budget as N reusable send permits (N = PROVIDER_MAX_RPS) instead of one
 * row of spaced slots: a permit is used again only one window after the call that last used it
 * was answered, so no event-loop or network delay can bunch more than N arrivals into a window
 * (see PgProviderRateLimiter). Rows are created by the service on demand, for the rate it runs at.
 *
 * UNLOGGED, like the table it replaces: every call holds and releases a permit, and those
 * commits need no WAL flush. A database crash empties the table; the service then recreates the
 * missing rows free only one window after their creation (free_at = now + window), so calls
 * answered just before the crash still count against the budget.
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
    `);
  }
}
