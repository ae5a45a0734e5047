import { Currency } from '../../domain/money';
import { LedgerDirection } from '../../domain/ledger';
import { Page } from './page';

export interface Balance {
  currency: Currency;
  amount: bigint;
}

export interface LedgerLine {
  id: string;
  rechargeId: string;
  amount: bigint;
  currency: Currency;
  direction: LedgerDirection;
  at: Date;
}

export abstract class LedgerReader {
  abstract balances(accountId: string): Promise<Balance[]>;
  abstract entries(accountId: string, limit: number, after?: string): Promise<Page<LedgerLine>>;
}
