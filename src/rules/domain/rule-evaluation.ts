import { Rule } from './rule';
import { localDay } from './schedule';

export const DECISIONS = [
  'topped_up',
  'above_threshold',
  'not_due',
  'pending',
  'cooldown',
  'cap_reached',
  'quota_unavailable',
  'dry_run',
  'paused',
  'disabled',
] as const;
export type Decision = (typeof DECISIONS)[number];

/**
 * Where a top-up of the rule stands. `open`: not final (or not yet created); `failed_unknown`:
 * FAILED by our own TIMEOUT, so the money may have moved; `failed`: certainly not applied;
 * `refused`: the recharge could not even be created (policy, revoked access).
 */
export type TopUpOutcome = 'open' | 'succeeded' | 'failed_unknown' | 'failed' | 'canceled' | 'refused';

export interface TopUpRecord {
  n: number;
  amount: bigint;
  slotAt: Date | null;
  /** The rule's callbackUrl when the trigger fired: part of the recharge request. */
  callbackUrl: string | null;
  createdAt: Date;
  rechargeId: string | null;
  outcome: TopUpOutcome;
  /** When the recharge became final (null while open). */
  completedAt: Date | null;
  /** Already counted into consecutiveFailures. */
  settled: boolean;
}

/** A rule with its top-ups of the last month or so (all unsettled ones, and always the latest). */
export interface RuleState {
  rule: Rule;
  topUps: TopUpRecord[];
}

/** The account's available quota at the provider, and when we asked (before sending the query). */
export type QuotaReading = { amount: bigint; readAt: Date } | { unavailable: string; readAt: Date };

export interface Verdict {
  decision: Decision;
  reason: string;
  quota: bigint | null;
  /** For topped_up: the amount to top up (dry_run: the amount it would have been). */
  amount?: bigint;
}

export interface EvaluationSettings {
  maxTopUpAmount: bigint;
  failuresBeforeDisable: number;
}

/** How soon a rule with a top-up in flight is looked at again (to settle it), at the latest. */
export const SETTLE_POLL_MS = 60_000;
/** How far back top-ups count for the limits: a calendar month in any zone fits. */
export const LIMIT_WINDOW_MS = 32 * 24 * 3600 * 1000;

/** Top-ups that may have moved money count against the limits; certainly-not-applied ones do not. */
const countsAgainstLimits = (t: TopUpRecord): boolean =>
  t.outcome === 'open' || t.outcome === 'succeeded' || t.outcome === 'failed_unknown';

const latest = (topUps: TopUpRecord[]): TopUpRecord | undefined =>
  topUps.reduce<TopUpRecord | undefined>((a, t) => (!a || t.n > a.n ? t : a), undefined);

export const needsQuota = (rule: Rule): boolean =>
  rule.spec.trigger.type === 'threshold' || rule.spec.topUp.type === 'target';

/**
 * Counts finished top-ups into the rule's run of failures, oldest first. Returns the numbers it
 * settled and whether the rule has just disabled itself.
 */
export function settleTopUps(
  state: RuleState,
  failuresBeforeDisable: number,
  now: Date,
): { settled: number[]; disabled: boolean } {
  const settled: number[] = [];
  let disabled = false;
  for (const t of [...state.topUps].sort((a, b) => a.n - b.n)) {
    if (t.settled || t.outcome === 'open') continue;
    const kind =
      t.outcome === 'succeeded'
        ? 'succeeded'
        : t.outcome === 'failed' || t.outcome === 'failed_unknown' || t.outcome === 'refused'
          ? 'failed'
          : 'neutral';
    disabled = state.rule.countOutcome(kind, failuresBeforeDisable, now) || disabled;
    t.settled = true;
    settled.push(t.n);
  }
  return { settled, disabled };
}

/**
 * The guards that need no quota: status, a top-up in flight, the schedule, the cooldown and the
 * limits that the amount does not decide. Null when the rule may go on to read the quota.
 */
export function guards(state: RuleState, now: Date): Verdict | null {
  const { rule, topUps } = state;
  const verdict = (decision: Decision, reason: string): Verdict => ({ decision, reason, quota: null });
  if (rule.status === 'paused') return verdict('paused', 'the rule is paused');
  if (rule.status === 'disabled') return verdict('disabled', rule.disabledReason ?? 'the rule is disabled');
  const open = topUps.find((t) => t.outcome === 'open');
  if (open) {
    return verdict(
      'pending',
      open.rechargeId ? `top-up ${open.n} (${open.rechargeId}) is not final yet` : `top-up ${open.n} is being created`,
    );
  }
  const slot = rule.currentSlot(now);
  if (slot && slot > now) return verdict('not_due', `next scheduled top-up at ${slot.toISOString()}`);
  const last = latest(topUps);
  if (last) {
    const until = new Date(last.createdAt.getTime() + rule.spec.cooldownSeconds * 1000);
    if (until > now) return verdict('cooldown', `cooling down after top-up ${last.n} until ${until.toISOString()}`);
  }
  return limitReached(state, now, 0n);
}

/**
 * The whole decision, given a quota reading (null when the rule needs none). Runs under the rule's
 * row lock, so every guard sees the top-ups as they are at that moment.
 */
export function decide(
  state: RuleState,
  now: Date,
  reading: QuotaReading | null,
  settings: EvaluationSettings,
): Verdict {
  const guarded = guards(state, now);
  if (guarded) return guarded;
  const { rule, topUps } = state;
  let quota: bigint | null = null;
  if (needsQuota(rule)) {
    if (!reading) return { decision: 'pending', reason: 'no quota reading yet', quota: null };
    if ('unavailable' in reading) {
      return { decision: 'quota_unavailable', reason: `quota read failed: ${reading.unavailable}`, quota: null };
    }
    quota = reading.amount;
    // The provider's quota lags our credit: a reading sent before the last top-up became final may
    // not include it, and topping up on it would pay twice.
    const finishedAfterRead = topUps.find((t) => t.completedAt && t.completedAt >= reading.readAt);
    if (finishedAfterRead) {
      return {
        decision: 'pending',
        reason: `the quota was read at ${reading.readAt.toISOString()}, before top-up ${finishedAfterRead.n} became final at ${finishedAfterRead.completedAt!.toISOString()}`,
        quota,
      };
    }
    const t = rule.spec.trigger;
    if (t.type === 'threshold' && quota >= t.below) {
      return { decision: 'above_threshold', reason: `quota ${quota} is not below ${t.below}`, quota };
    }
  }
  const topUp = rule.spec.topUp;
  const amount = topUp.type === 'fixed' ? topUp.amount : topUp.amount - quota!;
  if (amount <= 0n) {
    return { decision: 'above_threshold', reason: `quota ${quota} is already at or above the target`, quota };
  }
  if (amount > settings.maxTopUpAmount) {
    return {
      decision: 'cap_reached',
      reason: `a top-up of ${amount} would exceed the largest recharge (${settings.maxTopUpAmount})`,
      quota,
    };
  }
  const capped = limitReached(state, now, amount);
  if (capped) return { ...capped, quota };
  if (rule.spec.dryRun) return { decision: 'dry_run', reason: `would top up ${amount}`, quota, amount };
  return { decision: 'topped_up', reason: `topping up ${amount}`, quota, amount };
}

/** The day and month limits (in the rule's zone) that one more top-up of `amount` would pass. */
function limitReached(state: RuleState, now: Date, amount: bigint): Verdict | null {
  const { rule } = state;
  const { maxAmountPerDay, maxAmountPerMonth, maxCountPerDay, maxCountPerMonth } = rule.spec.limits;
  const zone = rule.timezone;
  const today = localDay(now, zone);
  const counted = state.topUps.filter(countsAgainstLimits);
  const day = counted.filter((t) => localDay(t.createdAt, zone) === today);
  const month = counted.filter((t) => localDay(t.createdAt, zone).slice(0, 7) === today.slice(0, 7));
  const sum = (ts: TopUpRecord[]) => ts.reduce((s, t) => s + t.amount, 0n);
  const checks: Array<[boolean, string]> = [
    [
      maxCountPerDay !== null && day.length + 1 > maxCountPerDay,
      `${day.length} top-ups today (limit ${maxCountPerDay})`,
    ],
    [
      maxCountPerMonth !== null && month.length + 1 > maxCountPerMonth,
      `${month.length} top-ups this month (limit ${maxCountPerMonth})`,
    ],
    [
      maxAmountPerDay !== null && sum(day) + (amount || 1n) > maxAmountPerDay,
      `${sum(day)} topped up today${amount ? ` + ${amount}` : ''} would pass the daily limit ${maxAmountPerDay}`,
    ],
    [
      maxAmountPerMonth !== null && sum(month) + (amount || 1n) > maxAmountPerMonth,
      `${sum(month)} topped up this month${amount ? ` + ${amount}` : ''} would pass the monthly limit ${maxAmountPerMonth}`,
    ],
  ];
  const hit = checks.find(([reached]) => reached);
  return hit ? { decision: 'cap_reached', reason: `${hit[1]} (${zone})`, quota: null } : null;
}

/**
 * When to look at the rule again. Threshold rules every check interval; schedules at their next
 * slot; sooner while a top-up is in flight (to settle it) or when the cooldown ends before that.
 */
export function nextDue(state: RuleState, verdict: Verdict, now: Date): Date {
  const { rule } = state;
  const t = now.getTime();
  let due =
    rule.spec.trigger.type === 'threshold'
      ? t + rule.spec.checkIntervalSeconds! * 1000
      : (rule.currentSlot(now)?.getTime() ?? t + SETTLE_POLL_MS);
  if (verdict.decision === 'topped_up' || verdict.decision === 'pending') due = Math.min(due, t + SETTLE_POLL_MS);
  if (verdict.decision === 'cooldown' && rule.spec.trigger.type === 'schedule') {
    const last = latest(state.topUps)!;
    due = Math.max(t + 1000, last.createdAt.getTime() + rule.spec.cooldownSeconds * 1000);
  }
  return new Date(due);
}

/** Whether a decision used up the schedule slot (it is not retried within the same period). */
export const consumesSlot = (decision: Decision): boolean =>
  decision === 'topped_up' || decision === 'cap_reached' || decision === 'dry_run';
