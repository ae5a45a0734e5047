import { DomainError } from '../../../libs/shared/domain-error';
import { Currency, Money } from './money';
import { InvalidTransitionError } from './recharge.errors';
import { ALLOWED_TRANSITIONS, FINAL_STATES, RechargeState, TransitionSource } from './recharge-state';

export type FailureCode = 'PROVIDER_REJECTED' | 'TIMEOUT' | 'NOT_APPLIED' | 'CANCELED';

export interface RechargeFailure {
  code: FailureCode;
  message: string;
  providerCode: string | null;
}

/** One stored state change: the audit trail of contract section 3. */
export interface RechargeTransition {
  rechargeId: string;
  from: RechargeState | null;
  to: RechargeState;
  reason: string;
  source: TransitionSource;
  at: Date;
  /** FAILED(TIMEOUT) → SUCCEEDED: money moved after we had given up; finance must see it. */
  correction: boolean;
  /** The operator who made the change (source 'operator'); null for the service's own transitions. */
  actor?: string | null;
}

/** Who settles an unknown outcome by hand, for the event trail. */
export interface ActingOperator {
  id: string;
  name: string;
}

export interface ProviderReport {
  status: 'SUCCEEDED' | 'FAILED' | 'CANCELED';
  providerReference: string | null;
  failureCode: string | null;
}

export type ReportResult = 'applied' | 'duplicate' | 'ignored';

const REPORTED_STATE: Record<ProviderReport['status'], RechargeState> = {
  SUCCEEDED: RechargeState.SUCCEEDED,
  FAILED: RechargeState.FAILED,
  CANCELED: RechargeState.CANCELED,
};

export interface NewRecharge {
  id: string;
  clientId: string;
  idempotencyKey: string;
  requestFingerprint: string;
  accountId: string;
  amount: Money;
  orderReference: string | null;
  metadata: Record<string, string>;
  callbackUrl: string | null;
}

/**
 * The recharge aggregate. Every state change goes through `transition`, the one place the table of
 * contract section 3 is enforced; each produces a RechargeTransition that the repository stores in
 * the same transaction as the new state. Fields are written only by these methods (MikroORM
 * hydrates them directly and never runs the constructor).
 */
export class Recharge {
  id!: string;
  clientId!: string;
  idempotencyKey!: string;
  requestFingerprint!: string;
  accountId!: string;
  amountMinor!: bigint;
  currency!: Currency;
  orderReference!: string | null;
  metadata!: Record<string, string>;
  callbackUrl!: string | null;
  state!: RechargeState;
  providerReference!: string | null;
  message!: string | null;
  failureCode!: FailureCode | null;
  failureMessage!: string | null;
  failureProviderCode!: string | null;
  /** Provider calls made so far (the dispatcher's retry counter). */
  attempts!: number;
  /** When the dispatcher or reconciler should next look at it; null once final. */
  nextAttemptAt!: Date | null;
  /** First hand-over to the provider: the confirmation window counts from here. */
  submittedAt!: Date | null;
  createdAt!: Date;
  updatedAt!: Date;
  completedAt!: Date | null;
  version!: number;

  private unsaved?: RechargeTransition[];
  private actor?: string;

  static create(input: NewRecharge, now: Date): Recharge {
    const r = new Recharge();
    Object.assign(r, {
      id: input.id,
      clientId: input.clientId,
      idempotencyKey: input.idempotencyKey,
      requestFingerprint: input.requestFingerprint,
      accountId: input.accountId,
      amountMinor: input.amount.minor,
      currency: input.amount.currency,
      orderReference: input.orderReference,
      metadata: input.metadata,
      callbackUrl: input.callbackUrl,
      state: RechargeState.CREATED,
      providerReference: null,
      message: null,
      failureCode: null,
      failureMessage: null,
      failureProviderCode: null,
      attempts: 0,
      nextAttemptAt: now,
      submittedAt: null,
      createdAt: now,
      updatedAt: now,
      completedAt: null,
      version: 1,
    });
    r.record(null, RechargeState.CREATED, 'recharge requested', 'api', now, false);
    return r;
  }

  money(): Money {
    return Money.of(this.amountMinor, this.currency);
  }

  failure(): RechargeFailure | null {
    if (!this.failureCode) return null;
    return { code: this.failureCode, message: this.failureMessage ?? '', providerCode: this.failureProviderCode };
  }

  isFinal(): boolean {
    return FINAL_STATES.includes(this.state);
  }

  /** The dispatcher is about to call the provider for the first time. */
  submit(source: TransitionSource, now: Date): void {
    this.transition(RechargeState.SUBMITTED, 'sent to provider', source, now);
    this.submittedAt = now;
  }

  /** True once an unconfirmed recharge has waited longer than the confirmation window. */
  confirmationOverdue(now: Date, windowMs: number): boolean {
    return this.submittedAt !== null && !this.isFinal() && now.getTime() - this.submittedAt.getTime() >= windowMs;
  }

  /** The outcome of a provider call is unknown (timeout, reset, 5xx after sending). */
  awaitConfirmation(reason: string, source: TransitionSource, now: Date): void {
    this.transition(RechargeState.PENDING_CONFIRMATION, reason, source, now);
  }

  /**
   * The provider confirmed the credit. From FAILED this is allowed only when the failure was our
   * own TIMEOUT: the money did move, so the result is recorded as a correction.
   */
  succeed(providerReference: string | null, reason: string, source: TransitionSource, now: Date): RechargeTransition {
    const correction = this.state === RechargeState.FAILED;
    if (correction && this.failureCode !== 'TIMEOUT') {
      throw new InvalidTransitionError(
        this.id,
        this.state,
        RechargeState.SUCCEEDED,
        `failure ${this.failureCode} is definitive`,
      );
    }
    const t = this.transition(RechargeState.SUCCEEDED, reason, source, now, correction);
    this.providerReference = providerReference ?? this.providerReference;
    this.message = correction ? 'succeeded after the confirmation window (reconciliation correction)' : 'succeeded';
    this.failureCode = null;
    this.failureMessage = null;
    this.failureProviderCode = null;
    return t;
  }

  /** The provider definitively refused the credit. */
  reject(providerCode: string | null, message: string, source: TransitionSource, now: Date): void {
    this.transition(
      RechargeState.FAILED,
      `rejected by provider${providerCode ? ` (${providerCode})` : ''}`,
      source,
      now,
    );
    this.setFailure('PROVIDER_REJECTED', message, providerCode);
  }

  /** No confirmation arrived within the confirmation window. */
  expire(source: TransitionSource, now: Date): void {
    this.transition(RechargeState.FAILED, 'no confirmation within the confirmation window', source, now);
    this.setFailure('TIMEOUT', 'no confirmation from the provider within the confirmation window', null);
  }

  /** Canceled by a caller before it reached the provider, or reported canceled by the provider. */
  cancel(reason: string, source: TransitionSource, now: Date, providerCode: string | null = null): void {
    this.transition(RechargeState.CANCELED, reason, source, now);
    this.setFailure('CANCELED', reason, providerCode);
  }

  /**
   * Applies what the provider reports about this recharge (a notification, or a re-read). Anything
   * the state table does not allow is refused and reported as 'ignored' — a late Failed never
   * undoes a success; a repeat of the current outcome is a 'duplicate' with no effect.
   */
  applyProviderReport(report: ProviderReport, source: TransitionSource, now: Date): ReportResult {
    const target = REPORTED_STATE[report.status];
    if (this.state === target) return 'duplicate';
    if (!this.canTransitionTo(target) || (this.state === RechargeState.FAILED && this.failureCode !== 'TIMEOUT'))
      return 'ignored';
    if (report.status === 'SUCCEEDED')
      this.succeed(report.providerReference, `provider reported success (${source})`, source, now);
    else if (report.status === 'FAILED')
      this.reject(report.failureCode, `provider reported failure (${source})`, source, now);
    else this.cancel(`provider reported the recharge canceled (${source})`, source, now, report.failureCode);
    return 'applied';
  }

  /** The fields in which a provider record disagrees with this recharge (amounts compared by value). */
  mismatchesWith(record: { ownerId: string; amount: string; currency: string }): string[] {
    const out: string[] = [];
    if (record.ownerId !== this.accountId) out.push('OwnerId');
    if (record.currency !== this.currency) return [...out, 'Currency'];
    let minor: bigint | null = null;
    try {
      minor = Money.fromMajorString(record.amount, this.currency).minor;
    } catch {
      minor = null;
    }
    if (minor !== this.amountMinor) out.push('Amount');
    return out;
  }

  /**
   * Only an unknown outcome can be settled by hand: PENDING_CONFIRMATION, or FAILED by our own
   * TIMEOUT (money may have moved). Anything else already has a definitive answer.
   */
  isResolvableByOperator(): boolean {
    return (
      this.state === RechargeState.PENDING_CONFIRMATION ||
      (this.state === RechargeState.FAILED && this.failureCode === 'TIMEOUT')
    );
  }

  /**
   * An operator checked at the provider that the credit was applied. From FAILED(TIMEOUT) it is a
   * correction like a late proof of success; either way the ledger is credited with the transition.
   */
  resolveSucceeded(
    operator: ActingOperator,
    providerReference: string | null,
    reason: string,
    now: Date,
  ): RechargeTransition {
    this.assertResolvable(RechargeState.SUCCEEDED);
    return this.as(operator, () => {
      const t = this.succeed(
        providerReference,
        `resolved as succeeded by ${operator.name}: ${reason}`,
        'operator',
        now,
      );
      this.message = `resolved as succeeded by operator ${operator.name}${t.correction ? ' (correction)' : ''}`;
      return t;
    });
  }

  /**
   * An operator checked at the provider that nothing was applied: FAILED with NOT_APPLIED, which no
   * later provider success can silently undo. From FAILED(TIMEOUT) the state stays FAILED and only
   * the failure becomes definitive; the event (FAILED → FAILED) keeps that change on the trail.
   */
  resolveNotApplied(operator: ActingOperator, reason: string, now: Date): RechargeTransition {
    this.assertResolvable(RechargeState.FAILED);
    const text = `resolved as not applied by ${operator.name}: ${reason}`;
    const t = this.as(operator, () =>
      this.state === RechargeState.FAILED
        ? this.record(RechargeState.FAILED, RechargeState.FAILED, text, 'operator', now, false)
        : this.transition(RechargeState.FAILED, text, 'operator', now),
    );
    this.updatedAt = now;
    this.setFailure(
      'NOT_APPLIED',
      `operator ${operator.name} confirmed at the provider that nothing was applied`,
      null,
    );
    return t;
  }

  /** An operator asks for a re-send now (same OutBizId): only while the service is still working on it. */
  redrive(now: Date): void {
    if (this.state !== RechargeState.SUBMITTED && this.state !== RechargeState.PENDING_CONFIRMATION)
      throw new DomainError(
        'INVALID_STATE',
        `recharge ${this.id} is ${this.state}; only SUBMITTED or PENDING_CONFIRMATION can be re-driven`,
      );
    this.nextAttemptAt = now;
    this.updatedAt = now;
  }

  /** Schedules the next provider call or check without changing state. A final recharge is never rescheduled. */
  scheduleNextAttempt(at: Date, now: Date, message: string | null = null): void {
    if (this.isFinal())
      throw new DomainError(
        'INVALID_STATE',
        `recharge ${this.id} is ${this.state}; a final recharge is not rescheduled`,
      );
    this.attempts += 1;
    this.nextAttemptAt = at;
    this.updatedAt = now;
    if (message) this.message = message;
  }

  /** Transitions not yet written; the repository drains them when it saves the aggregate. */
  pullTransitions(): RechargeTransition[] {
    const out = this.unsaved ?? [];
    this.unsaved = [];
    return out;
  }

  canTransitionTo(to: RechargeState): boolean {
    return ALLOWED_TRANSITIONS[this.state].includes(to);
  }

  private transition(
    to: RechargeState,
    reason: string,
    source: TransitionSource,
    now: Date,
    correction = false,
  ): RechargeTransition {
    if (!this.canTransitionTo(to)) throw new InvalidTransitionError(this.id, this.state, to);
    const from = this.state;
    this.state = to;
    this.updatedAt = now;
    if (this.isFinal()) {
      this.completedAt = now;
      this.nextAttemptAt = null;
    }
    return this.record(from, to, reason, source, now, correction);
  }

  private assertResolvable(to: RechargeState): void {
    if (!this.isResolvableByOperator())
      throw new InvalidTransitionError(
        this.id,
        this.state,
        to,
        'an operator resolves only PENDING_CONFIRMATION or FAILED by TIMEOUT',
      );
  }

  private as<T>(operator: ActingOperator, change: () => T): T {
    this.actor = operator.id;
    try {
      return change();
    } finally {
      this.actor = undefined;
    }
  }

  private setFailure(code: FailureCode, message: string, providerCode: string | null): void {
    this.failureCode = code;
    this.failureMessage = message;
    this.failureProviderCode = providerCode;
    this.message = message;
  }

  private record(
    from: RechargeState | null,
    to: RechargeState,
    reason: string,
    source: TransitionSource,
    at: Date,
    correction: boolean,
  ): RechargeTransition {
    const t: RechargeTransition = { rechargeId: this.id, from, to, reason, source, at, correction };
    if (this.actor) t.actor = this.actor;
    (this.unsaved ??= []).push(t);
    return t;
  }
}
