import { EntityManager } from '@mikro-orm/postgresql';
import { Injectable } from '@nestjs/common';
import { redactNullable } from '../../../../libs/shared/redact';
import {
  NotificationInbox,
  NotificationResult,
  ProviderNotification,
} from '../../application/ports/notification-inbox';

interface Row {
  webhook_id: string;
  event_id: string;
  type: ProviderNotification['type'];
  out_biz_id: string;
  owner_id: string;
  amount: string;
  currency: string;
  transaction_number: string | null;
  failure_code: string | null;
  received_at: Date | string;
  result: NotificationResult | null;
}

@Injectable()
export class PgNotificationInbox extends NotificationInbox {
  constructor(private readonly em: EntityManager) {
    super();
  }

  async store(n: ProviderNotification, payload: unknown): Promise<boolean> {
    const rows = await this.em.getConnection().execute(
      `INSERT INTO provider_notifications (webhook_id, event_id, type, out_biz_id, owner_id, amount, currency, transaction_number, failure_code, payload, received_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?::jsonb, ?) ON CONFLICT (webhook_id) DO NOTHING RETURNING webhook_id`,
      [
        n.webhookId,
        n.eventId,
        n.type,
        n.outBizId,
        n.ownerId,
        n.amount,
        n.currency,
        n.transactionNumber,
        n.failureCode,
        JSON.stringify(payload),
        n.receivedAt,
      ],
    );
    return rows.length === 1;
  }

  /**
   * Never-processed notifications first, then orphans by their last attempt (an orphan that stays
   * unmatched gets a new processed_at), so a pile of orphans larger than one batch can neither
   * starve unapplied notifications nor keep the newer orphans from ever being retried.
   */
  async pending(before: Date, limit: number): Promise<Array<ProviderNotification & { orphan: boolean }>> {
    const rows: Row[] = await this.em.getConnection().execute(
      `SELECT * FROM provider_notifications
       WHERE (processed_at IS NULL AND received_at < ?) OR result = 'orphan'
       ORDER BY processed_at NULLS FIRST, received_at LIMIT ?`,
      [before, limit],
    );
    return rows.map((r) => ({
      webhookId: r.webhook_id,
      eventId: r.event_id,
      type: r.type,
      outBizId: r.out_biz_id,
      ownerId: r.owner_id,
      amount: r.amount,
      currency: r.currency,
      transactionNumber: r.transaction_number,
      failureCode: r.failure_code,
      // Raw queries through MikroORM's pg driver return timestamptz as a string, not a Date.
      receivedAt: new Date(r.received_at),
      orphan: r.result === 'orphan',
    }));
  }

  async complete(webhookId: string, result: NotificationResult, detail: string | null, at: Date): Promise<void> {
    await this.em.getConnection().execute(
      `UPDATE provider_notifications SET result = ?, detail = ?, processed_at = ?
       WHERE webhook_id = ? AND (processed_at IS NULL OR result = 'orphan')`,
      [result, redactNullable(detail), at, webhookId],
    );
  }
}
