import { DomainError } from '../../../../libs/shared/domain-error';
import { CreditParameters } from '../../domain/recharge';
import { Currency, Money } from '../../domain/money';

export interface CreditRequest {
  /** Our recharge id, sent as OutBizId: the provider's idempotency key for this credit. */
  rechargeId: string;
  /** The recharge's send number, 1 for the first send (kept in the provider call log). */
  attempt: number;
  /** Exactly what the first send carried; never rebuilt from today's configuration. */
  parameters: CreditParameters;
}

/** What identifies one answer at the provider, when it gave one: kept as evidence for operators. */
export interface ProviderAnswer {
  /** The provider's RequestId. */
  requestId?: string | null;
  /** Null when no HTTP answer came (timeout, reset, refused connection). */
  httpStatus?: number | null;
}

/**
 * What one provider call taught us.
 * - `retryable`: the provider asks us to come back. `notApplied` when the answer proves this send
 *   was refused before the provider acted on it (throttling, nothing sent); without it the send
 *   may have reached the provider (a 5xx after sending, an internal error).
 * - `unknown`: it may have been applied; only a re-send with the same OutBizId or a notification tells.
 * - `conflict`: the provider says this OutBizId exists already or was used with other parameters.
 *   Never a failure: money may have moved under it.
 * - `rejected`: the provider refused this send.
 */
export type ProviderOutcome = ProviderAnswer &
  (
    | { kind: 'succeeded'; providerReference: string | null }
    | { kind: 'rejected'; providerCode: string; message: string }
    | { kind: 'retryable'; providerCode: string | null; message: string; retryAfterMs?: number; notApplied?: true }
    | { kind: 'unknown'; providerCode: string | null; message: string }
    | { kind: 'conflict'; providerCode: string; message: string }
  );

export interface AvailableQuota extends ProviderAnswer {
  accountId: string;
  available: Money;
}

/** A quota query the provider refused or answered unreadably; what it said is kept for the call log. */
export class ProviderQueryError extends DomainError {
  constructor(
    message: string,
    readonly providerCode: string | null,
    readonly answer: ProviderAnswer = {},
  ) {
    super('PROVIDER_ERROR', message);
  }
}

/** The port to Alibaba Cloud's reseller quota API (the simulator speaks the same protocol). */
export abstract class RechargeProvider {
  abstract submitCredit(request: CreditRequest): Promise<ProviderOutcome>;
  abstract availableQuota(accountId: string, currency: Currency): Promise<AvailableQuota>;
}
