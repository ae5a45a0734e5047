import { newId } from '../../../../libs/shared/ids';
import { Statement, StatementRunner } from '../../../database/pg-statements';
import { journalForSucceededRecharge, signedAmount } from '../../domain/ledger';
import { Recharge } from '../../domain/recharge';

const INSERT_LEDGER_ENTRIES: Statement = {
  name: 'ledger_entries_insert_v1',
  text: `INSERT INTO ledger_entries (id, recharge_id, ledger_account, account_id, direction, amount, currency, at)
    SELECT e.id, $1, e.ledger_account, e.account_id, e.direction, e.amount, e.currency, $8
    FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[])
      AS e(id, ledger_account, account_id, direction, amount, currency)`,
};

/**
 * One statement for every balance a journal moves (one row per account and currency, in the
 * journal's order, so concurrent successes lock the balance rows in the same order).
 */
const MOVE_BALANCES: Statement = {
  name: 'balances_move_v1',
  text: `INSERT INTO balances (ledger_account, currency, amount, updated_at)
    SELECT d.ledger_account, d.currency, d.amount, $4
    FROM unnest($1::text[], $2::text[], $3::bigint[]) WITH ORDINALITY AS d(ledger_account, currency, amount, n)
    ORDER BY d.n
    ON CONFLICT (ledger_account, currency) DO UPDATE SET amount = balances.amount + EXCLUDED.amount, updated_at = EXCLUDED.updated_at`,
};

/** Appends the double-entry journal of a succeeded recharge and moves the cached balances, inside the caller's transaction. */
export async function postSucceededJournal(tx: StatementRunner, recharge: Recharge, at: Date): Promise<void> {
  const entries = journalForSucceededRecharge(recharge, at);
  await tx.query(INSERT_LEDGER_ENTRIES, [
    recharge.id,
    entries.map(() => newId('led')),
    entries.map((e) => e.ledgerAccount),
    entries.map((e) => e.accountId),
    entries.map((e) => e.direction),
    entries.map((e) => e.amountMinor.toString()),
    entries.map((e) => e.currency),
    at,
  ]);
  const deltas = new Map<string, { ledgerAccount: string; currency: string; amount: bigint }>();
  for (const entry of entries) {
    const key = `${entry.ledgerAccount}\u0000${entry.currency}`;
    const sum = deltas.get(key) ?? { ledgerAccount: entry.ledgerAccount, currency: entry.currency, amount: 0n };
    sum.amount += signedAmount(entry);
    deltas.set(key, sum);
  }
  const rows = [...deltas.values()];
  await tx.query(MOVE_BALANCES, [
    rows.map((r) => r.ledgerAccount),
    rows.map((r) => r.currency),
    rows.map((r) => r.amount.toString()),
    at,
  ]);
}
