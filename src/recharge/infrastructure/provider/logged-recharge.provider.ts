import { Logger } from '@nestjs/common';
import { Clock } from '../../../../libs/shared/clock';
import { Currency } from '../../domain/money';
import { ProviderCall, ProviderCallLog } from '../../application/ports/provider-call-log';
import {
  AvailableQuota,
  CreditRequest,
  ProviderOutcome,
  ProviderQueryError,
  RechargeProvider,
} from '../../application/ports/recharge-provider';
import { markProviderCallEnded } from './pg-provider-rate-limiter';

/**
 * Keeps a provider_calls row for every call that reaches the adapter (it sits inside the rate
 * limit and the circuit breaker, so a call they stop is not a call). The row is the evidence an
 * operator reads: outcome, provider code, HTTP status, duration, RequestId. Failing to write it
 * never hides the answer from the dispatcher.
 */
export class LoggedRechargeProvider extends RechargeProvider {
  private readonly logger = new Logger('ProviderCalls');

  constructor(
    private readonly inner: RechargeProvider,
    private readonly log: ProviderCallLog,
    private readonly clock: Clock,
  ) {
    super();
  }

  async submitCredit(request: CreditRequest): Promise<ProviderOutcome> {
    const at = this.clock.now();
    const started = process.hrtime.bigint();
    let outcome: ProviderOutcome | undefined;
    try {
      outcome = await this.inner.submitCredit(request);
      return outcome;
    } finally {
      await this.record({
        rechargeId: request.rechargeId,
        accountId: request.parameters.ownerId,
        action: 'ChangeResellerConsumeAmount',
        attempt: request.attempt,
        at,
        outcome: outcome?.kind ?? 'error',
        providerCode: outcome && outcome.kind !== 'succeeded' ? outcome.providerCode : null,
        httpStatus: outcome?.httpStatus ?? null,
        durationMs: elapsedMs(started),
        requestId: outcome?.requestId ?? null,
      });
    }
  }

  async availableQuota(accountId: string, currency: Currency): Promise<AvailableQuota> {
    const at = this.clock.now();
    const started = process.hrtime.bigint();
    const call = { rechargeId: null, accountId, action: 'QueryResellerAvailableQuota', attempt: null, at };
    try {
      const quota = await this.inner.availableQuota(accountId, currency);
      await this.record({
        ...call,
        outcome: 'succeeded',
        providerCode: null,
        httpStatus: quota.httpStatus ?? null,
        durationMs: elapsedMs(started),
        requestId: quota.requestId ?? null,
      });
      return quota;
    } catch (err) {
      const refused = err instanceof ProviderQueryError ? err : null;
      await this.record({
        ...call,
        outcome: 'error',
        providerCode: refused?.providerCode ?? null,
        httpStatus: refused?.answer.httpStatus ?? null,
        durationMs: elapsedMs(started),
        requestId: refused?.answer.requestId ?? null,
      });
      throw err;
    }
  }

  private async record(call: ProviderCall): Promise<void> {
    // The answer is in (or the call failed): the rate limiter's permit counts from now, not from
    // after this write.
    markProviderCallEnded();
    try {
      await this.log.record(call);
    } catch (err) {
      this.logger.error(
        { err, rechargeId: call.rechargeId, action: call.action, outcome: call.outcome },
        'writing the provider call log failed',
      );
    }
  }
}

const elapsedMs = (started: bigint): number => Number((process.hrtime.bigint() - started) / 1_000_000n);
