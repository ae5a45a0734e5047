import { BigIntType, EntitySchema } from '@mikro-orm/core';
import { RechargeState, TransitionSource } from '../../domain/recharge-state';
import { LedgerDirection } from '../../domain/ledger';
import { Currency } from '../../domain/money';

/*
 * The ORM's mappings for the tables it reads whole (the event trail, the ledger). The `recharges`
 * table has none: its columns and row mapping live in recharge.statements.ts alone.
 */
export interface RechargeEventRecord {
  id: string;
  rechargeId: string;
  fromState: RechargeState | null;
  toState: RechargeState;
  reason: string;
  source: TransitionSource;
  correction: boolean;
  at: Date;
  actor: string | null;
}

export const RechargeEventSchema = new EntitySchema<RechargeEventRecord>({
  name: 'RechargeEventRecord',
  tableName: 'recharge_events',
  properties: {
    id: { type: new BigIntType('string'), primary: true, autoincrement: true },
    rechargeId: { type: 'text' },
    fromState: { type: 'text', nullable: true },
    toState: { type: 'text' },
    reason: { type: 'text' },
    source: { type: 'text' },
    correction: { type: 'boolean' },
    at: { type: 'timestamptz' },
    actor: { type: 'text', nullable: true },
  },
});

export interface LedgerEntryRecord {
  id: string;
  rechargeId: string;
  ledgerAccount: string;
  accountId: string | null;
  direction: LedgerDirection;
  amount: bigint;
  currency: Currency;
  at: Date;
}

export const LedgerEntrySchema = new EntitySchema<LedgerEntryRecord>({
  name: 'LedgerEntryRecord',
  tableName: 'ledger_entries',
  properties: {
    id: { type: 'text', primary: true },
    rechargeId: { type: 'text' },
    ledgerAccount: { type: 'text' },
    accountId: { type: 'text', nullable: true },
    direction: { type: 'text' },
    amount: { type: new BigIntType('bigint') },
    currency: { type: 'text' },
    at: { type: 'timestamptz' },
  },
});

export interface BalanceRecord {
  ledgerAccount: string;
  currency: Currency;
  amount: bigint;
  updatedAt: Date;
}

export const BalanceSchema = new EntitySchema<BalanceRecord>({
  name: 'BalanceRecord',
  tableName: 'balances',
  properties: {
    ledgerAccount: { type: 'text', primary: true },
    currency: { type: 'text', primary: true },
    amount: { type: new BigIntType('bigint') },
    updatedAt: { type: 'timestamptz' },
  },
});
