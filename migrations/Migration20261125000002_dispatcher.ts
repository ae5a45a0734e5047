import { Migration } from '@mikro-orm/migrations';

/**
 * The provider rate shared by every replica: one row per limited action holding the next free
 * send slot. Reserving a slot is a single-row UPDATE, so replicas queue on the row lock for
 * microseconds and never exceed the configured rate together.
 */
export class Migration20261125000002_dispatcher extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      CREATE TABLE provider_rate_limits (
        name text PRIMARY KEY,
        next_slot_at timestamptz NOT NULL
      );
    `);
  }

  override async down(): Promise<void> {
    this.addSql('DROP TABLE provider_rate_limits;');
  }
}
