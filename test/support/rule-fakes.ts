import { Clock } from '../../libs/shared/clock';
import { DomainError } from '../../libs/shared/domain-error';
import { Page } from '../../src/recharge/application/ports/page';
import {
  AvailableQuota,
  ProviderOutcome,
  RechargeProvider,
} from '../../src/recharge/application/ports/recharge-provider';
import { Currency, Money } from '../../src/recharge/domain/money';
import { EvaluateRuleUseCase, RuleSettings } from '../../src/rules/application/evaluate-rule.use-case';
import { RuleTelemetry } from '../../src/rules/application/ports/rule-telemetry';
import {
  EvaluationRecord,
  EvaluationStep,
  RuleCallback,
  RuleListQuery,
  RuleRepository,
  RuleView,
} from '../../src/rules/application/ports/rule.repository';
import {
  TopUpRecharges,
  TopUpRequest,
  TopUpResult,
  topUpIdempotencyKey,
} from '../../src/rules/application/ports/top-up-recharges';
import { Rule } from '../../src/rules/domain/rule';
import { Decision, RuleState, TopUpOutcome, TopUpRecord } from '../../src/rules/domain/rule-evaluation';

/** Time that moves only when the test says so. */
export class FakeClock extends Clock {
  constructor(private current: Date) {
    super();
  }
  now(): Date {
    return new Date(this.current);
  }
  set(at: Date | string): void {
    this.current = new Date(at);
  }
  advance(ms: number): void {
    this.current = new Date(this.current.getTime() + ms);
  }
}

interface FakeRecharge {
  id: string;
  key: string;
  request: TopUpRequest;
  state: 'open' | 'SUCCEEDED' | 'FAILED' | 'CANCELED';
  failureCode: string | null;
  completedAt: Date | null;
}

/** Recharges as the rules see them: created once per idempotency key, finished by the test. */
export class FakeTopUps extends TopUpRecharges {
  readonly recharges: FakeRecharge[] = [];
  /** Set to make the next creations fail as a crash or a database error would (not a refusal). */
  failNext = 0;
  refuseWith: string | null = null;
  /** Finish every new recharge at once (schedule tests); null leaves them open. */
  autoFinish: 'SUCCEEDED' | 'FAILED' | null = null;

  constructor(private readonly clock: Clock) {
    super();
  }

  async create(r: TopUpRequest): Promise<TopUpResult> {
    await Promise.resolve();
    if (this.failNext > 0) {
      this.failNext -= 1;
      throw new Error('connection terminated (simulated crash)');
    }
    if (this.refuseWith) return { kind: 'refused', reason: this.refuseWith };
    const key = topUpIdempotencyKey(r.ruleId, r.n);
    const existing = this.recharges.find((x) => x.key === key);
    if (existing) return { kind: 'created', rechargeId: existing.id };
    const recharge: FakeRecharge = {
      id: `rch_${String(this.recharges.length + 1).padStart(32, '0')}`,
      key,
      request: r,
      state: 'open',
      failureCode: null,
      completedAt: null,
    };
    this.recharges.push(recharge);
    if (this.autoFinish) this.finish(recharge.id, this.autoFinish);
    return { kind: 'created', rechargeId: recharge.id };
  }

  finish(id: string, state: 'SUCCEEDED' | 'FAILED' | 'CANCELED', failureCode: string | null = null): void {
    const r = this.recharges.find((x) => x.id === id)!;
    r.state = state;
    r.failureCode = state === 'FAILED' ? (failureCode ?? 'PROVIDER_REJECTED') : null;
    r.completedAt = this.clock.now();
  }

  get last(): FakeRecharge {
    return this.recharges[this.recharges.length - 1];
  }

  outcomeOf(id: string | null): { outcome: TopUpOutcome; completedAt: Date | null } {
    const r = this.recharges.find((x) => x.id === id);
    if (!r || r.state === 'open') return { outcome: 'open', completedAt: null };
    const outcome: TopUpOutcome =
      r.state === 'SUCCEEDED'
        ? 'succeeded'
        : r.state === 'CANCELED'
          ? 'canceled'
          : r.failureCode === 'TIMEOUT'
            ? 'failed_unknown'
            : 'failed';
    return { outcome, completedAt: r.completedAt };
  }
}

interface StoredTopUp {
  n: number;
  amount: bigint;
  slotAt: Date | null;
  callbackUrl: string | null;
  createdAt: Date;
  rechargeId: string | null;
  refused: string | null;
  settled: boolean;
}

const copy = (rule: Rule): Rule => Object.assign(new Rule(), { ...rule });

/**
 * The rule repository in memory. `evaluate` runs its synchronous `decide` without awaiting in
 * between, which is what the row lock gives the real one.
 */
export class InMemoryRuleRepository extends RuleRepository {
  readonly rules = new Map<string, Rule>();
  readonly topUps = new Map<string, StoredTopUp[]>();
  readonly evaluationLog: Array<EvaluationRecord & { ruleId: string; n: number | null }> = [];
  readonly callbacks: RuleCallback[] = [];

  constructor(private readonly recharges: FakeTopUps) {
    super();
  }

  async create(rule: Rule): Promise<void> {
    for (const r of this.rules.values()) {
      if (
        r.status === 'active' &&
        !r.deletedAt &&
        rule.status === 'active' &&
        r.clientId === rule.clientId &&
        r.spec.accountId === rule.spec.accountId &&
        r.spec.currency === rule.spec.currency
      ) {
        throw new DomainError('INVALID_STATE', 'this client already has an active rule for this account and currency');
      }
    }
    this.rules.set(rule.id, copy(rule));
    this.topUps.set(rule.id, []);
  }

  async find(id: string): Promise<RuleView | null> {
    const r = this.rules.get(id);
    if (!r || r.deletedAt) return null;
    return { rule: copy(r), lastEvaluation: this.evaluationLog.filter((e) => e.ruleId === id).at(-1) ?? null };
  }

  async list(q: RuleListQuery): Promise<Page<RuleView>> {
    const data = [...this.rules.values()]
      .filter((r) => r.clientId === q.clientId && !r.deletedAt)
      .map((r) => ({ rule: copy(r), lastEvaluation: null }));
    return { data, nextCursor: null };
  }

  async update(id: string, change: (rule: Rule) => void): Promise<Rule | null> {
    const r = this.rules.get(id);
    if (!r || r.deletedAt) return null;
    const next = copy(r);
    change(next);
    this.rules.set(id, copy(next));
    return next;
  }

  async claimDue(limit: number, now: Date, leaseUntil: Date): Promise<string[]> {
    const due = [...this.rules.values()]
      .filter((r) => r.status === 'active' && !r.deletedAt && r.dueAt && r.dueAt <= now)
      .slice(0, limit);
    for (const r of due) r.dueAt = leaseUntil;
    return due.map((r) => r.id);
  }

  async load(id: string, since: Date): Promise<RuleState | null> {
    await Promise.resolve();
    return this.state(id, since);
  }

  async evaluate(id: string, since: Date, decide: (s: RuleState) => EvaluationStep): Promise<EvaluationStep | null> {
    await Promise.resolve();
    const state = this.state(id, since);
    if (!state || state.rule.deletedAt) return null;
    const step = decide(state);
    this.rules.set(id, copy(state.rule));
    const stored = this.topUps.get(id)!;
    for (const n of step.settled) stored.find((t) => t.n === n)!.settled = true;
    if (step.newTopUp) {
      if (stored.some((t) => t.n === step.newTopUp!.n)) throw new Error(`duplicate top-up ${step.newTopUp.n}`);
      if (step.newTopUp.slotAt && stored.some((t) => t.slotAt?.getTime() === step.newTopUp!.slotAt!.getTime())) {
        throw new Error(`second top-up for slot ${step.newTopUp.slotAt.toISOString()}`);
      }
      stored.push({ ...step.newTopUp, rechargeId: null, refused: null, settled: false });
    }
    this.evaluationLog.push({
      id: String(this.evaluationLog.length + 1),
      ruleId: id,
      at: step.at,
      quota: step.verdict.quota,
      decision: step.verdict.decision,
      reason: step.verdict.reason,
      rechargeId: null,
      n: step.newTopUp?.n ?? null,
    });
    if (step.callback) this.callbacks.push(step.callback);
    return step;
  }

  async linkTopUp(ruleId: string, n: number, rechargeId: string): Promise<void> {
    const t = this.topUps.get(ruleId)!.find((x) => x.n === n)!;
    t.rechargeId ??= rechargeId;
  }

  async refuseTopUp(ruleId: string, n: number, reason: string): Promise<void> {
    const t = this.topUps.get(ruleId)!.find((x) => x.n === n)!;
    if (t.rechargeId === null) t.refused = reason;
  }

  async evaluations(ruleId: string, limit: number): Promise<Page<EvaluationRecord>> {
    const data = this.evaluationLog
      .filter((e) => e.ruleId === ruleId)
      .reverse()
      .slice(0, limit);
    return { data, nextCursor: null };
  }

  async countDisabled(): Promise<number> {
    return [...this.rules.values()].filter((r) => r.status === 'disabled' && !r.deletedAt).length;
  }

  decisions(ruleId: string): Decision[] {
    return this.evaluationLog.filter((e) => e.ruleId === ruleId).map((e) => e.decision);
  }

  private state(id: string, since: Date): RuleState | null {
    const rule = this.rules.get(id);
    if (!rule) return null;
    const stored = this.topUps.get(id)!;
    const maxN = Math.max(0, ...stored.map((t) => t.n));
    const topUps: TopUpRecord[] = stored
      .filter((t) => t.createdAt >= since || !t.settled || t.n === maxN)
      .map((t) => {
        const { outcome, completedAt } = t.refused
          ? { outcome: 'refused' as const, completedAt: null }
          : t.rechargeId
            ? this.recharges.outcomeOf(t.rechargeId)
            : { outcome: 'open' as const, completedAt: null };
        return {
          n: t.n,
          amount: t.amount,
          slotAt: t.slotAt,
          callbackUrl: t.callbackUrl,
          createdAt: t.createdAt,
          rechargeId: t.rechargeId,
          outcome,
          completedAt,
          settled: t.settled,
        };
      });
    return { rule: copy(rule), topUps };
  }
}

/** The provider's quota answer, set by the test; `hold()` keeps the next read in flight until released. */
export class FakeQuotaProvider extends RechargeProvider {
  quota = 0n;
  failWith: string | null = null;
  reads = 0;
  private gate: { promise: Promise<void>; release: () => void } | null = null;

  async submitCredit(): Promise<ProviderOutcome> {
    throw new Error('rules never send credits themselves');
  }

  async availableQuota(accountId: string, currency: Currency): Promise<AvailableQuota> {
    this.reads += 1;
    // The value is the provider's at the moment the query arrives, even if the answer is late.
    const answer = this.quota;
    const failure = this.failWith;
    const gate = this.gate;
    this.gate = null;
    if (gate) await gate.promise;
    if (failure) throw new DomainError('PROVIDER_ERROR', failure);
    return { accountId, available: Money.of(answer, currency) };
  }

  /** The next read is answered only when `release` is called. */
  hold(): () => void {
    let release!: () => void;
    const promise = new Promise<void>((resolve) => (release = resolve));
    this.gate = { promise, release };
    return release;
  }
}

export class FakeRuleTelemetry extends RuleTelemetry {
  readonly decisions: Decision[] = [];
  disabled = 0;
  evaluation(decision: Decision): void {
    this.decisions.push(decision);
  }
  disabledRules(count: number): void {
    this.disabled = count;
  }
}

export interface RuleRig {
  clock: FakeClock;
  topUps: FakeTopUps;
  repo: InMemoryRuleRepository;
  provider: FakeQuotaProvider;
  telemetry: FakeRuleTelemetry;
  useCase: EvaluateRuleUseCase;
  /** A second replica's use case over the same state. */
  replica(): EvaluateRuleUseCase;
}

export function ruleRig(start = '2026-12-03T10:00:00Z', failuresBeforeDisable = 3): RuleRig {
  const clock = new FakeClock(new Date(start));
  const topUps = new FakeTopUps(clock);
  const repo = new InMemoryRuleRepository(topUps);
  const provider = new FakeQuotaProvider();
  const telemetry = new FakeRuleTelemetry();
  const settings: RuleSettings = { maxTopUpAmount: 100_000_000n, failuresBeforeDisable, leaseMs: 120_000 };
  const replica = () => new EvaluateRuleUseCase(repo, provider, topUps, telemetry, settings, clock);
  return { clock, topUps, repo, provider, telemetry, useCase: replica(), replica };
}
