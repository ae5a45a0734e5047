import { Statement } from '../../../database/pg-statements';
import { Currency } from '../../domain/money';
import { CreditParameters, FailureCode, Recharge, RechargeTransition } from '../../domain/recharge';
import { RechargeState } from '../../domain/recharge-state';

/*
 * The one place that knows the `recharges` columns: the named statements on the table, the row
 * type, and the mapping both ways (`rechargeFromRow`, `mutableColumns`). A new column touches its
 * migration and this file.
 */

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
export function mutableColumns(r: Recharge): unknown[] {
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

export const CREATE_IF_ABSENT: Statement = {
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

/** CREATE_IF_ABSENT's parameters: the new recharge, its CREATED transition and the creating request's trace. */
export const createParams = (
  recharge: Recharge,
  creation: RechargeTransition,
  traceContext: string | null,
): unknown[] => [
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
  traceContext,
  creation.to,
  creation.reason,
  creation.source,
  creation.at,
];

export const FIND_BY_ID: Statement = {
  name: 'recharge_find_v1',
  text: `SELECT ${RECHARGE_COLUMNS} FROM recharges WHERE id = $1`,
};
export const FIND_BY_KEY: Statement = {
  name: 'recharge_find_by_key_v1',
  text: `SELECT ${RECHARGE_COLUMNS} FROM recharges WHERE client_id = $1 AND idempotency_key = $2`,
};
export const LOCK_BY_ID: Statement = {
  name: 'recharge_lock_v1',
  text: `SELECT ${RECHARGE_COLUMNS} FROM recharges WHERE id = $1 FOR UPDATE`,
};

export const UPDATE_RECHARGE: Statement = {
  name: 'recharge_update_v2',
  text: `UPDATE recharges SET state = $2, provider_reference = $3, message = $4, failure_code = $5, failure_message = $6,
      failure_provider_code = $7, attempts = $8, next_attempt_at = $9, submitted_at = $10, updated_at = $11, completed_at = $12,
      credit_parameters = $13::jsonb, sends = $14, send_started_at = $15, may_have_reached_provider = $16,
      lease_owner = $17, lease_until = $18, version = version + 1
    WHERE id = $1 RETURNING version`,
};

/** Rows go in as parallel arrays, so one statement text serves any number of transitions. */
export const INSERT_EVENTS: Statement = {
  name: 'recharge_events_insert_v2',
  text: `INSERT INTO recharge_events (recharge_id, from_state, to_state, reason, source, correction, at, actor)
    SELECT $1, e.from_state, e.to_state, e.reason, e.source, e.correction, e.at, e.actor
    FROM unnest($2::text[], $3::text[], $4::text[], $5::text[], $6::boolean[], $7::timestamptz[], $8::text[])
      WITH ORDINALITY AS e(from_state, to_state, reason, source, correction, at, actor, n)
    ORDER BY e.n`,
};

export const ANNOUNCE_FINISHED: Statement = {
  name: 'recharge_finished_notify_v1',
  text: `SELECT pg_notify('${RECHARGE_FINISHED_CHANNEL}', $1)`,
};

/** Claims take turns: the one holding the clock's row lock computes and moves the virtual times. */
export const LOCK_DISPATCH_CLOCK: Statement = {
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

export const CLAIM_ONE: Statement = {
  name: 'recharge_claim_one_v1',
  text: `UPDATE recharges SET next_attempt_at = $2, lease_until = $2, lease_owner = $4, version = version + 1
    WHERE id = $1 AND state IN ('CREATED', 'SUBMITTED', 'PENDING_CONFIRMATION') AND (lease_until IS NULL OR lease_until <= $3)
    RETURNING id, trace_context`,
};

export const RENEW_LEASE: Statement = {
  name: 'recharge_renew_lease_v1',
  text: `UPDATE recharges SET lease_until = $3, next_attempt_at = GREATEST(next_attempt_at, $3)
    WHERE id = $1 AND lease_owner = $2 AND state IN ('CREATED', 'SUBMITTED', 'PENDING_CONFIRMATION')
    RETURNING id`,
};
