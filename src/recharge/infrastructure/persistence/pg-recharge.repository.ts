import { context, propagation } from '@opentelemetry/api';
import { EntityManager } from '@mikro-orm/postgresql';
import { Injectable, Logger } from '@nestjs/common';
import { newId } from '../../../../libs/shared/ids';
import { redactDeep } from '../../../../libs/shared/redact';
import { PgStatements } from '../../../database/pg-statements';
import { Discrepancy } from '../../domain/discrepancy';
import { Recharge, RechargeTransition } from '../../domain/recharge';
import { FINAL_STATES, RechargeState } from '../../domain/recharge-state';
import { rechargeCallbackEvent } from '../../application/recharge-callback.event';
import { Page } from '../../application/ports/page';
import {
  ClaimedRecharge,
  Mutation,
  RechargeListQuery,
  RechargeRepository,
} from '../../application/ports/recharge.repository';
import { RechargeTelemetry } from '../../application/ports/recharge-telemetry';
import { OperatorActionRecord } from '../../application/ports/operator-action';
import { INSERT_OPERATOR_ACTION, operatorActionParams } from './operator-action.statements';
import { enqueueCallback } from './pg-callback.outbox';
import { INSERT_DISCREPANCY } from './pg-discrepancy.repository';
import { postSucceededJournal } from './pg-ledger.journal';
import {
  ANNOUNCE_FINISHED,
  CALLBACK_QUEUED,
  CLAIM_ONE,
  CREATE_IF_ABSENT,
  createParams,
  FAIR_CLAIM,
  FIND_BY_ID,
  FIND_BY_KEY,
  INSERT_EVENTS,
  LOCK_BY_ID,
  LOCK_DISPATCH_CLOCK,
  mutableColumns,
  RECHARGE_COLUMNS,
  RechargeRow,
  rechargeFromRow,
  RENEW_LEASE,
  UPDATE_RECHARGE,
} from './recharge.statements';
import { RechargeEventRecord } from './recharge.schema';

function currentTraceParent(): string | null {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent ?? null;
}

const sameValue = (a: unknown, b: unknown): boolean =>
  a instanceof Date && b instanceof Date ? a.getTime() === b.getTime() : a === b;

/**
 * The recharge aggregate in PostgreSQL. Every path that runs per request or per provider call is
 * plain SQL in named prepared statements (PgStatements): the insert, the lookups, the claims and
 * `mutate`; listings and the reconciler's scans are plain SQL on MikroORM's connection, the event
 * trail uses its entity manager. The statements and row mapping live in `recharge.statements.ts`, the ledger
 * posting in `pg-ledger.journal.ts`, the callback enqueue with the outbox (`pg-callback.outbox.ts`).
 */
@Injectable()
export class PgRechargeRepository extends RechargeRepository {
  private readonly logger = new Logger('Recharge');

  constructor(
    private readonly em: EntityManager,
    private readonly sql: PgStatements,
    private readonly telemetry: RechargeTelemetry,
  ) {
    super();
  }

  /**
   * One statement, so one round trip and one implicit transaction: the recharge and its CREATED
   * event commit together or not at all. ON CONFLICT makes a concurrent insert with the same key
   * wait for the winner's commit, then yield nothing.
   */
  async createIfAbsent(recharge: Recharge): Promise<{ created: boolean; recharge: Recharge }> {
    const [creation] = recharge.pullTransitions();
    const rows = await this.sql.query<{ id: string }>(
      CREATE_IF_ABSENT,
      createParams(recharge, creation, currentTraceParent()),
    );
    if (rows.length === 1) {
      this.committed(recharge, [creation]);
      return { created: true, recharge };
    }
    const [existing] = await this.sql.query<RechargeRow>(FIND_BY_KEY, [recharge.clientId, recharge.idempotencyKey]);
    return { created: false, recharge: rechargeFromRow(existing) };
  }

  async findByIdempotencyKey(clientId: string, idempotencyKey: string): Promise<Recharge | null> {
    const [row] = await this.sql.query<RechargeRow>(FIND_BY_KEY, [clientId, idempotencyKey]);
    return row ? rechargeFromRow(row) : null;
  }

  async findById(id: string): Promise<Recharge | null> {
    const [row] = await this.sql.query<RechargeRow>(FIND_BY_ID, [id]);
    return row ? rechargeFromRow(row) : null;
  }

  async list(q: RechargeListQuery): Promise<Page<Recharge>> {
    const where = ['client_id = ?'];
    const params: unknown[] = [q.clientId];
    const add = (clause: string, ...values: unknown[]) => {
      where.push(clause);
      params.push(...values);
    };
    if (q.accountId) add('account_id = ?', q.accountId);
    // No state asked for matches nothing (as the ORM's `$in: []` did).
    if (q.states) add(q.states.length ? `state IN (${q.states.map(() => '?').join(', ')})` : 'false', ...q.states);
    if (q.after) add('id < ?', q.after);
    const rows: RechargeRow[] = await this.em
      .getConnection()
      .execute(`SELECT ${RECHARGE_COLUMNS} FROM recharges WHERE ${where.join(' AND ')} ORDER BY id DESC LIMIT ?`, [
        ...params,
        q.limit + 1,
      ]);
    const data = rows.slice(0, q.limit).map(rechargeFromRow);
    return { data, nextCursor: rows.length > q.limit ? data[data.length - 1].id : null };
  }

  async transitions(rechargeId: string): Promise<RechargeTransition[]> {
    const rows = await this.em
      .fork()
      .find<RechargeEventRecord>('RechargeEventRecord', { rechargeId }, { orderBy: { id: 'asc' } });
    return rows.map((e) => ({
      rechargeId: e.rechargeId,
      from: e.fromState,
      to: e.toState,
      reason: e.reason,
      source: e.source,
      at: e.at,
      correction: e.correction,
      ...(e.actor ? { actor: e.actor } : {}),
    }));
  }

  async mutate<T>(
    id: string,
    change: (recharge: Recharge) => T,
    audit?: OperatorActionRecord,
  ): Promise<Mutation<T> | null> {
    const mutation = await this.sql.transaction(
      async (tx): Promise<(Mutation<T> & { discrepancies: Discrepancy[] }) | null> => {
        const [row] = await tx.query<RechargeRow>(LOCK_BY_ID, [id]);
        if (!row) return null;
        const recharge = rechargeFromRow(row);
        const before = mutableColumns(recharge);
        const result = change(recharge);
        const transitions = recharge.pullTransitions();
        const after = mutableColumns(recharge);
        if (after.some((value, i) => !sameValue(value, before[i]))) {
          const [{ version }] = await tx.query<{ version: number }>(UPDATE_RECHARGE, [id, ...after]);
          recharge.version = version;
        }
        if (transitions.length > 0) {
          await tx.query(INSERT_EVENTS, [
            id,
            transitions.map((t) => t.from),
            transitions.map((t) => t.to),
            transitions.map((t) => t.reason),
            transitions.map((t) => t.source),
            transitions.map((t) => t.correction),
            transitions.map((t) => t.at),
            transitions.map((t) => t.actor ?? null),
          ]);
        }
        if (audit) await tx.query(INSERT_OPERATOR_ACTION, operatorActionParams(audit));
        for (const t of transitions)
          if (t.to === RechargeState.SUCCEEDED) await postSucceededJournal(tx, recharge, t.at);
        const discrepancies: Discrepancy[] = [];
        for (const d of recharge.pullDiscrepancies()) {
          const inserted = await tx.query(INSERT_DISCREPANCY, [
            d.id,
            d.rechargeId,
            d.kind,
            JSON.stringify(redactDeep(d.evidence)),
            d.seenAt,
          ]);
          if (inserted.length === 1) discrepancies.push(d);
        }
        const finals = transitions.filter((t) => FINAL_STATES.includes(t.to));
        if (finals.length > 0) {
          const url = recharge.callbackUrl;
          if (url) {
            for (const t of finals) {
              const to = { rechargeId: id, clientId: recharge.clientId, url, at: t.at };
              await enqueueCallback(tx, to, rechargeCallbackEvent(recharge, t));
            }
          }
          // Only final states are announced (nobody waits for the others, and every NOTIFY serialises
          // its commit on PostgreSQL's notification lock); the payload says whether a callback was
          // queued, so callback workers wake only then.
          await tx.query(ANNOUNCE_FINISHED, [recharge.callbackUrl ? `${id} ${CALLBACK_QUEUED}` : id]);
        }
        return { recharge, transitions, result, discrepancies };
      },
    );
    if (!mutation) return null;
    this.committed(mutation.recharge, mutation.transitions);
    this.discrepanciesCommitted(mutation.recharge, mutation.discrepancies);
    return { recharge: mutation.recharge, transitions: mutation.transitions, result: mutation.result };
  }

  /** Counted and logged after the commit; a repeat the unique indexes refused is neither. */
  private discrepanciesCommitted(recharge: Recharge, discrepancies: Discrepancy[]): void {
    for (const d of discrepancies) {
      this.telemetry.discrepancy(d.kind);
      this.logger.warn(
        {
          rechargeId: recharge.id,
          clientId: recharge.clientId,
          discrepancyId: d.id,
          kind: d.kind,
          evidence: d.evidence,
        },
        `discrepancy ${d.kind} on recharge ${recharge.id} (state ${recharge.state}): kept for an operator`,
      );
    }
  }

  /** Every stored transition is counted and logged here, after its commit, whoever caused it. */
  private committed(recharge: Recharge, transitions: RechargeTransition[]): void {
    if (transitions.length === 0) return;
    this.telemetry.transitions(transitions, recharge.createdAt);
    for (const t of transitions) {
      const fields = {
        rechargeId: recharge.id,
        clientId: recharge.clientId,
        from: t.from,
        to: t.to,
        source: t.source,
        reason: t.reason,
      };
      if (t.correction) {
        this.logger.warn(
          { ...fields, correction: true },
          `recharge ${recharge.id} ${t.from} → ${t.to}: provider proved success after our TIMEOUT (reconciliation correction)`,
        );
      } else {
        this.logger.log(fields, `recharge ${recharge.id} ${t.from ?? 'new'} → ${t.to}`);
      }
    }
  }

  async claimDue(limit: number, now: Date, leaseUntil: Date): Promise<ClaimedRecharge[]> {
    const leaseOwner = newId('lse');
    const rows = await this.sql.transaction(async (tx) => {
      await tx.query(LOCK_DISPATCH_CLOCK, []);
      return tx.query<{ id: string; trace_context: string | null }>(FAIR_CLAIM, [now, leaseUntil, limit, leaseOwner]);
    });
    return rows.map((r) => ({ id: r.id, leaseOwner, traceContext: r.trace_context }));
  }

  async claimOne(id: string, now: Date, leaseUntil: Date): Promise<ClaimedRecharge | null> {
    const leaseOwner = newId('lse');
    const [row] = await this.sql.query<{ id: string; trace_context: string | null }>(CLAIM_ONE, [
      id,
      leaseUntil,
      now,
      leaseOwner,
    ]);
    return row ? { id: row.id, leaseOwner, traceContext: row.trace_context } : null;
  }

  async renewLease(claim: ClaimedRecharge, leaseUntil: Date): Promise<boolean> {
    const rows = await this.sql.query(RENEW_LEASE, [claim.id, claim.leaseOwner, leaseUntil]);
    return rows.length === 1;
  }

  async overdue(submittedBefore: Date, now: Date, limit: number): Promise<string[]> {
    const rows: Array<{ id: string }> = await this.em.getConnection().execute(
      `SELECT id FROM recharges WHERE state IN ('SUBMITTED', 'PENDING_CONFIRMATION') AND submitted_at < ?
           AND (lease_until IS NULL OR lease_until <= ?) ORDER BY submitted_at LIMIT ?`,
      [submittedBefore, now, limit],
    );
    return rows.map((r) => r.id);
  }

  async countOpenCreatedBefore(createdBefore: Date): Promise<number> {
    const [row]: Array<{ n: string }> = await this.em
      .getConnection()
      .execute(
        `SELECT count(*) AS n FROM recharges WHERE state IN ('CREATED', 'SUBMITTED', 'PENDING_CONFIRMATION') AND created_at < ?`,
        [createdBefore],
      );
    return Number(row.n);
  }
}
