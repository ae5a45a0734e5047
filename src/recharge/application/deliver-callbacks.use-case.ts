import { Injectable, Logger } from '@nestjs/common';
import { Clock } from '../../../libs/shared/clock';
import { CallbackDelivery, CallbackOutbox, CallbackSender } from './ports/callback-outbox';
import { RechargeTelemetry } from './ports/recharge-telemetry';

export abstract class CallbackSettings {
  abstract readonly retryBaseMs: number;
}

/** No single wait longer than this; with the 10 s default base the schedule spans about a day. */
export const MAX_RETRY_DELAY_MS = 4 * 60 * 60 * 1000;
export const GIVE_UP_AFTER_MS = 24 * 60 * 60 * 1000;

/**
 * Delay before retry number `attempt` (1-based): base × 2^(attempt−1), capped at 4 h. With
 * CALLBACK_RETRY_BASE_MS = 10 s: 10 s, 20 s, 40 s … 2.8 h, then every 4 h until 24 h have passed.
 */
export const callbackRetryDelay = (attempt: number, baseMs: number): number =>
  Math.min(MAX_RETRY_DELAY_MS, baseMs * 2 ** (attempt - 1));

@Injectable()
export class DeliverCallbacksUseCase {
  private readonly logger = new Logger('Callbacks');

  constructor(
    private readonly outbox: CallbackOutbox,
    private readonly sender: CallbackSender,
    private readonly settings: CallbackSettings,
    private readonly telemetry: RechargeTelemetry,
    private readonly clock: Clock,
  ) {}

  /** Delivers what is due; returns how many deliveries were attempted. */
  async deliverDue(limit: number): Promise<number> {
    const now = this.clock.now();
    const due = await this.outbox.claimDue(limit, now, new Date(now.getTime() + 60_000));
    await Promise.all(due.map((d) => this.deliver(d)));
    return due.length;
  }

  private async deliver(d: CallbackDelivery): Promise<void> {
    const at = this.clock.now();
    const attempt = await this.sender.send(d, at);
    const delivered = attempt.statusCode !== null && attempt.statusCode >= 200 && attempt.statusCode < 300;
    const attempts = d.attempts + 1;
    let next: Date | null = null;
    if (!delivered) {
      const candidate = at.getTime() + callbackRetryDelay(attempts, this.settings.retryBaseMs);
      next = candidate - d.createdAt.getTime() <= GIVE_UP_AFTER_MS ? new Date(candidate) : null;
    }
    await this.outbox.recordAttempt(d.id, at, attempt, delivered, next);
    const outcome = delivered ? 'delivered' : next ? 'retrying' : 'gave_up';
    this.telemetry.callbackDelivery(outcome);
    if (!delivered) {
      this.logger.warn(
        { deliveryId: d.id, rechargeId: d.rechargeId, attempts, statusCode: attempt.statusCode, error: attempt.error },
        `callback ${d.id} (${d.eventType}) for ${d.rechargeId ?? 'a rule'} failed (attempt ${attempts}); ${next ? `next at ${next.toISOString()}` : 'giving up'}`,
      );
    }
  }
}
