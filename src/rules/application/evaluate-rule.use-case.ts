import { Injectable, Logger } from '@nestjs/common';
import { Clock } from '../../../libs/shared/clock';
import { RechargeProvider } from '../../recharge/application/ports/recharge-provider';
import { Rule } from '../domain/rule';
import {
  consumesSlot,
  decide,
  EvaluationSettings,
  guards,
  LIMIT_WINDOW_MS,
  needsQuota,
  nextDue,
  QuotaReading,
  RuleState,
  settleTopUps,
  TopUpRecord,
  Verdict,
} from '../domain/rule-evaluation';
import { RuleTelemetry } from './ports/rule-telemetry';
import { EvaluationStep, RuleRepository } from './ports/rule.repository';
import { TopUpRecharges } from './ports/top-up-recharges';
import { ruleDisabledCallback } from './rule.representation';

export abstract class RuleSettings implements EvaluationSettings {
  abstract readonly maxTopUpAmount: bigint;
  abstract readonly failuresBeforeDisable: number;
  /** How long a claim keeps other replicas off a rule: longer than a quota read can wait for its slot. */
  abstract readonly leaseMs: number;
}

/**
 * One evaluation of one rule. The order is what makes it safe across replicas, crashes and a
 * lagging provider: finish a top-up a crash left half-made; check the cheap guards without a lock
 * (to spend no quota read on a rule that cannot top up); read the quota; then decide again under
 * the rule's row lock, where a top-up in flight, a quota read older than the last top-up's final
 * state, the cooldown and the limits are checked against what is committed; record the top-up
 * intent (trigger number n) in that transaction; only then create the recharge, under the
 * idempotency key `rule:<ruleId>:<n>`, so a retry or a second replica can only replay it.
 */
@Injectable()
export class EvaluateRuleUseCase {
  private readonly logger = new Logger('Rules');

  constructor(
    private readonly rules: RuleRepository,
    private readonly provider: RechargeProvider,
    private readonly topUps: TopUpRecharges,
    private readonly telemetry: RuleTelemetry,
    private readonly settings: RuleSettings,
    private readonly clock: Clock,
  ) {}

  claimDue(limit: number): Promise<string[]> {
    const now = this.clock.now();
    return this.rules.claimDue(limit, now, new Date(now.getTime() + this.settings.leaseMs));
  }

  /** Evaluates the rule now; returns what was decided (null when the rule is gone). */
  async evaluate(ruleId: string): Promise<Verdict | null> {
    const since = () => new Date(this.clock.now().getTime() - LIMIT_WINDOW_MS);
    const state = await this.rules.load(ruleId, since());
    if (!state || state.rule.deletedAt) return null;
    const unfinished = state.topUps.find((t) => t.outcome === 'open' && t.rechargeId === null);
    if (unfinished) await this.createTopUp(state.rule, unfinished);

    const early = guards(state, this.clock.now());
    let reading: QuotaReading | null = null;
    if (!early && needsQuota(state.rule)) reading = await this.readQuota(state.rule);

    let disabled = false;
    const step = await this.rules.evaluate(ruleId, since(), (locked) => {
      const at = this.clock.now();
      const settled = settleTopUps(locked, this.settings.failuresBeforeDisable, at);
      disabled = settled.disabled;
      // No reading was taken because a guard said no a moment ago: it stands unless a guard says
      // something newer (the lock may have waited for a concurrent evaluation).
      const verdict =
        reading || !needsQuota(locked.rule)
          ? decide(locked, at, reading, this.settings)
          : (guards(locked, at) ?? early!);
      return this.record(locked, verdict, settled.settled, at, disabled);
    });
    if (!step) return null;
    this.telemetry.evaluation(step.verdict.decision);
    if (disabled) {
      this.telemetry.disabledRules(await this.rules.countDisabled());
      this.logger.warn(
        { ruleId, clientId: state.rule.clientId, accountId: state.rule.spec.accountId },
        `rule ${ruleId} disabled: ${step.verdict.reason}`,
      );
    }
    if (step.newTopUp) {
      await this.createTopUp(state.rule, {
        ...step.newTopUp,
        rechargeId: null,
        outcome: 'open',
        completedAt: null,
        settled: false,
      });
    }
    return step.verdict;
  }

  private record(state: RuleState, verdict: Verdict, settled: number[], at: Date, disabled: boolean): EvaluationStep {
    const { rule } = state;
    if (disabled) {
      verdict = { decision: 'disabled', reason: rule.disabledReason ?? 'disabled', quota: verdict.quota };
    }
    const slotAt = rule.spec.trigger.type === 'schedule' ? rule.currentSlot(at) : null;
    const newTopUp =
      verdict.decision === 'topped_up'
        ? {
            n: rule.nextTopUpNumber(),
            amount: verdict.amount!,
            slotAt,
            callbackUrl: rule.spec.callbackUrl,
            createdAt: at,
          }
        : null;
    if (newTopUp) {
      state.topUps.push({ ...newTopUp, rechargeId: null, outcome: 'open', completedAt: null, settled: false });
    }
    if (consumesSlot(verdict.decision)) rule.consumeSlot(at);
    rule.evaluated(at, nextDue(state, verdict, at));
    return { at, verdict, settled, newTopUp, callback: disabled ? ruleDisabledCallback(rule, at) : null };
  }

  private async readQuota(rule: Rule): Promise<QuotaReading> {
    const readAt = this.clock.now();
    try {
      const quota = await this.provider.availableQuota(rule.spec.accountId, rule.spec.currency);
      return { amount: quota.available.minor, readAt };
    } catch (err) {
      return { unavailable: err instanceof Error ? err.message : String(err), readAt };
    }
  }

  /** Creates (or replays) the recharge of top-up `n`. A failure other than a refusal leaves it for the next evaluation. */
  private async createTopUp(rule: Rule, topUp: TopUpRecord): Promise<void> {
    const result = await this.topUps.create({
      clientId: rule.clientId,
      ruleId: rule.id,
      n: topUp.n,
      accountId: rule.spec.accountId,
      amount: topUp.amount,
      currency: rule.spec.currency,
      callbackUrl: topUp.callbackUrl,
    });
    if (result.kind === 'created') {
      await this.rules.linkTopUp(rule.id, topUp.n, result.rechargeId);
      this.logger.log(
        { ruleId: rule.id, rechargeId: result.rechargeId, n: topUp.n, amount: topUp.amount.toString() },
        `rule ${rule.id} top-up ${topUp.n}: recharge ${result.rechargeId} of ${topUp.amount}`,
      );
    } else {
      await this.rules.refuseTopUp(rule.id, topUp.n, result.reason);
      this.logger.warn({ ruleId: rule.id, n: topUp.n }, `rule ${rule.id} top-up ${topUp.n} refused: ${result.reason}`);
    }
  }
}
