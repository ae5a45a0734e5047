import { Injectable, Logger } from '@nestjs/common';
import { Clock } from '../../../libs/shared/clock';
import { Recharge } from '../domain/recharge';
import { RechargeState, TransitionSource } from '../domain/recharge-state';
import { ClaimedRecharge, RechargeRepository } from './ports/recharge.repository';
import { ProviderOutcome, RechargeProvider } from './ports/recharge-provider';

export abstract class DispatchSettings {
  /** How long a claimed recharge stays invisible to other replicas (must outlast one provider call). */
  abstract readonly leaseMs: number;
  /** Re-send an unconfirmed recharge (same OutBizId) after this long. */
  abstract readonly reconcileAfterMs: number;
  /** This long after the first send, an unconfirmed recharge becomes FAILED with code TIMEOUT. */
  abstract readonly confirmationWindowMs: number;
  /** Quick retries of retryable errors before the recharge waits as PENDING_CONFIRMATION. */
  abstract readonly maxQuickRetries: number;
  abstract readonly retryBaseMs: number;
  abstract readonly retryMaxMs: number;
}

/**
 * Sends one recharge to the provider and applies what it answers. Safe to run on any replica at
 * any time for the same recharge: it is claimed by a lease, SUBMITTED is committed before the call,
 * and a re-send always carries the same OutBizId, which the provider applies at most once.
 */
@Injectable()
export class DispatchRechargeUseCase {
  private readonly logger = new Logger('Dispatcher');

  constructor(
    private readonly recharges: RechargeRepository,
    private readonly provider: RechargeProvider,
    private readonly settings: DispatchSettings,
    private readonly clock: Clock,
  ) {}

  claimDue(limit: number): Promise<ClaimedRecharge[]> {
    const now = this.clock.now();
    return this.recharges.claimDue(limit, now, new Date(now.getTime() + this.settings.leaseMs));
  }

  async process(id: string, source: TransitionSource = 'dispatcher'): Promise<void> {
    const prepared = await this.recharges.mutate(id, (r) => this.prepare(r, source));
    if (!prepared || prepared.result !== 'send') return;
    const r = prepared.recharge;
    const outcome = await this.provider.submitCredit({ rechargeId: r.id, accountId: r.accountId, amount: r.money() });
    await this.recharges.mutate(id, (current) => this.apply(current, outcome, source));
  }

  /** Before the call: expire if too old, otherwise commit SUBMITTED so a crash leaves a resumable state. */
  private prepare(r: Recharge, source: TransitionSource): 'send' | 'skip' {
    const now = this.clock.now();
    if (r.isFinal()) return 'skip';
    if (r.confirmationOverdue(now, this.settings.confirmationWindowMs)) {
      r.expire(source, now);
      return 'skip';
    }
    if (r.state === RechargeState.CREATED) r.submit(source, now);
    return 'send';
  }

  /** After the call: the outcome goes through the aggregate, whatever happened meanwhile. */
  private apply(r: Recharge, outcome: ProviderOutcome, source: TransitionSource): void {
    const now = this.clock.now();
    if (r.isFinal()) {
      // A webhook or another replica concluded first. Only a late proof of success matters.
      if (outcome.kind === 'succeeded' && r.state === RechargeState.FAILED && r.failureCode === 'TIMEOUT') {
        r.succeed(outcome.providerReference, 'provider confirmed after the confirmation window', source, now);
      }
      return;
    }
    switch (outcome.kind) {
      case 'succeeded':
        r.succeed(outcome.providerReference, 'provider confirmed the credit', source, now);
        return;
      case 'rejected':
        r.reject(outcome.providerCode, outcome.message, source, now);
        return;
      case 'retryable':
        if (r.attempts < this.settings.maxQuickRetries) {
          const delay = outcome.retryAfterMs ?? this.backoff(r.attempts);
          r.scheduleNextAttempt(new Date(now.getTime() + delay), now, `retrying: ${outcome.message}`);
          return;
        }
        this.awaitConfirmation(r, `provider kept failing: ${outcome.message}`, source, now);
        return;
      case 'unknown':
        this.awaitConfirmation(r, `outcome unknown: ${outcome.message}`, source, now);
        return;
    }
  }

  private awaitConfirmation(r: Recharge, reason: string, source: TransitionSource, now: Date): void {
    if (r.state === RechargeState.SUBMITTED) r.awaitConfirmation(reason, source, now);
    r.scheduleNextAttempt(new Date(now.getTime() + this.settings.reconcileAfterMs), now, reason);
    this.logger.warn({ rechargeId: r.id, attempts: r.attempts }, `recharge ${r.id} awaits confirmation: ${reason}`);
  }

  /** Exponential backoff with full jitter, so replicas retrying together spread out. */
  private backoff(attempt: number): number {
    const ceiling = Math.min(this.settings.retryMaxMs, this.settings.retryBaseMs * 2 ** attempt);
    return Math.round(ceiling / 2 + (Math.random() * ceiling) / 2);
  }
}
