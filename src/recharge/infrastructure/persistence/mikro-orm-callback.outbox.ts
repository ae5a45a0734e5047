import { EntityManager } from '@mikro-orm/postgresql';
import { Injectable } from '@nestjs/common';
import { redactNullable } from '../../../../libs/shared/redact';
import { CallbackDelivery, CallbackOutbox, DeliveryAttempt } from '../../application/ports/callback-outbox';

@Injectable()
export class MikroOrmCallbackOutbox extends CallbackOutbox {
  constructor(private readonly em: EntityManager) {
    super();
  }

  async claimDue(limit: number, now: Date, leaseUntil: Date): Promise<CallbackDelivery[]> {
    const rows: Array<Record<string, any>> = await this.em.getConnection().execute(
      `WITH due AS (
         SELECT id FROM callback_deliveries WHERE status = 'pending' AND next_attempt_at <= ?
         ORDER BY next_attempt_at LIMIT ? FOR UPDATE SKIP LOCKED)
       UPDATE callback_deliveries d SET next_attempt_at = ? FROM due, clients c
       WHERE d.id = due.id AND c.id = d.client_id
       RETURNING d.id, d.recharge_id, d.url, d.event_type, d.payload::text AS payload, d.attempts, d.created_at, c.webhook_secret,
         c.revoked_at IS NOT NULL AS client_revoked`,
      [now, limit, leaseUntil],
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

  async recordAttempt(
    id: string,
    at: Date,
    a: DeliveryAttempt,
    delivered: boolean,
    nextAttemptAt: Date | null,
  ): Promise<void> {
    await this.em.fork().transactional(async (em) => {
      const conn = em.getConnection();
      const ctx = em.getTransactionContext();
      await conn.execute(
        `INSERT INTO callback_attempts (delivery_id, attempted_at, status_code, latency_ms, error) VALUES (?, ?, ?, ?, ?)`,
        [id, at, a.statusCode, a.latencyMs, redactNullable(a.error)],
        'run',
        ctx,
      );
      await conn.execute(
        `UPDATE callback_deliveries SET attempts = attempts + 1, last_status_code = ?, last_error = ?,
           status = ?, next_attempt_at = ?, delivered_at = ? WHERE id = ?`,
        [
          a.statusCode,
          redactNullable(a.error),
          delivered ? 'delivered' : nextAttemptAt ? 'pending' : 'failed',
          nextAttemptAt,
          delivered ? at : null,
          id,
        ],
        'run',
        ctx,
      );
    });
  }
}
