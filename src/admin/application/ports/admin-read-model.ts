import { Recharge } from '../../../recharge/domain/recharge';
import { RechargeState } from '../../../recharge/domain/recharge-state';

/** Keyset position in the admin listing: newest first by creation time, then id. */
export interface RechargePosition {
  /** As the database prints it, so no precision is lost between pages. */
  createdAt: string;
  id: string;
}

export interface RechargeSearch {
  states?: RechargeState[];
  clientId?: string;
  accountId?: string;
  createdFrom?: Date;
  createdTo?: Date;
  /** A recharge id, an idempotency key or an order reference. */
  q?: string;
  limit: number;
  after?: RechargePosition;
}

export interface ChartMinute {
  minute: Date;
  succeeded: number;
  failed: number;
  canceled: number;
  /** Seconds from creation to SUCCEEDED, over the recharges that succeeded in that minute. */
  confirmationP50: number | null;
  confirmationP95: number | null;
}

export interface SummaryFigures {
  byState: Partial<Record<RechargeState, number>>;
  pendingBeyondSla: number;
  openDiscrepancies: number;
  providerCalls: number;
  providerErrors: number;
  providerCallsLastMinute: number;
  callbacksWaiting: number;
  chart: ChartMinute[];
}

export interface SummaryWindow {
  now: Date;
  /** Recharges by state are counted from here (24 h back). */
  since: Date;
  /** Open recharges created before this are pending beyond the SLA. */
  slaBefore: Date;
  /** Provider error rate over calls since then. */
  providerSince: Date;
  /** The chart starts here (whole minutes). */
  chartSince: Date;
}

export interface DiscrepancyView {
  id: string;
  rechargeId: string | null;
  kind: string;
  evidence: unknown;
  seenAt: Date;
  acknowledgedBy: string | null;
  acknowledgedByName: string | null;
  acknowledgedAt: Date | null;
  acknowledgementNote: string | null;
}

export interface LedgerCsvRow {
  entryId: string;
  at: Date;
  accountId: string | null;
  rechargeId: string;
  clientId: string;
  direction: string;
  amount: string;
  currency: string;
  providerReference: string | null;
}

/** Everything the service knows about one recharge, for the operator's timeline. */
export interface RechargeStory {
  recharge: Recharge;
  events: Array<{
    from: string | null;
    to: string;
    reason: string;
    source: string;
    actor: string | null;
    correction: boolean;
    at: Date;
  }>;
  providerCalls: Array<{
    at: Date;
    action: string;
    attempt: number | null;
    outcome: string;
    providerCode: string | null;
    httpStatus: number | null;
    durationMs: number;
    requestId: string | null;
  }>;
  notifications: Array<{
    webhookId: string;
    type: string;
    ownerId: string;
    amount: string;
    currency: string;
    transactionNumber: string | null;
    failureCode: string | null;
    receivedAt: Date;
    processedAt: Date | null;
    result: string | null;
    detail: string | null;
  }>;
  callbacks: Array<{
    id: string;
    eventType: string;
    url: string;
    status: string;
    attempts: number;
    nextAttemptAt: Date | null;
    createdAt: Date;
    deliveredAt: Date | null;
  }>;
  callbackAttempts: Array<{
    deliveryId: string;
    eventType: string;
    attemptedAt: Date;
    statusCode: number | null;
    latencyMs: number;
    error: string | null;
  }>;
  ledger: Array<{
    id: string;
    ledgerAccount: string;
    accountId: string | null;
    direction: string;
    amount: string;
    currency: string;
    at: Date;
  }>;
  discrepancies: DiscrepancyView[];
  operatorActions: OperatorActionView[];
}

export interface OperatorActionView {
  id: string;
  operatorId: string;
  operatorName: string;
  action: string;
  targetType: string;
  targetId: string;
  reason: string | null;
  detail: unknown;
  at: Date;
}

/** The operators' read side: searches and summaries across every client (the /v1 reads are per client). */
export abstract class AdminReadModel {
  abstract summary(window: SummaryWindow): Promise<SummaryFigures>;
  abstract search(query: RechargeSearch): Promise<{ data: Recharge[]; next: RechargePosition | null }>;
  abstract story(rechargeId: string): Promise<RechargeStory | null>;
  abstract discrepancies(
    status: 'open' | 'acknowledged',
    limit: number,
    after?: { seenAt: Date; id: string },
  ): Promise<{ data: DiscrepancyView[]; next: { seenAt: Date; id: string } | null }>;
  abstract balances(accountId: string): Promise<Array<{ currency: string; amount: string }>>;
  /** The currency the account was last recharged in (the provider's quota has a single currency). */
  abstract lastCurrency(accountId: string): Promise<string | null>;
  /** Ledger entries for finance, in pages (keyset on at, id), so a month streams without holding it all. */
  abstract ledgerPage(
    filter: { from: Date; to: Date; accountId?: string },
    limit: number,
    after?: { at: Date; id: string },
  ): Promise<LedgerCsvRow[]>;
}
