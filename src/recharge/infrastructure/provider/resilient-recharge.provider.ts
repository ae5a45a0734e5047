import {
  BrokenCircuitError,
  CircuitBreakerPolicy,
  CircuitState,
  ConsecutiveBreaker,
  circuitBreaker,
  handleWhenResult,
} from 'cockatiel';
import { Logger } from '@nestjs/common';
import { Currency } from '../../domain/money';
import {
  AvailableQuota,
  CreditRequest,
  ProviderOutcome,
  RechargeProvider,
} from '../../application/ports/recharge-provider';
import { RechargeTelemetry } from '../../application/ports/recharge-telemetry';
import { DomainError } from '../../../../libs/shared/domain-error';
import { PgProviderRateLimiter } from './pg-provider-rate-limiter';
import { withSpan } from '../../../observability/tracing';

const RPC_ATTRIBUTES = { 'rpc.system': 'alibaba_cloud_pop', 'rpc.service': 'BssOpenApi', 'rpc.version': '2017-12-14' };

const STATE_NAME = {
  [CircuitState.Closed]: 'closed',
  [CircuitState.HalfOpen]: 'half_open',
  [CircuitState.Open]: 'open',
  [CircuitState.Isolated]: 'open',
} as const;

/**
 * Wraps the real adapter with what every provider call needs: a send permit of the one
 * cross-replica rate budget, held from before the call until its answer (credits first, quota
 * queries when no credit needs a permit), a circuit breaker
 * (cockatiel) that stops hammering a failing provider and probes it half-open, and metrics.
 * Definitive rejections are answers from a healthy provider and do not trip it.
 *
 * A credit waits for its permit as long as it takes (its claim on the recharge is renewed meanwhile);
 * a quota query gives up after `queryWaitMs` (default 5 s) while credits keep the budget busy, and
 * fails like any unreadable quota, so a caller never waits behind a long backlog of credits.
 */
export class ResilientRechargeProvider extends RechargeProvider {
  private readonly logger = new Logger('ProviderCircuit');
  private readonly breaker: CircuitBreakerPolicy;
  private readonly queryWaitMs: number;

  constructor(
    private readonly inner: RechargeProvider,
    private readonly limiter: PgProviderRateLimiter,
    private readonly telemetry: RechargeTelemetry,
    options: { consecutiveFailures?: number; halfOpenAfterMs?: number; queryWaitMs?: number } = {},
  ) {
    super();
    this.queryWaitMs = options.queryWaitMs ?? 5000;
    this.breaker = circuitBreaker(
      handleWhenResult((o) => (o as ProviderOutcome).kind === 'retryable' || (o as ProviderOutcome).kind === 'unknown'),
      {
        halfOpenAfter: options.halfOpenAfterMs ?? 5000,
        breaker: new ConsecutiveBreaker(options.consecutiveFailures ?? 5),
      },
    );
    this.breaker.onStateChange((state) => {
      this.telemetry.circuitState(STATE_NAME[state]);
      this.logger.warn(`provider circuit ${STATE_NAME[state]}`);
    });
  }

  async submitCredit(request: CreditRequest): Promise<ProviderOutcome> {
    const action = 'ChangeResellerConsumeAmount';
    try {
      return await this.breaker.execute(() =>
        this.limiter.send('credit', () =>
          withSpan(
            `BssOpenApi/${action}`,
            { ...RPC_ATTRIBUTES, 'rpc.method': action, 'recharge.id': request.rechargeId },
            async (span) => {
              const started = process.hrtime.bigint();
              const outcome = await this.inner.submitCredit(request);
              this.telemetry.providerCall(action, outcome.kind, Number(process.hrtime.bigint() - started) / 1e9);
              span.setAttribute('provider.outcome', outcome.kind);
              if (outcome.kind !== 'succeeded' && outcome.providerCode)
                span.setAttribute('provider.code', outcome.providerCode);
              return outcome;
            },
          ),
        ),
      );
    } catch (err) {
      if (err instanceof BrokenCircuitError) {
        this.telemetry.providerCall(action, 'circuit_open', 0);
        return { kind: 'retryable', providerCode: null, message: 'provider circuit open: calls paused' };
      }
      throw err;
    }
  }

  async availableQuota(accountId: string, currency: Currency): Promise<AvailableQuota> {
    const action = 'QueryResellerAvailableQuota';
    const waited = AbortSignal.timeout(this.queryWaitMs);
    let started = process.hrtime.bigint();
    try {
      const quota = await this.limiter.send(
        'query',
        () => {
          started = process.hrtime.bigint();
          return this.inner.availableQuota(accountId, currency);
        },
        { signal: waited },
      );
      this.telemetry.providerCall(action, 'succeeded', Number(process.hrtime.bigint() - started) / 1e9);
      return quota;
    } catch (err) {
      // The wait for a permit gave up (the call was never made): credits kept the budget busy.
      if (waited.aborted && err === waited.reason) {
        this.telemetry.providerCall(action, 'rate_budget_busy', 0);
        throw new DomainError(
          'PROVIDER_ERROR',
          `no provider send permit for a quota query within ${this.queryWaitMs} ms: credits go first`,
        );
      }
      this.telemetry.providerCall(action, 'error', Number(process.hrtime.bigint() - started) / 1e9);
      throw err;
    }
  }
}
