import { Migration } from '@mikro-orm/migrations';

/**
 * The rate limiter's row is rewritten on every provider call. As an UNLOGGED table its updates
 * write no WAL, so reserving a slot commits without waiting for a disk flush: the row lock is
 * held for microseconds instead of an fsync, and the slot's answer comes back sooner (a late
 * answer costs a slot). Losing the row in a database crash only resets the schedule to "now".
 */
export class Migration20261126000004_unlogged_rate_limits extends Migration {
  override async up(): Promise<void> {
    this.addSql('ALTER TABLE provider_rate_limits SET UNLOGGED;');
  }

  override async down(): Promise<void> {
    this.addSql('ALTER TABLE provider_rate_limits SET LOGGED;');
  }
}
