import { Migration } from '@mikro-orm/migrations';

/**
 * What the operators' search and overview need to answer in milliseconds on millions of rows
 * (measured on 1,000,000 recharges: `npm run bench:admin`).
 *
 * - The admin listing is newest first by (created_at, id) across every client, keyset-paged: one
 *   index per filter that returns rows already in that order (none, account, state, client), so a
 *   page reads `limit` rows whatever the table's size. The created range is a range on the same keys.
 * - `q` is an exact id, idempotency key or order reference: the primary key plus one index each
 *   (the existing unique key leads with client_id, so it cannot serve a search across clients).
 * - The overview counts the last 24 h by state (created_at, with the state in the index) and
 *   charts the last hours by completion (completed_at).
 * - Finance's ledger.csv reads a time range of ledger entries in (at, id) order.
 */
export class Migration20261203007002_admin_indexes extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      CREATE INDEX recharges_created_idx ON recharges (created_at DESC, id DESC) INCLUDE (state);
      CREATE INDEX recharges_account_created_idx ON recharges (account_id, created_at DESC, id DESC);
      CREATE INDEX recharges_state_created_idx ON recharges (state, created_at DESC, id DESC);
      CREATE INDEX recharges_client_created_idx ON recharges (client_id, created_at DESC, id DESC);
      CREATE INDEX recharges_idempotency_key_idx ON recharges (idempotency_key);
      CREATE INDEX recharges_order_reference_idx ON recharges (order_reference) WHERE order_reference IS NOT NULL;
      CREATE INDEX recharges_completed_idx ON recharges (completed_at) WHERE completed_at IS NOT NULL;
      CREATE INDEX ledger_entries_at_idx ON ledger_entries (at, id);
    `);
  }

  override async down(): Promise<void> {
    this.addSql(`
      DROP INDEX recharges_created_idx, recharges_account_created_idx, recharges_state_created_idx,
        recharges_client_created_idx, recharges_idempotency_key_idx, recharges_order_reference_idx,
        recharges_completed_idx, ledger_entries_at_idx;
    `);
  }
}
