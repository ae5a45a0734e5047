import { Injectable, Logger } from '@nestjs/common';
import { Clock } from '../../../libs/shared/clock';
import { CreditDefaults, CreditParameters, Recharge } from '../domain/recharge';
import { RechargeState, TransitionSource } from '../domain/recharge-state';
import { ClaimedRecharge, RechargeRepository } from './ports/recharge.repository';
import { ProviderOutcome, RechargeProvider } from './ports/recharge-provider';

export abstract class DispatchSettings {
  /**
   * How long a claim stays invisible to other replicas without being renewed. While `process()`
   * runs (waiting for a send permit, then the call) the lease is renewed every quarter of this, so
   * only three renewals in a row failing (a replica dead, or cut from the database) let another
   * replica take it over — and its re-send carries the same OutBizId.
   */
  abstract readonly leaseMs: number;
  /** Re-send an unconfirmed recharge (same OutBizId) after this long. */
  abstract readonly reconcileAfterMs: number;
  /** This long after the first send, an unconfirmed recharge becomes FAILED with code TIMEOUT. */
  abstract readonly confirmationWindowMs: number;
  /** Quick retries of retryable errors before the recharge waits as PENDING_CONFIRMATION. */
  abstract readonly maxQuickRetries: number;
  abstract readonly retryBaseMs: number;
  /** The retry ceiling: no backoff and no provider `Retry-After` hint waits longer than this. */
  abstract readonly retryMaxMs: number;
  /** The configured BusinessType and Source, read once per recharge, at its first send. */
  abstract readonly creditDefaults: CreditDefaults;
}

type Prepared = { send: true; parameters: CreditParameters; attempt: number } | { send: false };

/**
 * Sends one recharge to the provider and applies what it answers. Safe to run on any replica at
 * any time for the same recharge: it is claimed by a lease that is renewed while the work runs,
 * SUBMITTED is committed before the call, and a re-send always carries the same OutBizId and the
 * same parameters, which the provider applies at most once.
 *
 * Unknown stays unknown: once any send may have reached the provider, no later answer is a
 * definitive rejection (it stays PENDING_CONFIRMATION, and past the window FAILED/TIMEOUT, which a
 * later proof of success still corrects). An answer saying the OutBizId exists or differs is never
 * a failure: it is unknown and a discrepancy for an operator.
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
    return this.recharges.claimDue(limit, now, this.leaseEnd(now));
  }

  /** Claims one recharge now, due or not (an operator's re-drive); null when final or held by another claim. */
  claimOne(id: string): Promise<ClaimedRecharge | null> {
    const now = this.clock.now();
    return this.recharges.claimOne(id, now, this.leaseEnd(now));
  }

  async process(claim: ClaimedRecharge, source: TransitionSource = 'dispatcher'): Promise<void> {
    const stopRenewing = this.renewWhileRunning(claim);
    try {
      const prepared = await this.recharges.mutate(claim.id, (r) => this.prepare(r, claim, source));
      if (!prepared || !prepared.result.send) return;
      const { parameters, attempt } = prepared.result;
      const outcome = await this.provider.submitCredit({ rechargeId: claim.id, attempt, parameters });
      await this.recharges.mutate(claim.id, (current) => this.apply(current, outcome, claim, source));
    } finally {
      stopRenewing();
    }
  }

  /**
   * The lease must outlive the wait for a send permit and the call, however long they take, without
   * knowing how the rate limiter works: renew it on a timer until the work ends. A replica that
   * dies stops renewing, and another one takes the recharge over once the lease lapses.
   */
  private renewWhileRunning(claim: ClaimedRecharge): () => void {
    const every = Math.max(50, Math.floor(this.settings.leaseMs / 4));
    const timer = setInterval(() => {
      this.recharges
        .renewLease(claim, this.leaseEnd(this.clock.now()))
        .then((held) => {
          if (!held) clearInterval(timer);
        })
        .catch((err: unknown) =>
          this.logger.warn({ err, rechargeId: claim.id }, `renewing the lease of ${claim.id} failed; retrying`),
        );
    }, every);
    timer.unref();
    return () => clearInterval(timer);
  }

  private leaseEnd(now: Date): Date {
    return new Date(now.getTime() + this.settings.leaseMs);
  }

  /** Before the call: expire if too old, otherwise commit SUBMITTED and the send, so a crash leaves a resumable state. */
  private prepare(r: Recharge, claim: ClaimedRecharge, source: TransitionSource): Prepared {
    const now = this.clock.now();
    // Another replica took it over after our lease lapsed: it sends, not us.
    if (r.leaseOwner !== claim.leaseOwner) return { send: false };
    if (r.isFinal()) {
      r.releaseLease(claim.leaseOwner);
      return { send: false };
    }
    if (r.confirmationOverdue(now, this.settings.confirmationWindowMs)) {
      r.expire(source, now);
      r.releaseLease(claim.leaseOwner);
      return { send: false };
    }
    if (r.state === RechargeState.CREATED) r.submit(source, now);
    const parameters = r.startSend(this.settings.creditDefaults, now);
    return { send: true, parameters, attempt: r.sends };
  }

  /** After the call: the outcome goes through the aggregate, whatever happened meanwhile. */
  private apply(r: Recharge, outcome: ProviderOutcome, claim: ClaimedRecharge, source: TransitionSource): void {
    const now = this.clock.now();
    // Whether an earlier send may have landed, before this answer adds to it.
    const earlierMayHaveLanded = r.mayHaveReachedProvider;
    r.sendAnswered(mayHaveApplied(outcome));
    r.releaseLease(claim.leaseOwner);
    const evidence = {
      source,
      attempt: r.sends,
      requestId: outcome.requestId ?? null,
      httpStatus: outcome.httpStatus ?? null,
    };
    if (outcome.kind === 'conflict') {
      r.noteDiscrepancy(
        'out_biz_id_conflict',
        { ...evidence, providerCode: outcome.providerCode, message: outcome.message, sent: r.creditParameters },
        now,
      );
    }
    if (r.isFinal()) {
      // A webhook or another replica concluded first. Only a proof of success still matters: a
      // correction after our TIMEOUT, or a discrepancy after CANCELED or a definitive failure.
      if (outcome.kind === 'succeeded') {
        r.providerSucceeded(
          outcome.providerReference,
          'provider confirmed after the confirmation window',
          source,
          now,
          {
            ...evidence,
            providerReference: outcome.providerReference,
          },
        );
      }
      return;
    }
    switch (outcome.kind) {
      case 'succeeded':
        r.succeed(outcome.providerReference, 'provider confirmed the credit', source, now);
        return;
      case 'rejected':
        if (earlierMayHaveLanded) {
          // The rejection is about this send (a rotated key, clock skew, changed settings); an
          // earlier one may have been applied, so this proves nothing about the money.
          this.awaitConfirmation(
            r,
            `re-send rejected (${outcome.providerCode}) after an earlier send may have reached the provider: outcome unknown`,
            source,
            now,
          );
          return;
        }
        r.reject(outcome.providerCode, outcome.message, source, now);
        return;
      case 'retryable':
        if (r.attempts < this.settings.maxQuickRetries) {
          const delay = Math.min(this.settings.retryMaxMs, outcome.retryAfterMs ?? this.backoff(r.attempts));
          r.scheduleNextAttempt(new Date(now.getTime() + delay), now, `retrying: ${outcome.message}`);
          return;
        }
        this.awaitConfirmation(r, `provider kept failing: ${outcome.message}`, source, now);
        return;
      case 'unknown':
        this.awaitConfirmation(r, `outcome unknown: ${outcome.message}`, source, now);
        return;
      case 'conflict':
        this.awaitConfirmation(
          r,
          `provider says OutBizId ${r.id} exists or differs (${outcome.providerCode}): outcome unknown`,
          source,
          now,
        );
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

/** Whether this answer leaves open that the send was applied (a rejection proves it was not). */
function mayHaveApplied(outcome: ProviderOutcome): boolean {
  switch (outcome.kind) {
    case 'rejected':
      return false;
    case 'retryable':
      return outcome.notApplied !== true;
    default:
      return true;
  }
}
