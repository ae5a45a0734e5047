import { Currency, Money } from '../../../src/recharge/domain/money';
import {
  AvailableQuota,
  CreditRequest,
  ProviderOutcome,
  RechargeProvider,
} from '../../../src/recharge/application/ports/recharge-provider';

/**
 * RechargeProvider that answers from a script, for use-case unit specs: each submitCredit takes
 * the next outcome (or a function of the request); every request is kept in `requests`.
 */
export class ScriptedRechargeProvider extends RechargeProvider {
  readonly requests: CreditRequest[] = [];
  private readonly script: Array<ProviderOutcome | ((request: CreditRequest) => Promise<ProviderOutcome>)> = [];
  quota: Money | null = null;

  /** Queues answers for the next calls, in order. */
  answer(...outcomes: Array<ProviderOutcome | ((request: CreditRequest) => Promise<ProviderOutcome>)>): this {
    this.script.push(...outcomes);
    return this;
  }

  async submitCredit(request: CreditRequest): Promise<ProviderOutcome> {
    this.requests.push(structuredClone(request));
    const next = this.script.shift();
    if (!next) throw new Error(`ScriptedRechargeProvider: no answer scripted for send ${this.requests.length}`);
    return typeof next === 'function' ? next(request) : next;
  }

  async availableQuota(accountId: string, currency: Currency): Promise<AvailableQuota> {
    if (!this.quota) throw new Error('ScriptedRechargeProvider: no quota set');
    return { accountId, available: Money.of(this.quota.minor, currency) };
  }
}

/** Outcomes as the Alibaba Cloud adapter produces them. */
export const outcomes = {
  succeeded: (providerReference = 'REQ-OK'): ProviderOutcome => ({
    kind: 'succeeded',
    providerReference,
    requestId: providerReference,
    httpStatus: 200,
  }),
  rejected: (providerCode = 'NotAuthorized'): ProviderOutcome => ({
    kind: 'rejected',
    providerCode,
    message: `${providerCode} (scripted)`,
    requestId: 'REQ-REJ',
    httpStatus: 400,
  }),
  retryable: (extra: { retryAfterMs?: number; notApplied?: true; providerCode?: string } = {}): ProviderOutcome => ({
    kind: 'retryable',
    providerCode: extra.providerCode ?? 'ServiceUnavailable',
    message: 'try again (scripted)',
    ...(extra.retryAfterMs === undefined ? {} : { retryAfterMs: extra.retryAfterMs }),
    ...(extra.notApplied ? { notApplied: true as const } : {}),
    requestId: 'REQ-RETRY',
    httpStatus: 503,
  }),
  unknown: (): ProviderOutcome => ({
    kind: 'unknown',
    providerCode: null,
    message: 'socket hang up (scripted)',
    requestId: null,
    httpStatus: null,
  }),
  conflict: (providerCode = 'IdempotentParameterMismatch'): ProviderOutcome => ({
    kind: 'conflict',
    providerCode,
    message: 'OutBizId exists (scripted)',
    requestId: 'REQ-CONFLICT',
    httpStatus: 400,
  }),
};
