import { Currency, Money } from '../../domain/money';

export interface CreditRequest {
  /** Our recharge id, sent as OutBizId: the provider's idempotency key for this credit. */
  rechargeId: string;
  accountId: string;
  amount: Money;
}

/**
 * What one provider call taught us. `retryable`: the provider certainly did not apply it (or will
 * answer the same OutBizId idempotently) and asks us to come back; `unknown`: it may have been
 * applied and only a re-send with the same OutBizId or a notification will tell.
 */
export type ProviderOutcome =
  | { kind: 'succeeded'; providerReference: string | null }
  | { kind: 'rejected'; providerCode: string; message: string }
  | { kind: 'retryable'; providerCode: string | null; message: string; retryAfterMs?: number }
  | { kind: 'unknown'; providerCode: string | null; message: string };

export interface AvailableQuota {
  accountId: string;
  available: Money;
}

/** The port to Alibaba Cloud's reseller quota API (the simulator speaks the same protocol). */
export abstract class RechargeProvider {
  abstract submitCredit(request: CreditRequest): Promise<ProviderOutcome>;
  abstract availableQuota(accountId: string, currency: Currency): Promise<AvailableQuota>;
}
