import { EntityManager } from '@mikro-orm/postgresql';
import { Injectable } from '@nestjs/common';
import { redactNullable } from '../../../../libs/shared/redact';
import {
  CallbackDelivery,
  CallbackOutbox,
  DeliveryAttempt,
  DeliveryStatus,
} from '../../application/ports/callback-outbox';

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
