import { DomainError, FieldError } from '../../../libs/shared/domain-error';
import { Currency } from '../../recharge/domain/money';
import { nextRunAfter, scheduleProblem } from './schedule';

export type RuleStatus = 'active' | 'paused' | 'disabled';
export const RULE_STATUSES: readonly RuleStatus[] = ['active', 'paused', 'disabled'];

export type RuleTrigger = { type: 'threshold'; below: bigint } | { type: 'schedule'; cron: string; timezone: string };
export interface RuleTopUp {
  type: 'fixed' | 'target';
  amount: bigint;
}
export interface RuleLimits {
  maxAmountPerDay: bigint | null;
  maxAmountPerMonth: bigint | null;
  maxCountPerDay: number | null;
  maxCountPerMonth: number | null;
}

/** What a client says a rule is: the body of POST /v1/rules with the defaults applied. */
export interface RuleSpec {
  accountId: string;
  currency: Currency;
  trigger: RuleTrigger;
  topUp: RuleTopUp;
  limits: RuleLimits;
  cooldownSeconds: number;
  /** Threshold rules only (null for schedules). */
  checkIntervalSeconds: number | null;
  callbackUrl: string | null;
  dryRun: boolean;
}

/** A spec as it arrives (optional fields may be missing); `resolveSpec` applies defaults and checks it. */
export type RuleDraft = Omit<RuleSpec, 'limits' | 'cooldownSeconds' | 'checkIntervalSeconds' | 'dryRun'> & {
  limits?: Partial<RuleLimits>;
  cooldownSeconds?: number;
  checkIntervalSeconds?: number | null;
  dryRun?: boolean;
};

export const DEFAULT_COOLDOWN_SECONDS = 600;
export const DEFAULT_CHECK_INTERVAL_SECONDS = 300;
export const MIN_SECONDS = 60;
/** Longest interval or cooldown accepted: a month, so a typo cannot silence a rule for years. */
export const MAX_SECONDS = 31 * 24 * 3600;

/** Applies the defaults and refuses what cannot work, naming every bad field. */
export function resolveSpec(draft: RuleDraft, maxTopUpAmount: bigint): RuleSpec {
  const errors: FieldError[] = [];
  const { trigger, topUp } = draft;
  if (topUp.amount > maxTopUpAmount) {
    errors.push({ field: 'topUp.amount', message: `must not exceed ${maxTopUpAmount} minor units` });
  }
  if (trigger.type === 'schedule') {
    const problem = scheduleProblem(trigger.cron, trigger.timezone);
    if (problem)
      errors.push({ field: problem.startsWith('timezone') ? 'trigger.timezone' : 'trigger.cron', message: problem });
    if (topUp.type === 'target') {
      errors.push({
        field: 'topUp.type',
        message: 'a target top-up needs a threshold trigger (it tops up to a quota)',
      });
    }
    if (draft.checkIntervalSeconds !== undefined && draft.checkIntervalSeconds !== null) {
      errors.push({ field: 'checkIntervalSeconds', message: 'only threshold rules have a check interval' });
    }
  } else if (topUp.type === 'target' && topUp.amount <= trigger.below) {
    errors.push({ field: 'topUp.amount', message: 'a target must be above the threshold it tops up from' });
  }
  const checkInterval =
    trigger.type === 'threshold' ? (draft.checkIntervalSeconds ?? DEFAULT_CHECK_INTERVAL_SECONDS) : null;
  const cooldown = draft.cooldownSeconds ?? DEFAULT_COOLDOWN_SECONDS;
  for (const [field, value] of [
    ['cooldownSeconds', cooldown],
    ['checkIntervalSeconds', checkInterval],
  ] as const) {
    if (value !== null && (value < MIN_SECONDS || value > MAX_SECONDS)) {
      errors.push({ field, message: `must be between ${MIN_SECONDS} and ${MAX_SECONDS} seconds` });
    }
  }
  if (errors.length > 0) throw new DomainError('INVALID_ARGUMENT', 'the rule is invalid', errors);
  return {
    accountId: draft.accountId,
    currency: draft.currency,
    trigger,
    topUp,
    limits: {
      maxAmountPerDay: draft.limits?.maxAmountPerDay ?? null,
      maxAmountPerMonth: draft.limits?.maxAmountPerMonth ?? null,
      maxCountPerDay: draft.limits?.maxCountPerDay ?? null,
      maxCountPerMonth: draft.limits?.maxCountPerMonth ?? null,
    },
    cooldownSeconds: cooldown,
    checkIntervalSeconds: checkInterval,
    callbackUrl: draft.callbackUrl,
    dryRun: draft.dryRun ?? false,
  };
}

/**
 * An auto-recharge rule. Fields change only through these methods (the repository hydrates them
 * directly). `dueAt` is when some replica should look at the rule next; a claim pushes it forward,
 * which makes it a lease too.
 */
export class Rule {
  id!: string;
  clientId!: string;
  spec!: RuleSpec;
  status!: RuleStatus;
  disabledReason!: string | null;
  consecutiveFailures!: number;
  /** The trigger number of the latest top-up: the `n` of `rule:<ruleId>:<n>`. */
  topUpSeq!: number;
  /** Schedule rules: the scheduled instant the next top-up is for. */
  nextSlotAt!: Date | null;
  lastEvaluatedAt!: Date | null;
  dueAt!: Date | null;
  deletedAt!: Date | null;
  createdAt!: Date;
  updatedAt!: Date;
  version!: number;

  static create(id: string, clientId: string, spec: RuleSpec, now: Date): Rule {
    const rule = Object.assign(new Rule(), {
      id,
      clientId,
      spec,
      status: 'active',
      disabledReason: null,
      consecutiveFailures: 0,
      topUpSeq: 0,
      nextSlotAt: null,
      lastEvaluatedAt: null,
      dueAt: null,
      deletedAt: null,
      createdAt: now,
      updatedAt: now,
      version: 1,
    } satisfies Partial<Rule>);
    rule.evaluateSoon(now);
    return rule;
  }

  get trigger(): RuleTrigger {
    return this.spec.trigger;
  }

  /** The zone of the day and month limits: the schedule's, else UTC. */
  get timezone(): string {
    return this.spec.trigger.type === 'schedule' ? this.spec.trigger.timezone : 'UTC';
  }

  /** Replaces the spec (PATCH) and/or the status; a rule that is or becomes active is evaluated at once. */
  change(spec: RuleSpec, status: 'active' | 'paused' | undefined, now: Date): void {
    this.assertNotDeleted();
    const scheduleChanged = JSON.stringify(scheduleOf(spec)) !== JSON.stringify(scheduleOf(this.spec));
    this.spec = spec;
    if (scheduleChanged) this.nextSlotAt = null;
    if (status !== undefined && this.status === 'disabled') {
      // Whoever takes a rule out of `disabled` has looked at why: its run of failures starts over.
      this.consecutiveFailures = 0;
      this.disabledReason = null;
    }
    if (status === 'paused') {
      this.status = 'paused';
      this.dueAt = null;
    } else if (status === 'active') {
      this.status = 'active';
    }
    this.updatedAt = now;
    if (this.status === 'active') this.evaluateSoon(now);
  }

  delete(now: Date): void {
    this.assertNotDeleted();
    this.deletedAt = now;
    this.dueAt = null;
    this.updatedAt = now;
  }

  /** Counts a finished top-up; after `failuresBeforeDisable` failures in a row the rule disables itself. */
  countOutcome(outcome: 'succeeded' | 'failed' | 'neutral', failuresBeforeDisable: number, now: Date): boolean {
    if (outcome === 'succeeded') this.consecutiveFailures = 0;
    if (outcome !== 'failed') return false;
    this.consecutiveFailures += 1;
    this.updatedAt = now;
    if (this.status !== 'active' || this.consecutiveFailures < failuresBeforeDisable) return false;
    this.status = 'disabled';
    this.disabledReason = `${this.consecutiveFailures} top-ups in a row did not succeed`;
    this.dueAt = null;
    return true;
  }

  /** Schedule rules: the slot the next evaluation is about (computed once, then kept until used). */
  currentSlot(now: Date): Date | null {
    const t = this.spec.trigger;
    if (t.type !== 'schedule') return null;
    this.nextSlotAt ??= nextRunAfter(t.cron, t.timezone, now);
    return this.nextSlotAt;
  }

  /** The slot has been handled (topped up, capped or dry-run): the next one is the first after now. */
  consumeSlot(now: Date): void {
    const t = this.spec.trigger;
    if (t.type === 'schedule') this.nextSlotAt = nextRunAfter(t.cron, t.timezone, now);
  }

  nextTopUpNumber(): number {
    this.topUpSeq += 1;
    return this.topUpSeq;
  }

  evaluated(now: Date, dueAt: Date | null): void {
    this.lastEvaluatedAt = now;
    this.dueAt = this.status === 'active' ? dueAt : null;
  }

  private evaluateSoon(now: Date): void {
    this.dueAt = now;
  }

  private assertNotDeleted(): void {
    if (this.deletedAt) throw new DomainError('NOT_FOUND', `rule ${this.id} not found`);
  }
}

const scheduleOf = (spec: RuleSpec) => (spec.trigger.type === 'schedule' ? spec.trigger : null);
