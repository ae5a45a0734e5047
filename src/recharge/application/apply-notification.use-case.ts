import { Injectable, Logger } from '@nestjs/common';
import { Clock } from '../../../libs/shared/clock';
import { ProviderReport } from '../domain/recharge';
import { RechargeState } from '../domain/recharge-state';
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

  private async decide(n: ProviderNotification): Promise<{ result: NotificationResult; detail: string | null }> {
    const recharge = await this.recharges.findById(n.outBizId);
    if (!recharge) return { result: 'orphan', detail: 'no recharge with this OutBizId yet' };
    const mismatches = recharge.mismatchesWith(n);
    if (mismatches.length > 0) {
      await this.discrepancy('notification_mismatch', n, {
        mismatches,
        ours: {
          accountId: recharge.accountId,
          amountMinor: recharge.amountMinor.toString(),
          currency: recharge.currency,
        },
      });
      return { result: 'discrepancy', detail: `mismatched ${mismatches.join(', ')}` };
    }
    const report: ProviderReport = {
      status: STATUS_OF[n.type],
      providerReference: n.transactionNumber,
      failureCode: n.failureCode,
    };
    const mutation = await this.recharges.mutate(n.outBizId, (r) => ({
      result: r.applyProviderReport(report, 'webhook', this.clock.now()),
      state: r.state,
    }));
    const outcome = mutation!.result;
    if (outcome.result === 'ignored') {
      if (report.status === 'SUCCEEDED' && outcome.state === RechargeState.CANCELED) {
        await this.discrepancy('succeeded_after_cancel', n, { state: outcome.state });
        return { result: 'discrepancy', detail: 'provider reports success for a canceled recharge' };
      }
      this.logger.warn(
        { rechargeId: n.outBizId, webhookId: n.webhookId, type: n.type, state: outcome.state },
        `notification ${n.type} refused: recharge is ${outcome.state}`,
      );
      return { result: 'ignored', detail: `refused: recharge is ${outcome.state}` };
    }
    return { result: outcome.result, detail: null };
  }

  private async discrepancy(kind: string, n: ProviderNotification, detail: object): Promise<void> {
    const recorded = await this.inbox.recordDiscrepancy(
      kind,
      n.outBizId,
      n.webhookId,
      { ...detail, notification: n },
      this.clock.now(),
    );
    if (!recorded) return;
    this.telemetry.discrepancy(kind);
    this.logger.warn(
      { rechargeId: n.outBizId, webhookId: n.webhookId, kind, ...detail },
      `discrepancy ${kind} on ${n.outBizId}: not applied`,
    );
  }
}
