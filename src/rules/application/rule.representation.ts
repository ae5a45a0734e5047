import { newId } from '../../../libs/shared/ids';
import { Rule, RuleLimits } from '../domain/rule';
import { EvaluationRecord, RuleCallback, RuleView } from './ports/rule.repository';

const num = (v: bigint | null): number | null => (v === null ? null : Number(v));

export const presentEvaluation = (e: EvaluationRecord) => ({
  at: e.at.toISOString(),
  quota: num(e.quota),
  decision: e.decision,
  reason: e.reason,
  rechargeId: e.rechargeId,
});

function presentLimits(l: RuleLimits) {
  const limits: Record<string, number> = {};
  if (l.maxAmountPerDay !== null) limits.maxAmountPerDay = Number(l.maxAmountPerDay);
  if (l.maxAmountPerMonth !== null) limits.maxAmountPerMonth = Number(l.maxAmountPerMonth);
  if (l.maxCountPerDay !== null) limits.maxCountPerDay = l.maxCountPerDay;
  if (l.maxCountPerMonth !== null) limits.maxCountPerMonth = l.maxCountPerMonth;
  return limits;
}

/** The public rule: the fields of its body plus id, status, failures and the latest evaluation. */
export function presentRule(rule: Rule, lastEvaluation: EvaluationRecord | null = null) {
  const { spec } = rule;
  const t = spec.trigger;
  return {
    id: rule.id,
    accountId: spec.accountId,
    currency: spec.currency,
    trigger:
      t.type === 'threshold'
        ? { type: t.type, below: Number(t.below) }
        : { type: t.type, cron: t.cron, timezone: t.timezone },
    topUp: { type: spec.topUp.type, amount: Number(spec.topUp.amount) },
    limits: presentLimits(spec.limits),
    cooldownSeconds: spec.cooldownSeconds,
    checkIntervalSeconds: spec.checkIntervalSeconds,
    callbackUrl: spec.callbackUrl,
    dryRun: spec.dryRun,
    status: rule.status,
    disabledReason: rule.disabledReason,
    consecutiveFailures: rule.consecutiveFailures,
    lastEvaluation: lastEvaluation ? presentEvaluation(lastEvaluation) : null,
    createdAt: rule.createdAt.toISOString(),
    updatedAt: rule.updatedAt.toISOString(),
  };
}

export const presentRuleView = (v: RuleView) => presentRule(v.rule, v.lastEvaluation);

/** The `rule.disabled` CloudEvent for the rule's callbackUrl (signed and retried like recharge callbacks). */
export function ruleDisabledCallback(rule: Rule, at: Date): RuleCallback | null {
  if (!rule.spec.callbackUrl) return null;
  const id = newId('msg');
  const eventType = 'rule.disabled';
  const event = {
    specversion: '1.0',
    id,
    source: 'alicloud-recharge',
    type: eventType,
    subject: rule.id,
    time: at.toISOString(),
    datacontenttype: 'application/json',
    data: presentRule(rule),
  };
  return { id, url: rule.spec.callbackUrl, eventType, payload: JSON.stringify(event) };
}
