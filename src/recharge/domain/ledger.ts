import { DomainError } from '../../../libs/shared/domain-error';
import { Currency } from './money';
import { Recharge } from './recharge';
import { RechargeState } from './recharge-state';

export type LedgerDirection = 'debit' | 'credit';

/** Where money we have pushed to Alibaba Cloud but not yet settled with it is owed from. */
export const PROVIDER_CLEARING = 'provider_clearing';
export const customerLedgerAccount = (accountId: string): string => `customer:${accountId}`;

export interface LedgerEntry {
  rechargeId: string;
  ledgerAccount: string;
  /** The customer UID for customer entries; null for our own accounts. */
  accountId: string | null;
  direction: LedgerDirection;
  amountMinor: bigint;
  currency: Currency;
  at: Date;
}

/** Credits count positive, debits negative: a balanced journal sums to zero per currency. */
export const signedAmount = (e: Pick<LedgerEntry, 'direction' | 'amountMinor'>): bigint =>
  e.direction === 'credit' ? e.amountMinor : -e.amountMinor;

/**
 * The double-entry journal of a confirmed recharge: the provider clearing account is debited and
 * the customer's account credited with the same amount. Posted once per recharge (the ledger
 * table is unique on recharge + account + direction and refuses UPDATE and DELETE).
 */
export function journalForSucceededRecharge(recharge: Recharge, at: Date): LedgerEntry[] {
  if (recharge.state !== RechargeState.SUCCEEDED) {
    throw new DomainError(
      'INVALID_STATE',
      `recharge ${recharge.id} is ${recharge.state}; only SUCCEEDED recharges are credited`,
    );
  }
  const common = { rechargeId: recharge.id, amountMinor: recharge.amountMinor, currency: recharge.currency, at };
  const entries: LedgerEntry[] = [
    { ...common, ledgerAccount: PROVIDER_CLEARING, accountId: null, direction: 'debit' },
    {
      ...common,
      ledgerAccount: customerLedgerAccount(recharge.accountId),
      accountId: recharge.accountId,
      direction: 'credit',
    },
  ];
  if (entries.reduce((sum, e) => sum + signedAmount(e), 0n) !== 0n) {
    throw new DomainError('INTERNAL_ERROR', 'unbalanced journal');
  }
  return entries;
}
