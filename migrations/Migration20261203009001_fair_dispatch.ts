import { Migration } from '@mikro-orm/migrations';

/**
 * Fair dispatch: the provider's budget is shared across clients by weight, and within a client
 * equally across its accounts, whatever the length of anyone's queue.
 *
 * - `clients.weight`: a client's share relative to the others (default 1).
 * - `recharges_queue_idx`: the open, unleased recharges by (client, account, due time); the leased
 *   ones (in flight, or left by a dead replica) are in `recharges_leased_idx`. The claim walks the
 *   distinct (client, account) pairs on it (a skip scan) and reads the head of each, so its cost
 *   grows with the number of pairs with open work, not with the number of queued rows.
 * - `dispatch_clients`: each client's virtual time, the point on the shared virtual clock
 *   (`dispatch_clock`, one row) at which its next turn comes, and the clock of its own accounts;
 *   `dispatch_queues`: each (client, account) queue's virtual time on that account clock. A client
 *   or account that was idle starts at its clock, never behind it, so idleness earns no burst.
 */
export class Migration20261203009001_fair_dispatch extends Migration {
  override async up(): Promise<void> {
    this.addSql(`
      ALTER TABLE clients ADD COLUMN weight integer NOT NULL DEFAULT 1 CHECK (weight BETWEEN 1 AND 1000);
      CREATE INDEX recharges_queue_idx ON recharges (client_id, account_id, next_attempt_at)
        WHERE state IN ('CREATED', 'SUBMITTED', 'PENDING_CONFIRMATION') AND lease_owner IS NULL;
      -- Only leased rows (the few in flight, and those a dead replica left): orphans are resumed first.
      CREATE INDEX recharges_leased_idx ON recharges (lease_until)
        WHERE lease_owner IS NOT NULL AND state IN ('CREATED', 'SUBMITTED', 'PENDING_CONFIRMATION');
      -- The queue index serves every use of the old global due-time index, which would only cost inserts.
      DROP INDEX recharges_due_idx;
      CREATE TABLE dispatch_queues (
        client_id text NOT NULL REFERENCES clients (id),
        account_id text NOT NULL,
        pass bigint NOT NULL,
        PRIMARY KEY (client_id, account_id)
      );
      CREATE TABLE dispatch_clients (
        client_id text PRIMARY KEY REFERENCES clients (id),
        pass bigint NOT NULL,
        account_clock bigint NOT NULL DEFAULT 0
      );
      CREATE TABLE dispatch_clock (
        id boolean PRIMARY KEY DEFAULT true CHECK (id),
        virtual_time bigint NOT NULL
      );
      INSERT INTO dispatch_clock (id, virtual_time) VALUES (true, 0);
    `);
  }

  override async down(): Promise<void> {
    this.addSql(`
      DROP TABLE dispatch_clock, dispatch_clients, dispatch_queues;
      CREATE INDEX recharges_due_idx ON recharges (next_attempt_at)
        WHERE state IN ('CREATED', 'SUBMITTED', 'PENDING_CONFIRMATION');
      DROP INDEX recharges_queue_idx, recharges_leased_idx;
      ALTER TABLE clients DROP COLUMN weight;
    `);
  }
}
