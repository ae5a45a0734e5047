import { EntityManager } from '@mikro-orm/postgresql';
import { Injectable } from '@nestjs/common';
import { redactNullable } from '../../../../libs/shared/redact';
import { Statement, StatementRunner } from '../../../database/pg-statements';
import { RechargeCallbackEvent } from '../../application/recharge-callback.event';
import {
  CallbackDelivery,
  CallbackOutbox,
  DeliveryAttempt,
  DeliveryStatus,
} from '../../application/ports/callback-outbox';

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

/**
 * The callback outbox row, in the same transaction as the final transition: committed together
 * or not at all, and never published before the commit. Only for recharges with a callbackUrl.
 * The recharge's row lock orders its enqueues; an older callback still waiting is superseded.
 */
export async function enqueueCallback(
  tx: StatementRunner,
  to: { rechargeId: string; clientId: string; url: string; at: Date },
  callback: RechargeCallbackEvent,
): Promise<void> {
  await tx.query(SUPERSEDE_CALLBACKS, [to.rechargeId, callback.id]);
  await tx.query(ENQUEUE_CALLBACK, [
    callback.id,
    to.rechargeId,
    to.clientId,
    to.url,
    callback.eventType,
    callback.payload,
    to.at,
  ]);
}

@Injectable()
export class PgCallbackOutbox extends CallbackOutbox {
  constructor(private readonly em: EntityManager) {
    super();
  }

  /**
   * A recharge has at most one pending callback (a unique index), and it is not claimed while
   * another callback of the same recharge is leased (an older one, superseded or not, still on the
   * wire): one recharge's deliveries go out one at a time, in order, on whichever replica. The
   * lease outlasts the sender's timeout, so only a replica frozen past it could let one overtake.
   */
  async claimDue(limit: number, now: Date, leaseUntil: Date): Promise<CallbackDelivery[]> {
    const rows: Array<Record<string, any>> = await this.em.getConnection().execute(
      `WITH due AS (
         SELECT d.id FROM callback_deliveries d
         WHERE d.status = 'pending' AND d.next_attempt_at <= ?
           AND NOT EXISTS (
             SELECT 1 FROM callback_deliveries o
             WHERE o.recharge_id = d.recharge_id AND o.id <> d.id AND o.leased_until > ?)
         ORDER BY d.next_attempt_at LIMIT ? FOR UPDATE OF d SKIP LOCKED)
       UPDATE callback_deliveries d SET next_attempt_at = ?, leased_until = ? FROM due, clients c
       WHERE d.id = due.id AND c.id = d.client_id
       RETURNING d.id, d.recharge_id, d.url, d.event_type, d.payload::text AS payload, d.attempts, d.created_at, c.webhook_secret,
         c.revoked_at IS NOT NULL AS client_revoked`,
      [now, now, limit, leaseUntil, leaseUntil],
    );
    return rows.map((r) => ({
      id: r.id,
      rechargeId: r.recharge_id,
      url: r.url,
      eventType: r.event_type,
      payload: r.payload,
      webhookSecret: r.webhook_secret,
      clientRevoked: r.client_revoked === true,
      attempts: r.attempts,
      // Raw queries through MikroORM's pg driver return timestamptz as a string, not a Date.
      createdAt: new Date(r.created_at),
    }));
  }

  /** A superseded callback is never retried (and never back to pending): a newer one of its recharge waits. */
  async recordAttempt(
    id: string,
    at: Date,
    a: DeliveryAttempt,
    delivered: boolean,
    nextAttemptAt: Date | null,
  ): Promise<DeliveryStatus> {
    return this.em.fork().transactional(async (em) => {
      const conn = em.getConnection();
      const ctx = em.getTransactionContext();
      await conn.execute(
        `INSERT INTO callback_attempts (delivery_id, attempted_at, status_code, latency_ms, error) VALUES (?, ?, ?, ?, ?)`,
        [id, at, a.statusCode, a.latencyMs, redactNullable(a.error)],
        'run',
        ctx,
      );
      const wanted: DeliveryStatus = delivered ? 'delivered' : nextAttemptAt ? 'pending' : 'failed';
      const [row]: Array<{ status: DeliveryStatus }> = await conn.execute(
        `UPDATE callback_deliveries SET attempts = attempts + 1, last_status_code = ?, last_error = ?,
           status = CASE WHEN status = 'superseded' AND ?::text <> 'delivered' THEN 'superseded' ELSE ?::text END,
           next_attempt_at = CASE WHEN status = 'superseded' THEN NULL ELSE ?::timestamptz END,
           delivered_at = ?, leased_until = NULL
         WHERE id = ? RETURNING status`,
        [a.statusCode, redactNullable(a.error), wanted, wanted, nextAttemptAt, delivered ? at : null, id],
        'all',
        ctx,
      );
      return row?.status ?? wanted;
    });
  }
}
