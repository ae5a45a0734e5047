import { Injectable, Logger } from '@nestjs/common';
import { Clock } from '../../../libs/shared/clock';
import { ProviderReport } from '../domain/recharge';
import {
  NotificationInbox,
  NotificationResult,
  NotificationType,
  ProviderNotification,
} from './ports/notification-inbox';
import { RechargeRepository } from './ports/recharge.repository';
import { RechargeTelemetry } from './ports/recharge-telemetry';

const STATUS_OF: Record<NotificationType, ProviderReport['status']> = {
  'bss:Recharge:Succeeded': 'SUCCEEDED',
  'bss:Recharge:Failed': 'FAILED',
  'bss:Recharge:Canceled': 'CANCELED',
};

/**
 * Provider notifications: stored first (deduplicated on webhook-id), then applied through the
 * aggregate. Applying is idempotent by the recharge's state, so the webhook handler and the
 * reconciler may both try the same notification without a second effect.
 */
@Injectable()
export class ApplyNotificationUseCase {
  private readonly logger = new Logger('Notifications');

  constructor(
    private readonly inbox: NotificationInbox,
    private readonly recharges: RechargeRepository,
    private readonly telemetry: RechargeTelemetry,
    private readonly clock: Clock,
  ) {}

  /** Returns 'duplicate' when this webhook-id was received before (no second effect). */
  async receive(notification: ProviderNotification, payload: unknown): Promise<NotificationResult> {
    if (!(await this.inbox.store(notification, payload))) {
      this.telemetry.webhookEvent('duplicate');
      return 'duplicate';
    }
    return this.apply(notification);
  }

  async apply(n: ProviderNotification): Promise<NotificationResult> {
    const { result, detail } = await this.decide(n);
    await this.inbox.complete(n.webhookId, result, detail, this.clock.now());
    this.telemetry.webhookEvent(result);
    return result;
  }

  /**
   * Everything the notification finds is decided under the recharge's row lock, and a discrepancy
   * (mismatched owner, amount or currency; a success for a CANCELED or definitively FAILED
   * recharge) is stored in the same transaction as that decision.
   */
  private async decide(n: ProviderNotification): Promise<{ result: NotificationResult; detail: string | null }> {
    const report: ProviderReport = {
      status: STATUS_OF[n.type],
      providerReference: n.transactionNumber,
      failureCode: n.failureCode,
    };
    const evidence = { webhookId: n.webhookId, notification: n };
    const mutation = await this.recharges.mutate(n.outBizId, (r) => {
      const now = this.clock.now();
      const mismatches = r.mismatchesWith(n);
      if (mismatches.length > 0) {
        r.noteDiscrepancy(
          'notification_mismatch',
          {
            ...evidence,
            mismatches,
            ours: { accountId: r.accountId, amountMinor: r.amountMinor.toString(), currency: r.currency },
          },
          now,
        );
        return { result: 'discrepancy' as const, detail: `mismatched ${mismatches.join(', ')}`, state: r.state };
      }
      const result = r.applyProviderReport(report, 'webhook', now, evidence);
      return { result, detail: null, state: r.state };
    });
    if (!mutation) return { result: 'orphan', detail: 'no recharge with this OutBizId yet' };
    const outcome = mutation.result;
    if (outcome.result === 'discrepancy') {
      return {
        result: 'discrepancy',
        detail: outcome.detail ?? `provider reports success for a recharge that is ${outcome.state}`,
      };
    }
    if (outcome.result === 'ignored') {
      this.logger.warn(
        { rechargeId: n.outBizId, webhookId: n.webhookId, type: n.type, state: outcome.state },
        `notification ${n.type} refused: recharge is ${outcome.state}`,
      );
      return { result: 'ignored', detail: `refused: recharge is ${outcome.state}` };
    }
    return { result: outcome.result, detail: null };
  }
}
