import { Statement } from '../../database/pg-statements';
import { Currency } from '../../recharge/domain/money';
import { Rule, RuleStatus, RuleTrigger } from '../domain/rule';
import { Decision, TopUpOutcome, TopUpRecord } from '../domain/rule-evaluation';
import { EvaluationRecord } from '../application/ports/rule.repository';

/**
 * Every statement the rules run, with their row mapping: the only place that knows the columns
 * of `rules`, `rule_top_ups` and `rule_evaluations`.
 */

const RULE_COLUMNS = `r.id, r.client_id, r.account_id, r.currency, r.trigger_type, r.threshold_below, r.schedule_cron,
  r.schedule_timezone, r.top_up_type, r.top_up_amount, r.max_amount_per_day, r.max_amount_per_month, r.max_count_per_day,
  r.max_count_per_month, r.cooldown_seconds, r.check_interval_seconds, r.callback_url, r.dry_run, r.status,
  r.disabled_reason, r.consecutive_failures, r.top_up_seq, r.next_slot_at, r.last_evaluated_at, r.due_at, r.deleted_at,
  r.created_at, r.updated_at, r.version`;

/** The latest evaluation of each rule, joined to its recharge. */
const LAST_EVALUATION = `LEFT JOIN LATERAL (
    SELECT e.id AS e_id, e.at AS e_at, e.quota AS e_quota, e.decision AS e_decision, e.reason AS e_reason,
      t.recharge_id AS e_recharge_id
    FROM rule_evaluations e LEFT JOIN rule_top_ups t ON t.rule_id = e.rule_id AND t.n = e.top_up_n
    WHERE e.rule_id = r.id ORDER BY e.id DESC LIMIT 1) le ON true`;

export interface RuleRow {
  id: string;
  client_id: string;
  account_id: string;
  currency: Currency;
  trigger_type: 'threshold' | 'schedule';
  threshold_below: string | null;
  schedule_cron: string | null;
  schedule_timezone: string | null;
  top_up_type: 'fixed' | 'target';
  top_up_amount: string;
  max_amount_per_day: string | null;
  max_amount_per_month: string | null;
  max_count_per_day: number | null;
  max_count_per_month: number | null;
  cooldown_seconds: number;
  check_interval_seconds: number | null;
  callback_url: string | null;
  dry_run: boolean;
  status: RuleStatus;
  disabled_reason: string | null;
  consecutive_failures: number;
  top_up_seq: number;
  next_slot_at: string | Date | null;
  last_evaluated_at: string | Date | null;
  due_at: string | Date | null;
  deleted_at: string | Date | null;
  created_at: string | Date;
  updated_at: string | Date;
  version: number;
}

export interface LastEvaluationColumns {
  e_id: string | null;
  e_at: string | Date | null;
  e_quota: string | null;
  e_decision: Decision | null;
  e_reason: string | null;
  e_recharge_id: string | null;
}

const date = (v: string | Date | null): Date | null => (v === null ? null : new Date(v));
const big = (v: string | null): bigint | null => (v === null ? null : BigInt(v));

/** The aggregate as stored (loading runs no domain rules). */
export function ruleFromRow(row: RuleRow): Rule {
  const trigger: RuleTrigger =
    row.trigger_type === 'threshold'
      ? { type: 'threshold', below: BigInt(row.threshold_below!) }
      : { type: 'schedule', cron: row.schedule_cron!, timezone: row.schedule_timezone! };
  return Object.assign(new Rule(), {
    id: row.id,
    clientId: row.client_id,
    spec: {
      accountId: row.account_id,
      currency: row.currency,
      trigger,
      topUp: { type: row.top_up_type, amount: BigInt(row.top_up_amount) },
      limits: {
        maxAmountPerDay: big(row.max_amount_per_day),
        maxAmountPerMonth: big(row.max_amount_per_month),
        maxCountPerDay: row.max_count_per_day,
        maxCountPerMonth: row.max_count_per_month,
      },
      cooldownSeconds: row.cooldown_seconds,
      checkIntervalSeconds: row.check_interval_seconds,
      callbackUrl: row.callback_url,
      dryRun: row.dry_run,
    },
    status: row.status,
    disabledReason: row.disabled_reason,
    consecutiveFailures: row.consecutive_failures,
    topUpSeq: row.top_up_seq,
    nextSlotAt: date(row.next_slot_at),
    lastEvaluatedAt: date(row.last_evaluated_at),
    dueAt: date(row.due_at),
    deletedAt: date(row.deleted_at),
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
    version: row.version,
  });
}

export function lastEvaluationFromRow(row: LastEvaluationColumns): EvaluationRecord | null {
  if (row.e_id === null) return null;
  return {
    id: String(row.e_id),
    at: new Date(row.e_at!),
    quota: big(row.e_quota),
    decision: row.e_decision!,
    reason: row.e_reason!,
    rechargeId: row.e_recharge_id,
  };
}

/** Every column of a rule, in INSERT_RULE's and UPDATE_RULE's parameter order. */
export function ruleColumns(r: Rule): unknown[] {
  const { spec } = r;
  const t = spec.trigger;
  const text = (v: bigint | null) => (v === null ? null : v.toString());
  return [
    r.id,
    r.clientId,
    spec.accountId,
    spec.currency,
    t.type,
    t.type === 'threshold' ? t.below.toString() : null,
    t.type === 'schedule' ? t.cron : null,
    t.type === 'schedule' ? t.timezone : null,
    spec.topUp.type,
    spec.topUp.amount.toString(),
    text(spec.limits.maxAmountPerDay),
    text(spec.limits.maxAmountPerMonth),
    spec.limits.maxCountPerDay,
    spec.limits.maxCountPerMonth,
    spec.cooldownSeconds,
    spec.checkIntervalSeconds,
    spec.callbackUrl,
    spec.dryRun,
    r.status,
    r.disabledReason,
    r.consecutiveFailures,
    r.topUpSeq,
    r.nextSlotAt,
    r.lastEvaluatedAt,
    r.dueAt,
    r.deletedAt,
    r.createdAt,
    r.updatedAt,
  ];
}

export const INSERT_RULE: Statement = {
  name: 'rule_insert_v1',
  text: `INSERT INTO rules (id, client_id, account_id, currency, trigger_type, threshold_below, schedule_cron, schedule_timezone,
      top_up_type, top_up_amount, max_amount_per_day, max_amount_per_month, max_count_per_day, max_count_per_month,
      cooldown_seconds, check_interval_seconds, callback_url, dry_run, status, disabled_reason, consecutive_failures,
      top_up_seq, next_slot_at, last_evaluated_at, due_at, deleted_at, created_at, updated_at, version)
    VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24,
      $25, $26, $27, $28, 1)`,
};

/** Id and client never change; every other column is written back as the aggregate left it. */
export const UPDATE_RULE: Statement = {
  name: 'rule_update_v1',
  text: `UPDATE rules SET account_id = $3, currency = $4, trigger_type = $5, threshold_below = $6, schedule_cron = $7,
      schedule_timezone = $8, top_up_type = $9, top_up_amount = $10, max_amount_per_day = $11, max_amount_per_month = $12,
      max_count_per_day = $13, max_count_per_month = $14, cooldown_seconds = $15, check_interval_seconds = $16,
      callback_url = $17, dry_run = $18, status = $19, disabled_reason = $20, consecutive_failures = $21, top_up_seq = $22,
      next_slot_at = $23, last_evaluated_at = $24, due_at = $25, deleted_at = $26, created_at = $27, updated_at = $28,
      version = version + 1
    WHERE id = $1 AND client_id = $2 RETURNING version`,
};

export const FIND_RULE: Statement = {
  name: 'rule_find_v1',
  text: `SELECT ${RULE_COLUMNS}, le.* FROM rules r ${LAST_EVALUATION} WHERE r.id = $1 AND r.deleted_at IS NULL`,
};

export const LOAD_RULE: Statement = {
  name: 'rule_load_v1',
  text: `SELECT ${RULE_COLUMNS} FROM rules r WHERE r.id = $1`,
};

export const LOCK_RULE: Statement = {
  name: 'rule_lock_v1',
  text: `SELECT ${RULE_COLUMNS} FROM rules r WHERE r.id = $1 FOR UPDATE`,
};

export const LIST_RULES: Statement = {
  name: 'rule_list_v1',
  text: `SELECT ${RULE_COLUMNS}, le.* FROM rules r ${LAST_EVALUATION}
    WHERE ($1::text IS NULL OR r.client_id = $1) AND r.deleted_at IS NULL AND ($2::text IS NULL OR r.account_id = $2)
      AND ($3::text IS NULL OR r.status = $3) AND ($4::text IS NULL OR r.id < $4)
    ORDER BY r.id DESC LIMIT $5`,
};

export const CLAIM_DUE_RULES: Statement = {
  name: 'rule_claim_due_v1',
  text: `UPDATE rules SET due_at = $1
    WHERE id IN (
      SELECT r.id FROM rules r JOIN clients c ON c.id = r.client_id
      WHERE r.status = 'active' AND r.deleted_at IS NULL AND r.due_at <= $2 AND c.revoked_at IS NULL
      ORDER BY r.due_at
      LIMIT $3
      FOR UPDATE OF r SKIP LOCKED)
    RETURNING id`,
};

/** The rule's top-ups since $2, every unsettled one and always the latest, with their recharges' states. */
export const TOP_UPS: Statement = {
  name: 'rule_top_ups_v1',
  text: `SELECT t.n, t.amount, t.slot_at, t.callback_url, t.created_at, t.recharge_id, t.refused_reason, t.settled,
      x.state, x.failure_code, x.completed_at
    FROM rule_top_ups t LEFT JOIN recharges x ON x.id = t.recharge_id
    WHERE t.rule_id = $1
      AND (t.created_at >= $2 OR NOT t.settled OR t.n = (SELECT max(n) FROM rule_top_ups WHERE rule_id = $1))
    ORDER BY t.n`,
};

export interface TopUpRow {
  n: number;
  amount: string;
  slot_at: string | Date | null;
  callback_url: string | null;
  created_at: string | Date;
  recharge_id: string | null;
  refused_reason: string | null;
  settled: boolean;
  state: string | null;
  failure_code: string | null;
  completed_at: string | Date | null;
}

function outcomeOf(row: TopUpRow): TopUpOutcome {
  if (row.refused_reason !== null) return 'refused';
  switch (row.state) {
    case 'SUCCEEDED':
      return 'succeeded';
    case 'FAILED':
      return row.failure_code === 'TIMEOUT' ? 'failed_unknown' : 'failed';
    case 'CANCELED':
      return 'canceled';
    default:
      return 'open';
  }
}

export function topUpFromRow(row: TopUpRow): TopUpRecord {
  const outcome = outcomeOf(row);
  return {
    n: row.n,
    amount: BigInt(row.amount),
    slotAt: date(row.slot_at),
    callbackUrl: row.callback_url,
    createdAt: new Date(row.created_at),
    rechargeId: row.recharge_id,
    outcome,
    completedAt: outcome === 'open' || outcome === 'refused' ? null : date(row.completed_at),
    settled: row.settled,
  };
}

export const SETTLE_TOP_UPS: Statement = {
  name: 'rule_top_ups_settle_v1',
  text: `UPDATE rule_top_ups SET settled = true WHERE rule_id = $1 AND n = ANY($2::int[])`,
};

export const INSERT_TOP_UP: Statement = {
  name: 'rule_top_up_insert_v1',
  text: `INSERT INTO rule_top_ups (rule_id, n, amount, slot_at, callback_url, created_at) VALUES ($1, $2, $3, $4, $5, $6)`,
};

export const LINK_TOP_UP: Statement = {
  name: 'rule_top_up_link_v1',
  text: `UPDATE rule_top_ups SET recharge_id = $3 WHERE rule_id = $1 AND n = $2 AND recharge_id IS NULL`,
};

export const REFUSE_TOP_UP: Statement = {
  name: 'rule_top_up_refuse_v1',
  text: `UPDATE rule_top_ups SET refused_reason = $3 WHERE rule_id = $1 AND n = $2 AND recharge_id IS NULL`,
};

export const INSERT_EVALUATION: Statement = {
  name: 'rule_evaluation_insert_v1',
  text: `INSERT INTO rule_evaluations (rule_id, at, quota, decision, reason, top_up_n) VALUES ($1, $2, $3, $4, $5, $6)`,
};

export const EVALUATIONS: Statement = {
  name: 'rule_evaluations_v1',
  text: `SELECT e.id, e.at, e.quota, e.decision, e.reason, t.recharge_id
    FROM rule_evaluations e LEFT JOIN rule_top_ups t ON t.rule_id = e.rule_id AND t.n = e.top_up_n
    WHERE e.rule_id = $1 AND ($2::bigint IS NULL OR e.id < $2)
    ORDER BY e.id DESC LIMIT $3`,
};

export const ENQUEUE_RULE_CALLBACK: Statement = {
  name: 'rule_callback_enqueue_v1',
  text: `INSERT INTO callback_deliveries (id, rule_id, client_id, url, event_type, payload, status, attempts, next_attempt_at, created_at)
    VALUES ($1, $2, $3, $4, $5, $6::jsonb, 'pending', 0, $7, $7)`,
};

export const COUNT_DISABLED: Statement = {
  name: 'rule_count_disabled_v1',
  text: `SELECT count(*)::int AS n FROM rules WHERE status = 'disabled' AND deleted_at IS NULL`,
};
