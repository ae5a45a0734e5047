import { Injectable } from '@nestjs/common';
import { DomainError } from '../../../libs/shared/domain-error';
import { PgStatements, StatementRunner } from '../../database/pg-statements';
import { OperatorActionRecord } from '../../recharge/application/ports/operator-action';
import { Page } from '../../recharge/application/ports/page';
import {
  INSERT_OPERATOR_ACTION,
  operatorActionParams,
} from '../../recharge/infrastructure/persistence/operator-action.statements';
import { Rule } from '../domain/rule';
import { RuleState } from '../domain/rule-evaluation';
import {
  EvaluationRecord,
  EvaluationStep,
  RuleListQuery,
  RuleRepository,
  RuleView,
} from '../application/ports/rule.repository';
import {
  CLAIM_DUE_RULES,
  COUNT_DISABLED,
  ENQUEUE_RULE_CALLBACK,
  EVALUATIONS,
  FIND_RULE,
  INSERT_EVALUATION,
  INSERT_RULE,
  INSERT_TOP_UP,
  LastEvaluationColumns,
  lastEvaluationFromRow,
  LINK_TOP_UP,
  LIST_RULES,
  LOAD_RULE,
  LOCK_RULE,
  REFUSE_TOP_UP,
  ruleColumns,
  ruleFromRow,
  RuleRow,
  SETTLE_TOP_UPS,
  TOP_UPS,
  topUpFromRow,
  TopUpRow,
  UPDATE_RULE,
} from './rule.statements';

const ONE_ACTIVE_RULE = 'rules_one_active_per_account';

/** The partial unique index decides "one active rule per client, account and currency", even between replicas. */
function translateConflict(err: unknown): never {
  const e = err as { code?: string; constraint?: string };
  if (e.code === '23505' && e.constraint === ONE_ACTIVE_RULE) {
    throw new DomainError('INVALID_STATE', 'this client already has an active rule for this account and currency');
  }
  throw err;
}

/** Rules in PostgreSQL, all in named statements (rule.statements.ts). */
@Injectable()
export class PgRuleRepository extends RuleRepository {
  constructor(private readonly sql: PgStatements) {
    super();
  }

  async create(rule: Rule): Promise<void> {
    await this.sql.query(INSERT_RULE, ruleColumns(rule)).catch(translateConflict);
  }

  async find(id: string): Promise<RuleView | null> {
    const [row] = await this.sql.query<RuleRow & LastEvaluationColumns>(FIND_RULE, [id]);
    return row ? { rule: ruleFromRow(row), lastEvaluation: lastEvaluationFromRow(row) } : null;
  }

  async list(q: RuleListQuery): Promise<Page<RuleView>> {
    const rows = await this.sql.query<RuleRow & LastEvaluationColumns>(LIST_RULES, [
      q.clientId ?? null,
      q.accountId ?? null,
      q.status ?? null,
      q.after ?? null,
      q.limit + 1,
    ]);
    const data = rows
      .slice(0, q.limit)
      .map((row) => ({ rule: ruleFromRow(row), lastEvaluation: lastEvaluationFromRow(row) }));
    return { data, nextCursor: rows.length > q.limit ? data[data.length - 1].rule.id : null };
  }

  async update(id: string, change: (rule: Rule) => void, audit?: OperatorActionRecord): Promise<Rule | null> {
    return this.sql
      .transaction(async (tx) => {
        const [row] = await tx.query<RuleRow>(LOCK_RULE, [id]);
        if (!row || row.deleted_at !== null) return null;
        const rule = ruleFromRow(row);
        change(rule);
        const [{ version }] = await tx.query<{ version: number }>(UPDATE_RULE, ruleColumns(rule));
        if (audit) await tx.query(INSERT_OPERATOR_ACTION, operatorActionParams(audit));
        rule.version = version;
        return rule;
      })
      .catch(translateConflict);
  }

  async claimDue(limit: number, now: Date, leaseUntil: Date): Promise<string[]> {
    const rows = await this.sql.query<{ id: string }>(CLAIM_DUE_RULES, [leaseUntil, now, limit]);
    return rows.map((r) => r.id);
  }

  async load(id: string, since: Date): Promise<RuleState | null> {
    const [row] = await this.sql.query<RuleRow>(LOAD_RULE, [id]);
    return row ? { rule: ruleFromRow(row), topUps: await this.topUps(this.sql, id, since) } : null;
  }

  async evaluate(
    id: string,
    since: Date,
    decide: (state: RuleState) => EvaluationStep,
  ): Promise<EvaluationStep | null> {
    return this.sql.transaction(async (tx) => {
      const [row] = await tx.query<RuleRow>(LOCK_RULE, [id]);
      if (!row || row.deleted_at !== null) return null;
      const state = { rule: ruleFromRow(row), topUps: await this.topUps(tx, id, since) };
      const step = decide(state);
      const { rule } = state;
      await tx.query(UPDATE_RULE, ruleColumns(rule));
      if (step.settled.length > 0) await tx.query(SETTLE_TOP_UPS, [id, step.settled]);
      const t = step.newTopUp;
      if (t) await tx.query(INSERT_TOP_UP, [id, t.n, t.amount.toString(), t.slotAt, t.callbackUrl, t.createdAt]);
      await tx.query(INSERT_EVALUATION, [
        id,
        step.at,
        step.verdict.quota?.toString() ?? null,
        step.verdict.decision,
        step.verdict.reason,
        t?.n ?? null,
      ]);
      const c = step.callback;
      if (c) await tx.query(ENQUEUE_RULE_CALLBACK, [c.id, id, rule.clientId, c.url, c.eventType, c.payload, step.at]);
      return step;
    });
  }

  async linkTopUp(ruleId: string, n: number, rechargeId: string): Promise<void> {
    await this.sql.query(LINK_TOP_UP, [ruleId, n, rechargeId]);
  }

  async refuseTopUp(ruleId: string, n: number, reason: string): Promise<void> {
    await this.sql.query(REFUSE_TOP_UP, [ruleId, n, reason.slice(0, 500)]);
  }

  async evaluations(ruleId: string, limit: number, before?: string): Promise<Page<EvaluationRecord>> {
    const rows = await this.sql.query<{
      id: string;
      at: string | Date;
      quota: string | null;
      decision: EvaluationRecord['decision'];
      reason: string;
      recharge_id: string | null;
    }>(EVALUATIONS, [ruleId, before ?? null, limit + 1]);
    const data = rows.slice(0, limit).map((r) => ({
      id: String(r.id),
      at: new Date(r.at),
      quota: r.quota === null ? null : BigInt(r.quota),
      decision: r.decision,
      reason: r.reason,
      rechargeId: r.recharge_id,
    }));
    return { data, nextCursor: rows.length > limit ? data[data.length - 1].id : null };
  }

  async countDisabled(): Promise<number> {
    const [row] = await this.sql.query<{ n: number }>(COUNT_DISABLED, []);
    return row.n;
  }

  private async topUps(runner: StatementRunner, id: string, since: Date) {
    const rows = await runner.query<TopUpRow>(TOP_UPS, [id, since]);
    return rows.map(topUpFromRow);
  }
}
