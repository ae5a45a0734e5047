import { BigIntType, EntitySchema } from '@mikro-orm/core';
import { Recharge } from '../../domain/recharge';
import { RechargeState, TransitionSource } from '../../domain/recharge-state';
import { LedgerDirection } from '../../domain/ledger';
import { Currency } from '../../domain/money';

/** Maps the aggregate itself: no persistence model, no mapper layer. */
export const RechargeSchema = new EntitySchema<Recharge>({
  class: Recharge,
  tableName: 'recharges',
  properties: {
    id: { type: 'text', primary: true },
    clientId: { type: 'text' },
    idempotencyKey: { type: 'text' },
    requestFingerprint: { type: 'text' },
    accountId: { type: 'text' },
    amountMinor: { type: new BigIntType('bigint'), fieldName: 'amount' },
    currency: { type: 'text' },
    orderReference: { type: 'text', nullable: true },
    metadata: { type: 'json' },
    callbackUrl: { type: 'text', nullable: true },
    state: { enum: true, items: () => RechargeState, type: 'text' },
    providerReference: { type: 'text', nullable: true },
    message: { type: 'text', nullable: true },
    failureCode: { type: 'text', nullable: true },
    failureMessage: { type: 'text', nullable: true },
    failureProviderCode: { type: 'text', nullable: true },
    attempts: { type: 'integer' },
    nextAttemptAt: { type: 'timestamptz', nullable: true },
    submittedAt: { type: 'timestamptz', nullable: true },
    creditParameters: { type: 'json', nullable: true },
    sends: { type: 'integer' },
    sendStartedAt: { type: 'timestamptz', nullable: true },
    mayHaveReachedProvider: { type: 'boolean' },
    leaseOwner: { type: 'text', nullable: true },
    leaseUntil: { type: 'timestamptz', nullable: true },
    createdAt: { type: 'timestamptz' },
    updatedAt: { type: 'timestamptz' },
    completedAt: { type: 'timestamptz', nullable: true },
    version: { type: 'integer', version: true },
  },
});

export interface RechargeEventRecord {
  id: string;
  rechargeId: string;
  fromState: RechargeState | null;
  toState: RechargeState;
  reason: string;
  source: TransitionSource;
  correction: boolean;
  at: Date;
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
