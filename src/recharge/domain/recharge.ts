import { DomainError } from '../../../libs/shared/domain-error';
import { newId } from '../../../libs/shared/ids';
import { Discrepancy, DiscrepancyKind } from './discrepancy';
import { Currency, Money } from './money';
import { InvalidTransitionError } from './recharge.errors';
import { ALLOWED_TRANSITIONS, FINAL_STATES, RechargeState, TransitionSource } from './recharge-state';

export type FailureCode = 'PROVIDER_REJECTED' | 'TIMEOUT' | 'CANCELED';

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
}

export interface ProviderReport {
  status: 'SUCCEEDED' | 'FAILED' | 'CANCELED';
  providerReference: string | null;
  failureCode: string | null;
}

/** 'discrepancy': a success the state table refuses (CANCELED, FAILED not by TIMEOUT), kept for an operator. */
export type ReportResult = 'applied' | 'duplicate' | 'ignored' | 'discrepancy';

/**
 * What a credit call carries besides the OutBizId, fixed at the first send and repeated exactly by
 * every re-send: a provider that compares a repeated OutBizId's parameters must see the same ones
 * even if the configuration changed in between.
 */
export interface CreditParameters {
  ownerId: string;
  /** Major units, exactly, as a decimal string ("49.99"; JPY "4999"). */
  amount: string;
  currency: Currency;
  businessType: string;
  source: string;
}

/** The configured parts of CreditParameters, read when a recharge is sent for the first time. */
export interface CreditDefaults {
  businessType: string;
  source: string;
}

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
  /** Fixed by the first send; null until then. */
  creditParameters!: CreditParameters | null;
  /** Sends started so far (the attempt number of the last one). */
  sends!: number;
  /** Set while a send is out and cleared by its answer: still set at the next send means it may have landed. */
  sendStartedAt!: Date | null;
  /**
   * Some send may have reached the provider without a known outcome (timeout, reset, dropped
   * answer, 5xx after sending, a send that never reported back). From then on no answer to a
   * re-send is a definitive rejection: only a success or the window's end settles it.
   */
  mayHaveReachedProvider!: boolean;
  /** The claim that holds this recharge (a replica is working on it) until `leaseUntil`. */
  leaseOwner!: string | null;
  leaseUntil!: Date | null;
  createdAt!: Date;
  updatedAt!: Date;
  completedAt!: Date | null;
  version!: number;

  private unsaved?: RechargeTransition[];
  private unsavedDiscrepancies?: Discrepancy[];

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
      creditParameters: null,
      sends: 0,
      sendStartedAt: null,
      mayHaveReachedProvider: false,
      leaseOwner: null,
      leaseUntil: null,
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

  /** A replica holds this recharge (its call may be in flight): expiry and re-drive leave it alone. */
  leaseLive(now: Date): boolean {
    return this.leaseUntil !== null && this.leaseUntil.getTime() > now.getTime();
  }

  /** Ends the claim `owner` holds; a claim taken over by another replica is left alone. */
  releaseLease(owner: string): void {
    if (this.leaseOwner !== owner) return;
    this.leaseOwner = null;
    this.leaseUntil = null;
  }

  /**
   * A send is about to leave: returns what it must carry. The first send fixes the parameters; a
   * re-send repeats them. A previous send that never reported back may have been applied.
   */
  startSend(defaults: CreditDefaults, now: Date): CreditParameters {
    if (this.isFinal())
      throw new InvalidTransitionError(this.id, this.state, this.state, 'a final recharge is not sent');
    if (this.sendStartedAt !== null) this.mayHaveReachedProvider = true;
    this.creditParameters ??= {
      ownerId: this.accountId,
      amount: this.money().toMajorString(),
      currency: this.currency,
      businessType: defaults.businessType,
      source: defaults.source,
    };
    this.sends += 1;
    this.sendStartedAt = now;
    return this.creditParameters;
  }

  /** The provider answered the send; `mayHaveApplied` when the answer does not prove it was not applied. */
  sendAnswered(mayHaveApplied: boolean): void {
    this.sendStartedAt = null;
    if (mayHaveApplied) this.mayHaveReachedProvider = true;
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

  /**
   * The provider says the credit was applied, whatever our state. Open → SUCCEEDED; FAILED by our
   * TIMEOUT → SUCCEEDED as a correction; SUCCEEDED → nothing; CANCELED or FAILED otherwise → no
   * state change and no credit, but a discrepancy an operator must see.
   */
  providerSucceeded(
    providerReference: string | null,
    reason: string,
    source: TransitionSource,
    now: Date,
    evidence: Record<string, unknown> = {},
  ): ReportResult {
    if (this.state === RechargeState.SUCCEEDED) return 'duplicate';
    if (
      this.state === RechargeState.CANCELED ||
      (this.state === RechargeState.FAILED && this.failureCode !== 'TIMEOUT')
    ) {
      this.noteDiscrepancy(
        this.state === RechargeState.CANCELED ? 'success_after_cancel' : 'success_after_failure',
        { ...evidence, source, state: this.state, failureCode: this.failureCode, providerReference },
        now,
      );
      return 'discrepancy';
    }
    // CREATED was never sent: the state table refuses it, and the caller logs the refusal.
    if (!this.canTransitionTo(RechargeState.SUCCEEDED)) return 'ignored';
    this.succeed(providerReference, reason, source, now);
    return 'applied';
  }

  /** Keeps a discrepancy, stored in the same transaction as this recharge's state. */
  noteDiscrepancy(kind: DiscrepancyKind, evidence: Record<string, unknown>, now: Date): void {
    (this.unsavedDiscrepancies ??= []).push({
      id: newId('dsc'),
      rechargeId: this.id,
      kind,
      evidence,
      seenAt: now,
      acknowledgedBy: null,
      acknowledgedAt: null,
      acknowledgementNote: null,
    });
  }

  /** Discrepancies not yet written; the repository drains them when it saves the aggregate. */
  pullDiscrepancies(): Discrepancy[] {
    const out = this.unsavedDiscrepancies ?? [];
    this.unsavedDiscrepancies = [];
    return out;
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
  applyProviderReport(
    report: ProviderReport,
    source: TransitionSource,
    now: Date,
    evidence: Record<string, unknown> = {},
  ): ReportResult {
    if (report.status === 'SUCCEEDED')
      return this.providerSucceeded(
        report.providerReference,
        `provider reported success (${source})`,
        source,
        now,
        evidence,
      );
    const target = REPORTED_STATE[report.status];
    if (this.state === target) return 'duplicate';
    if (!this.canTransitionTo(target) || (this.state === RechargeState.FAILED && this.failureCode !== 'TIMEOUT'))
      return 'ignored';
    if (report.status === 'FAILED')
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
    (this.unsaved ??= []).push(t);
    return t;
  }
}
