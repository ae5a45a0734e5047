import { context, propagation } from '@opentelemetry/api';
import { EntityManager } from '@mikro-orm/postgresql';
import { Injectable, Logger } from '@nestjs/common';
import { newId } from '../../../../libs/shared/ids';
import { redactDeep } from '../../../../libs/shared/redact';
import { PgStatements, Statement, StatementRunner } from '../../../database/pg-statements';
import { journalForSucceededRecharge, signedAmount } from '../../domain/ledger';
import { Currency } from '../../domain/money';
import { Discrepancy } from '../../domain/discrepancy';
import { CreditParameters, FailureCode, Recharge, RechargeTransition } from '../../domain/recharge';
import { FINAL_STATES, RechargeState } from '../../domain/recharge-state';
import { presentRecharge } from '../../application/recharge.representation';
import { Page } from '../../application/ports/page';
import {
  ClaimedRecharge,
  Mutation,
  RechargeListQuery,
  RechargeRepository,
} from '../../application/ports/recharge.repository';
import { RechargeTelemetry } from '../../application/ports/recharge-telemetry';
import { OperatorActionRecord } from '../../application/ports/operator-action';
import { RechargeEventRecord } from './recharge.schema';

function currentTraceParent(): string | null {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return carrier.traceparent ?? null;
}

/** The channel on which commits announce that a recharge became final (`Prefer: wait` and the callback worker listen). */
export const RECHARGE_FINISHED_CHANNEL = 'recharge_finished';
/** Appended (after a space) to the payload when the final transition queued a callback. */
export const CALLBACK_QUEUED = 'callback';

export const RECHARGE_COLUMNS = `id, client_id, idempotency_key, request_fingerprint, account_id, amount, currency, order_reference,
  metadata, callback_url, state, provider_reference, message, failure_code, failure_message, failure_provider_code, attempts,
  next_attempt_at, submitted_at, created_at, updated_at, completed_at, version, credit_parameters, sends, send_started_at,
  may_have_reached_provider, lease_owner, lease_until`;

/** A `recharges` row as node-postgres returns it on MikroORM's pool (bigint and timestamps as text). */
export interface RechargeRow {
  id: string;
  client_id: string;
  idempotency_key: string;
  request_fingerprint: string;
  account_id: string;
  amount: string;
  currency: Currency;
  order_reference: string | null;
  metadata: Record<string, string>;
  callback_url: string | null;
  state: RechargeState;
  provider_reference: string | null;
  message: string | null;
  failure_code: FailureCode | null;
  failure_message: string | null;
  failure_provider_code: string | null;
  attempts: number;
  next_attempt_at: string | null;
  submitted_at: string | null;
  created_at: string;
  updated_at: string;
  completed_at: string | null;
  version: number;
  credit_parameters: CreditParameters | null;
  sends: number;
  send_started_at: string | null;
  may_have_reached_provider: boolean;
  lease_owner: string | null;
  lease_until: string | null;
}

const date = (text: string | null): Date | null => (text === null ? null : new Date(text));

/** The aggregate as stored (loading never runs domain rules, like MikroORM's own hydration). */
export function rechargeFromRow(row: RechargeRow): Recharge {
  return Object.assign(new Recharge(), {
    id: row.id,
    clientId: row.client_id,
    idempotencyKey: row.idempotency_key,
    requestFingerprint: row.request_fingerprint,
    accountId: row.account_id,
    amountMinor: BigInt(row.amount),
    currency: row.currency,
    orderReference: row.order_reference,
    metadata: row.metadata,
    callbackUrl: row.callback_url,
    state: row.state,
    providerReference: row.provider_reference,
    message: row.message,
    failureCode: row.failure_code,
    failureMessage: row.failure_message,
    failureProviderCode: row.failure_provider_code,
    attempts: row.attempts,
    nextAttemptAt: date(row.next_attempt_at),
    submittedAt: date(row.submitted_at),
    createdAt: new Date(row.created_at),
    updatedAt: new Date(row.updated_at),
    completedAt: date(row.completed_at),
    version: row.version,
    creditParameters: row.credit_parameters,
    sends: row.sends,
    sendStartedAt: date(row.send_started_at),
    mayHaveReachedProvider: row.may_have_reached_provider,
    leaseOwner: row.lease_owner,
    leaseUntil: date(row.lease_until),
  });
}

/** What the aggregate's methods may change, in UPDATE_RECHARGE's parameter order ($2 on). */
function mutableColumns(r: Recharge): unknown[] {
  return [
    r.state,
    r.providerReference,
    r.message,
    r.failureCode,
    r.failureMessage,
    r.failureProviderCode,
    r.attempts,
    r.nextAttemptAt,
    r.submittedAt,
    r.updatedAt,
    r.completedAt,
    r.creditParameters === null ? null : JSON.stringify(r.creditParameters),
    r.sends,
    r.sendStartedAt,
    r.mayHaveReachedProvider,
    r.leaseOwner,
    r.leaseUntil,
  ];
}

const sameValue = (a: unknown, b: unknown): boolean =>
  a instanceof Date && b instanceof Date ? a.getTime() === b.getTime() : a === b;

const CREATE_IF_ABSENT: Statement = {
  name: 'recharge_create_if_absent_v1',
  text: `WITH ins AS (
      INSERT INTO recharges (id, client_id, idempotency_key, request_fingerprint, account_id, amount, currency,
        order_reference, metadata, callback_url, state, attempts, next_attempt_at, created_at, updated_at, version, trace_context)
      VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, 0, $12, $13, $14, 1, $15)
      ON CONFLICT (client_id, idempotency_key) DO NOTHING
      RETURNING id
    ), ev AS (
      INSERT INTO recharge_events (recharge_id, from_state, to_state, reason, source, correction, at)
      SELECT id, NULL, $16, $17, $18, false, $19 FROM ins
    )
    SELECT id FROM ins`,
};

const FIND_BY_ID: Statement = {
  name: 'recharge_find_v1',
  text: `SELECT ${RECHARGE_COLUMNS} FROM recharges WHERE id = $1`,
};
const FIND_BY_KEY: Statement = {
  name: 'recharge_find_by_key_v1',
  text: `SELECT ${RECHARGE_COLUMNS} FROM recharges WHERE client_id = $1 AND idempotency_key = $2`,
};
const LOCK_BY_ID: Statement = {
  name: 'recharge_lock_v1',
  text: `SELECT ${RECHARGE_COLUMNS} FROM recharges WHERE id = $1 FOR UPDATE`,
};

const UPDATE_RECHARGE: Statement = {
  name: 'recharge_update_v2',
  text: `UPDATE recharges SET state = $2, provider_reference = $3, message = $4, failure_code = $5, failure_message = $6,
      failure_provider_code = $7, attempts = $8, next_attempt_at = $9, submitted_at = $10, updated_at = $11, completed_at = $12,
      credit_parameters = $13::jsonb, sends = $14, send_started_at = $15, may_have_reached_provider = $16,
      lease_owner = $17, lease_until = $18, version = version + 1
    WHERE id = $1 RETURNING version`,
};

/**
 * Discrepancies found while the recharge row is locked, in the same transaction. The partial
 * unique indexes keep one per notification and kind, or one open per recharge and kind.
 */
const INSERT_DISCREPANCY: Statement = {
  name: 'discrepancies_insert_v1',
  text: `INSERT INTO discrepancies (id, recharge_id, kind, evidence, seen_at) VALUES ($1, $2, $3, $4::jsonb, $5)
    ON CONFLICT DO NOTHING RETURNING id`,
};

/** Rows go in as parallel arrays, so one statement text serves any number of transitions. */
const INSERT_EVENTS: Statement = {
  name: 'recharge_events_insert_v2',
  text: `INSERT INTO recharge_events (recharge_id, from_state, to_state, reason, source, correction, at, actor)
    SELECT $1, e.from_state, e.to_state, e.reason, e.source, e.correction, e.at, e.actor
    FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::boolean[], $7::timestamptz[], $8::text[])
      WITH ORDINALITY AS e(from_state, to_state, reason, source, correction, at, actor, n)
    ORDER BY e.n`,
};

export const INSERT_OPERATOR_ACTION: Statement = {
  name: 'operator_action_insert_v1',
  text: `INSERT INTO operator_actions (operator_id, action, target_type, target_id, recharge_id, reason, detail, at)
    VALUES ($1, $2, $3, $4, $5, $6, $7::jsonb, $8)`,
};

export const operatorActionParams = (a: OperatorActionRecord): unknown[] => [
  a.operatorId,
  a.action,
  a.targetType,
  a.targetId,
  a.rechargeId,
  a.reason,
  JSON.stringify(a.detail),
  a.at,
];

const INSERT_LEDGER_ENTRIES: Statement = {
  name: 'ledger_entries_insert_v1',
  text: `INSERT INTO ledger_entries (id, recharge_id, ledger_account, account_id, direction, amount, currency, at)
    SELECT e.id, $1, e.ledger_account, e.account_id, e.direction, e.amount, e.currency, $8
    FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[], $7::text[])
      AS e(id, ledger_account, account_id, direction, amount, currency)`,
};

/**
 * One statement for every balance a journal moves (one row per account and currency, in the
 * journal's order, so concurrent successes lock the balance rows in the same order).
 */
const MOVE_BALANCES: Statement = {
  name: 'balances_move_v1',
  text: `INSERT INTO balances (ledger_account, currency, amount, updated_at)
    SELECT d.ledger_account, d.currency, d.amount, $4
    FROM unnest($1::text[], $2::text[], $3::bigint[]) WITH ORDINALITY AS d(ledger_account, currency, amount, n)
    ORDER BY d.n
    ON CONFLICT (ledger_account, currency) DO UPDATE SET amount = balances.amount + EXCLUDED.amount, updated_at = EXCLUDED.updated_at`,
};

/** A waiting older callback of the recharge is replaced by the one about to be queued (never sent after it). */
const SUPERSEDE_CALLBACKS: Statement = {
  name: 'callback_supersede_v1',
  text: `UPDATE callback_deliveries SET status = 'superseded', superseded_by = $2, next_attempt_at = NULL
    WHERE recharge_id = $1 AND status = 'pending'`,
};

const ENQUEUE_CALLBACK: Statement = {
  name: 'callback_enqueue_v2',
  text: `INSERT INTO callback_deliveries (id, recharge_id, client_id, url, event_type, payload, status, attempts, next_attempt_at, created_at)
    VALUES ($1, $2, $3, $4, $5, $6::jsonb, 'pending', 0, $7, $7)`,
};

const ANNOUNCE_FINISHED: Statement = {
  name: 'recharge_finished_notify_v1',
  text: `SELECT pg_notify('${RECHARGE_FINISHED_CHANNEL}', $1)`,
};

/** Claims take turns: the one holding the clock's row lock computes and moves the virtual times. */
const LOCK_DISPATCH_CLOCK: Statement = {
  name: 'dispatch_clock_lock_v1',
  text: `SELECT virtual_time FROM dispatch_clock FOR UPDATE`,
};

/**
 * The fair claim: start-time fair queuing in two levels, clients then accounts, in one statement.
 *
 * 1. `queues`: the distinct (client, account) pairs with open, unleased work, by a skip scan over
 *    recharges_queue_idx (one index descent per pair, however many rows each pair holds); `due`
 *    keeps those with a due recharge (up to `limit` counted, index-only, one more descent each).
 * 2. Clients: each has a virtual time on the shared clock (`dispatch_clients.pass`), never behind
 *    the clock (an idle or new client starts at the clock: idleness earns no burst, and a busy
 *    client's earlier service is never owed back). Its k-th turn in this claim comes at
 *    start + (k - 1) × 1,000,000 / weight; `turns` is the `limit` earliest turns of all clients.
 * 3. Accounts: within a client the same scheme with an equal stride and the client's own account
 *    clock, over only the k accounts whose turn comes first (a later account cannot win one of k
 *    turns), each offering its k oldest due rows; `chosen` is each client's k earliest.
 * 4. Orphans go first: a recharge whose lease lapsed unreleased (its replica died mid-work) has
 *    had its turn already, and is resumed before any new turn (recharges_leased_idx holds only
 *    leased rows: the few in flight). The fair path takes only never-leased or released rows.
 * 5. The rows taken are locked (SKIP LOCKED: a row being written right now waits for the next
 *    claim) and leased; the virtual times and the clock move past the turns taken.
 *
 * Leased rows are not in recharges_queue_idx; in recharges_leased_idx only lapsed leases qualify, and
 * the lock step checks the lease again, so a live lease is never taken. The cost is a few index descents per pair with open work, none
 * per queued row: flat however long the queues are (docs/fair-dispatch.md shows the plan).
 */
export const FAIR_CLAIM: Statement = {
  name: 'recharge_claim_fair_v1',
  text: `WITH RECURSIVE queues AS (
      (SELECT r.client_id, r.account_id FROM recharges r
        WHERE r.state IN ('CREATED', 'SUBMITTED', 'PENDING_CONFIRMATION') AND r.lease_owner IS NULL
        ORDER BY r.client_id, r.account_id LIMIT 1)
      UNION ALL
      SELECT n.client_id, n.account_id FROM queues q CROSS JOIN LATERAL (
        SELECT r.client_id, r.account_id FROM recharges r
        WHERE r.state IN ('CREATED', 'SUBMITTED', 'PENDING_CONFIRMATION') AND r.lease_owner IS NULL
          AND (r.client_id, r.account_id) > (q.client_id, q.account_id)
        ORDER BY r.client_id, r.account_id LIMIT 1) n
    ),
    due AS (
      SELECT q.client_id, q.account_id, h.head, h.available, dq.pass
      FROM queues q
      CROSS JOIN LATERAL (
        SELECT min(x.next_attempt_at) AS head, count(*) AS available FROM (
          SELECT r.next_attempt_at FROM recharges r
          WHERE r.client_id = q.client_id AND r.account_id = q.account_id
            AND r.state IN ('CREATED', 'SUBMITTED', 'PENDING_CONFIRMATION')
            AND r.next_attempt_at <= $1 AND r.lease_owner IS NULL
          ORDER BY r.next_attempt_at LIMIT $3) x) h
      LEFT JOIN dispatch_queues dq ON dq.client_id = q.client_id AND dq.account_id = q.account_id
      WHERE h.available > 0
    ),
    clients_due AS (
      SELECT d.client_id, GREATEST(dc.pass, clock.virtual_time) AS start, 1000000 / c.weight AS stride,
        COALESCE(dc.account_clock, 0) AS account_clock, min(d.head) AS head, LEAST(sum(d.available), $3)::int AS available
      FROM due d
      JOIN clients c ON c.id = d.client_id
      CROSS JOIN dispatch_clock clock
      LEFT JOIN dispatch_clients dc ON dc.client_id = d.client_id
      GROUP BY d.client_id, dc.pass, clock.virtual_time, c.weight, dc.account_clock
    ),
    turns AS (
      SELECT cd.client_id, cd.start + (n - 1) * cd.stride AS tag, cd.stride
      FROM clients_due cd CROSS JOIN LATERAL generate_series(1, cd.available) n
      ORDER BY tag, cd.head, cd.client_id LIMIT $3
    ),
    shares AS (SELECT client_id, count(*) AS k FROM turns GROUP BY client_id),
    accounts AS (
      SELECT * FROM (
        SELECT d.client_id, d.account_id, s.k, GREATEST(d.pass, cd.account_clock) AS start,
          row_number() OVER (PARTITION BY d.client_id ORDER BY GREATEST(d.pass, cd.account_clock), d.head, d.account_id) AS rank
        FROM due d JOIN shares s ON s.client_id = d.client_id JOIN clients_due cd ON cd.client_id = d.client_id) x
      WHERE x.rank <= x.k
    ),
    candidates AS (
      SELECT a.client_id, a.account_id, a.k, a.start + (h.m - 1) * 1000000 AS tag, h.id, h.next_attempt_at
      FROM accounts a CROSS JOIN LATERAL (
        SELECT y.id, y.next_attempt_at, row_number() OVER (ORDER BY y.next_attempt_at) AS m FROM (
          SELECT r.id, r.next_attempt_at FROM recharges r
          WHERE r.client_id = a.client_id AND r.account_id = a.account_id
            AND r.state IN ('CREATED', 'SUBMITTED', 'PENDING_CONFIRMATION')
            AND r.next_attempt_at <= $1 AND r.lease_owner IS NULL
          ORDER BY r.next_attempt_at LIMIT a.k) y) h
    ),
    chosen AS (
      SELECT * FROM (
        SELECT c.*, row_number() OVER (PARTITION BY c.client_id ORDER BY c.tag, c.next_attempt_at) AS pick FROM candidates c) x
      WHERE x.pick <= x.k
    ),
    orphans AS (
      SELECT r.id, r.lease_until FROM recharges r
      WHERE r.lease_owner IS NOT NULL AND r.state IN ('CREATED', 'SUBMITTED', 'PENDING_CONFIRMATION')
        AND r.lease_until <= $1 AND r.next_attempt_at <= $1
      ORDER BY r.lease_until LIMIT $3
    ),
    taken AS (
      SELECT * FROM (
        SELECT o.id, NULL::text AS client_id, NULL::text AS account_id, NULL::bigint AS tag, o.lease_until AS next_attempt_at, 0 AS priority
        FROM orphans o
        UNION ALL
        SELECT c.id, c.client_id, c.account_id, c.tag, c.next_attempt_at, 1 FROM chosen c) u
      ORDER BY u.priority, u.tag, u.next_attempt_at LIMIT $3
    ),
    fair AS (SELECT * FROM taken WHERE priority = 1),
    served AS (
      SELECT f.client_id, count(*) AS k, max(f.tag) AS account_clock FROM fair f GROUP BY f.client_id
    ),
    locked AS (
      SELECT r.id FROM recharges r
      WHERE r.id = ANY (ARRAY(SELECT id FROM taken)) AND r.state IN ('CREATED', 'SUBMITTED', 'PENDING_CONFIRMATION')
        AND r.next_attempt_at <= $1 AND (r.lease_until IS NULL OR r.lease_until <= $1)
      FOR UPDATE SKIP LOCKED
    ),
    claimed AS (
      UPDATE recharges r SET next_attempt_at = $2, lease_until = $2, lease_owner = $4, version = r.version + 1
      WHERE r.id = ANY (ARRAY(SELECT id FROM locked))
      RETURNING r.id, r.trace_context
    ),
    account_passes AS (
      INSERT INTO dispatch_queues (client_id, account_id, pass)
      SELECT client_id, account_id, max(tag) + 1000000 FROM fair GROUP BY client_id, account_id
      ON CONFLICT (client_id, account_id) DO UPDATE SET pass = EXCLUDED.pass
    ),
    client_passes AS (
      INSERT INTO dispatch_clients (client_id, pass, account_clock)
      SELECT s.client_id, cd.start + s.k * cd.stride, s.account_clock
      FROM served s JOIN clients_due cd ON cd.client_id = s.client_id
      ON CONFLICT (client_id) DO UPDATE
        SET pass = EXCLUDED.pass, account_clock = GREATEST(dispatch_clients.account_clock, EXCLUDED.account_clock)
    ),
    tick AS (
      UPDATE dispatch_clock SET virtual_time = (
        SELECT max(cd.start + (s.k - 1) * cd.stride) FROM served s JOIN clients_due cd ON cd.client_id = s.client_id)
      WHERE EXISTS (SELECT 1 FROM served)
    )
    SELECT claimed.id, claimed.trace_context FROM claimed JOIN taken USING (id)
    ORDER BY taken.priority, taken.tag, taken.next_attempt_at`,
};

const CLAIM_ONE: Statement = {
  name: 'recharge_claim_one_v1',
  text: `UPDATE recharges SET next_attempt_at = $2, lease_until = $2, lease_owner = $4, version = version + 1
    WHERE id = $1 AND state IN ('CREATED', 'SUBMITTED', 'PENDING_CONFIRMATION') AND (lease_until IS NULL OR lease_until <= $3)
    RETURNING id, trace_context`,
};

const RENEW_LEASE: Statement = {
  name: 'recharge_renew_lease_v1',
  text: `UPDATE recharges SET lease_until = $3, next_attempt_at = GREATEST(next_attempt_at, $3)
    WHERE id = $1 AND lease_owner = $2 AND state IN ('CREATED', 'SUBMITTED', 'PENDING_CONFIRMATION')
    RETURNING id`,
};

/**
 * The recharge aggregate in PostgreSQL. Every path that runs per request or per provider call is
 * plain SQL in named prepared statements (PgStatements): the insert, the lookups, the claims and
 * `mutate`. Listings, the event trail and the reconciler's queries go through MikroORM.
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
    const rows = await this.sql.query<{ id: string }>(CREATE_IF_ABSENT, [
      recharge.id,
      recharge.clientId,
      recharge.idempotencyKey,
      recharge.requestFingerprint,
      recharge.accountId,
      recharge.amountMinor.toString(),
      recharge.currency,
      recharge.orderReference,
      JSON.stringify(recharge.metadata),
      recharge.callbackUrl,
      recharge.state,
      recharge.nextAttemptAt,
      recharge.createdAt,
      recharge.updatedAt,
      currentTraceParent(),
      creation.to,
      creation.reason,
      creation.source,
      creation.at,
    ]);
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
    const where: Record<string, unknown> = { clientId: q.clientId };
    if (q.accountId) where.accountId = q.accountId;
    if (q.states) where.state = { $in: q.states };
    if (q.after) where.id = { $lt: q.after };
    const rows = await this.em.fork().find(Recharge, where, { orderBy: { id: 'desc' }, limit: q.limit + 1 });
    const data = rows.slice(0, q.limit);
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
        for (const t of transitions) if (t.to === RechargeState.SUCCEEDED) await this.postJournal(tx, recharge, t.at);
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
          for (const t of finals) await this.enqueueCallback(tx, recharge, t);
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

  /**
   * The callback outbox row, in the same transaction as the final transition: committed together
   * or not at all, and never published before the commit. Only for recharges with a callbackUrl.
   * The recharge's row lock orders its enqueues; an older callback still waiting is superseded.
   */
  private async enqueueCallback(tx: StatementRunner, recharge: Recharge, t: RechargeTransition): Promise<void> {
    if (!recharge.callbackUrl) return;
    const id = newId('msg');
    const eventType = `recharge.${t.to.toLowerCase()}`;
    const event = {
      specversion: '1.0',
      id,
      source: 'alicloud-recharge',
      type: eventType,
      subject: recharge.id,
      time: t.at.toISOString(),
      datacontenttype: 'application/json',
      data: presentRecharge(recharge),
    };
    await tx.query(SUPERSEDE_CALLBACKS, [recharge.id, id]);
    await tx.query(ENQUEUE_CALLBACK, [
      id,
      recharge.id,
      recharge.clientId,
      recharge.callbackUrl,
      eventType,
      JSON.stringify(event),
      t.at,
    ]);
  }

  /** Appends the double-entry journal and moves the cached balances, inside the caller's transaction. */
  private async postJournal(tx: StatementRunner, recharge: Recharge, at: Date): Promise<void> {
    const entries = journalForSucceededRecharge(recharge, at);
    await tx.query(INSERT_LEDGER_ENTRIES, [
      recharge.id,
      entries.map(() => newId('led')),
      entries.map((e) => e.ledgerAccount),
      entries.map((e) => e.accountId),
      entries.map((e) => e.direction),
      entries.map((e) => e.amountMinor.toString()),
      entries.map((e) => e.currency),
      at,
    ]);
    const deltas = new Map<string, { ledgerAccount: string; currency: string; amount: bigint }>();
    for (const entry of entries) {
      const key = `${entry.ledgerAccount}\u0000${entry.currency}`;
      const sum = deltas.get(key) ?? { ledgerAccount: entry.ledgerAccount, currency: entry.currency, amount: 0n };
      sum.amount += signedAmount(entry);
      deltas.set(key, sum);
    }
    const rows = [...deltas.values()];
    await tx.query(MOVE_BALANCES, [
      rows.map((r) => r.ledgerAccount),
      rows.map((r) => r.currency),
      rows.map((r) => r.amount.toString()),
      at,
    ]);
  }
}
