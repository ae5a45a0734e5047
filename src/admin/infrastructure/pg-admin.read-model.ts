import { EntityManager } from '@mikro-orm/postgresql';
import { Injectable } from '@nestjs/common';
import { customerLedgerAccount } from '../../recharge/domain/ledger';
import { Recharge } from '../../recharge/domain/recharge';
import { RechargeState } from '../../recharge/domain/recharge-state';
import {
  RECHARGE_COLUMNS,
  RechargeRow,
  rechargeFromRow,
} from '../../recharge/infrastructure/persistence/recharge.statements';
import {
  AdminReadModel,
  ChartMinute,
  DiscrepancyView,
  LedgerCsvRow,
  RechargePosition,
  RechargeSearch,
  RechargeStory,
  SummaryFigures,
  SummaryWindow,
} from '../application/ports/admin-read-model';

type Row = Record<string, any>;

const date = (v: unknown): Date => new Date(v as string);
const maybeDate = (v: unknown): Date | null => (v === null || v === undefined ? null : new Date(v as string));
const num = (v: unknown): number => Number(v);
const maybeNum = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));

const OPEN = `('CREATED', 'SUBMITTED', 'PENDING_CONFIRMATION')`;

const presentDiscrepancy = (r: Row): DiscrepancyView => ({
  id: r.id,
  rechargeId: r.recharge_id,
  kind: r.kind,
  evidence: r.evidence,
  seenAt: date(r.seen_at),
  acknowledgedBy: r.acknowledged_by,
  acknowledgedByName: r.acknowledged_by_name ?? null,
  acknowledgedAt: maybeDate(r.acknowledged_at),
  acknowledgementNote: r.acknowledgement_note,
});

const DISCREPANCY_COLUMNS = `d.id, d.recharge_id, d.kind, d.evidence, d.seen_at, d.acknowledged_by, o.name AS acknowledged_by_name,
  d.acknowledged_at, d.acknowledgement_note`;

/**
 * The operators' queries, in plain SQL. The listing is keyset-paged on (created_at, id) so every
 * filter has an index that returns rows already in order (migration 20261203007002); every count
 * of the overview is bounded by time or by a partial index of open rows.
 */
@Injectable()
export class PgAdminReadModel extends AdminReadModel {
  constructor(private readonly em: EntityManager) {
    super();
  }

  private sql<T = Row>(text: string, params: unknown[] = []): Promise<T[]> {
    return this.em.getConnection().execute(text, params);
  }

  async summary(w: SummaryWindow): Promise<SummaryFigures> {
    const [byState, [pending], [discrepancies], [calls], [callbacks], chart] = await Promise.all([
      this.sql(`SELECT state, count(*)::int AS n FROM recharges WHERE created_at >= ? GROUP BY state`, [w.since]),
      this.sql(`SELECT count(*)::int AS n FROM recharges WHERE state IN ${OPEN} AND created_at < ?`, [w.slaBefore]),
      this.sql(`SELECT count(*)::int AS n FROM discrepancies WHERE acknowledged_at IS NULL`),
      this.sql(
        `SELECT count(*)::int AS calls,
                count(*) FILTER (WHERE outcome NOT IN ('succeeded', 'rejected'))::int AS errors,
                count(*) FILTER (WHERE at >= ?)::int AS last_minute
         FROM provider_calls WHERE at >= ?`,
        [new Date(w.now.getTime() - 60_000), w.providerSince],
      ),
      this.sql(`SELECT count(*)::int AS n FROM callback_deliveries WHERE status = 'pending'`),
      this.sql(
        `SELECT date_trunc('minute', completed_at) AS minute,
                count(*) FILTER (WHERE state = 'SUCCEEDED')::int AS succeeded,
                count(*) FILTER (WHERE state = 'FAILED')::int AS failed,
                count(*) FILTER (WHERE state = 'CANCELED')::int AS canceled,
                percentile_cont(0.5) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - created_at))
                  FILTER (WHERE state = 'SUCCEEDED') AS p50,
                percentile_cont(0.95) WITHIN GROUP (ORDER BY extract(epoch FROM completed_at - created_at))
                  FILTER (WHERE state = 'SUCCEEDED') AS p95
         FROM recharges WHERE completed_at >= ? GROUP BY 1 ORDER BY 1`,
        [w.chartSince],
      ),
    ]);
    return {
      byState: Object.fromEntries(byState.map((r) => [r.state as RechargeState, num(r.n)])),
      pendingBeyondSla: num(pending.n),
      openDiscrepancies: num(discrepancies.n),
      providerCalls: num(calls.calls),
      providerErrors: num(calls.errors),
      providerCallsLastMinute: num(calls.last_minute),
      callbacksWaiting: num(callbacks.n),
      chart: chart.map((r): ChartMinute => ({
        minute: date(r.minute),
        succeeded: num(r.succeeded),
        failed: num(r.failed),
        canceled: num(r.canceled),
        confirmationP50: maybeNum(r.p50),
        confirmationP95: maybeNum(r.p95),
      })),
    };
  }

  async search(q: RechargeSearch): Promise<{ data: Recharge[]; next: RechargePosition | null }> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (clause: string, ...values: unknown[]) => {
      where.push(clause);
      params.push(...values);
    };
    if (q.states) add(`state IN (${q.states.map(() => '?').join(', ')})`, ...q.states);
    if (q.clientId) add('client_id = ?', q.clientId);
    if (q.accountId) add('account_id = ?', q.accountId);
    if (q.createdFrom) add('created_at >= ?', q.createdFrom);
    if (q.createdTo) add('created_at < ?', q.createdTo);
    // Each alternative has its own index (primary key, idempotency key, order reference): a BitmapOr.
    if (q.q) add('(id = ? OR idempotency_key = ? OR order_reference = ?)', q.q, q.q, q.q);
    if (q.after) add('(created_at, id) < (?::timestamptz, ?)', q.after.createdAt, q.after.id);
    // The cursor keeps created_at as PostgreSQL prints it (microseconds), not as a JS Date (milliseconds).
    const rows = await this.sql<RechargeRow & { created_at_text: string }>(
      `SELECT ${RECHARGE_COLUMNS}, created_at::text AS created_at_text FROM recharges
       ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
       ORDER BY created_at DESC, id DESC LIMIT ?`,
      [...params, q.limit + 1],
    );
    const page = rows.slice(0, q.limit);
    const last = page[page.length - 1];
    return {
      data: page.map(rechargeFromRow),
      next: rows.length > q.limit ? { createdAt: last.created_at_text, id: last.id } : null,
    };
  }

  async story(id: string): Promise<RechargeStory | null> {
    const [row] = await this.sql<RechargeRow>(`SELECT ${RECHARGE_COLUMNS} FROM recharges WHERE id = ?`, [id]);
    if (!row) return null;
    const [events, calls, notifications, callbacks, attempts, ledger, discrepancies, actions] = await Promise.all([
      this.sql(
        `SELECT from_state, to_state, reason, source, actor, correction, at FROM recharge_events
         WHERE recharge_id = ? ORDER BY id`,
        [id],
      ),
      this.sql(
        `SELECT at, action, attempt, outcome, provider_code, http_status, duration_ms, request_id FROM provider_calls
         WHERE recharge_id = ? ORDER BY id`,
        [id],
      ),
      this.sql(
        `SELECT webhook_id, type, owner_id, amount, currency, transaction_number, failure_code, received_at,
                processed_at, result, detail
         FROM provider_notifications WHERE out_biz_id = ? ORDER BY received_at`,
        [id],
      ),
      this.sql(
        `SELECT id, event_type, url, status, attempts, next_attempt_at, created_at, delivered_at FROM callback_deliveries
         WHERE recharge_id = ? ORDER BY created_at, id`,
        [id],
      ),
      this.sql(
        `SELECT a.delivery_id, d.event_type, a.attempted_at, a.status_code, a.latency_ms, a.error
         FROM callback_attempts a JOIN callback_deliveries d ON d.id = a.delivery_id
         WHERE d.recharge_id = ? ORDER BY a.id`,
        [id],
      ),
      this.sql(
        `SELECT id, ledger_account, account_id, direction, amount::text AS amount, currency, at FROM ledger_entries
         WHERE recharge_id = ? ORDER BY at, id`,
        [id],
      ),
      this.sql(
        `SELECT ${DISCREPANCY_COLUMNS} FROM discrepancies d LEFT JOIN operators o ON o.id = d.acknowledged_by
         WHERE d.recharge_id = ? ORDER BY d.seen_at, d.id`,
        [id],
      ),
      this.sql(
        `SELECT a.id::text AS id, a.operator_id, o.name AS operator_name, a.action, a.target_type, a.target_id, a.reason,
                a.detail, a.at
         FROM operator_actions a JOIN operators o ON o.id = a.operator_id
         WHERE a.recharge_id = ? ORDER BY a.id`,
        [id],
      ),
    ]);
    return {
      recharge: rechargeFromRow(row),
      events: events.map((e) => ({
        from: e.from_state,
        to: e.to_state,
        reason: e.reason,
        source: e.source,
        actor: e.actor,
        correction: e.correction,
        at: date(e.at),
      })),
      providerCalls: calls.map((c) => ({
        at: date(c.at),
        action: c.action,
        attempt: maybeNum(c.attempt),
        outcome: c.outcome,
        providerCode: c.provider_code,
        httpStatus: maybeNum(c.http_status),
        durationMs: num(c.duration_ms),
        requestId: c.request_id,
      })),
      notifications: notifications.map((n) => ({
        webhookId: n.webhook_id,
        type: n.type,
        ownerId: n.owner_id,
        amount: n.amount,
        currency: n.currency,
        transactionNumber: n.transaction_number,
        failureCode: n.failure_code,
        receivedAt: date(n.received_at),
        processedAt: maybeDate(n.processed_at),
        result: n.result,
        detail: n.detail,
      })),
      callbacks: callbacks.map((c) => ({
        id: c.id,
        eventType: c.event_type,
        url: c.url,
        status: c.status,
        attempts: num(c.attempts),
        nextAttemptAt: maybeDate(c.next_attempt_at),
        createdAt: date(c.created_at),
        deliveredAt: maybeDate(c.delivered_at),
      })),
      callbackAttempts: attempts.map((a) => ({
        deliveryId: a.delivery_id,
        eventType: a.event_type,
        attemptedAt: date(a.attempted_at),
        statusCode: maybeNum(a.status_code),
        latencyMs: num(a.latency_ms),
        error: a.error,
      })),
      ledger: ledger.map((l) => ({
        id: l.id,
        ledgerAccount: l.ledger_account,
        accountId: l.account_id,
        direction: l.direction,
        amount: l.amount,
        currency: l.currency,
        at: date(l.at),
      })),
      discrepancies: discrepancies.map(presentDiscrepancy),
      operatorActions: actions.map((a) => ({
        id: a.id,
        operatorId: a.operator_id,
        operatorName: a.operator_name,
        action: a.action,
        targetType: a.target_type,
        targetId: a.target_id,
        reason: a.reason,
        detail: a.detail,
        at: date(a.at),
      })),
    };
  }

  async discrepancies(
    status: 'open' | 'acknowledged',
    limit: number,
    after?: { seenAt: Date; id: string },
  ): Promise<{ data: DiscrepancyView[]; next: { seenAt: Date; id: string } | null }> {
    const params: unknown[] = [];
    let keyset = '';
    if (after) {
      keyset = 'AND (d.seen_at, d.id) < (?, ?)';
      params.push(after.seenAt, after.id);
    }
    const rows = await this.sql(
      `SELECT ${DISCREPANCY_COLUMNS} FROM discrepancies d LEFT JOIN operators o ON o.id = d.acknowledged_by
       WHERE d.acknowledged_at IS ${status === 'open' ? '' : 'NOT '}NULL ${keyset}
       ORDER BY d.seen_at DESC, d.id DESC LIMIT ?`,
      [...params, limit + 1],
    );
    const data = rows.slice(0, limit).map(presentDiscrepancy);
    const last = data[data.length - 1];
    return { data, next: rows.length > limit ? { seenAt: last.seenAt, id: last.id } : null };
  }

  async balances(accountId: string): Promise<Array<{ currency: string; amount: string }>> {
    const rows = await this.sql(
      `SELECT currency, amount::text AS amount FROM balances WHERE ledger_account = ? ORDER BY currency`,
      [customerLedgerAccount(accountId)],
    );
    return rows.map((r) => ({ currency: r.currency, amount: r.amount }));
  }

  async lastCurrency(accountId: string): Promise<string | null> {
    const [row] = await this.sql(
      `SELECT currency FROM recharges WHERE account_id = ? ORDER BY created_at DESC, id DESC LIMIT 1`,
      [accountId],
    );
    return row?.currency ?? null;
  }

  async ledgerPage(
    filter: { from: Date; to: Date; accountId?: string },
    limit: number,
    after?: { at: Date; id: string },
  ): Promise<LedgerCsvRow[]> {
    const where = ['l.at >= ?', 'l.at < ?'];
    const params: unknown[] = [filter.from, filter.to];
    if (filter.accountId) {
      where.push('l.account_id = ?');
      params.push(filter.accountId);
    }
    if (after) {
      where.push('(l.at, l.id) > (?, ?)');
      params.push(after.at, after.id);
    }
    const rows = await this.sql(
      `SELECT l.id, l.at, l.account_id, l.recharge_id, r.client_id, l.direction, l.amount::text AS amount, l.currency,
              r.provider_reference
       FROM ledger_entries l JOIN recharges r ON r.id = l.recharge_id
       WHERE ${where.join(' AND ')} ORDER BY l.at, l.id LIMIT ?`,
      [...params, limit],
    );
    return rows.map((r) => ({
      entryId: r.id,
      at: date(r.at),
      accountId: r.account_id,
      rechargeId: r.recharge_id,
      clientId: r.client_id,
      direction: r.direction,
      amount: r.amount,
      currency: r.currency,
      providerReference: r.provider_reference,
    }));
  }
}
