import { Injectable, Logger } from '@nestjs/common';
import { claimRoom } from './claim-horizon';
import { ProviderSendSchedule } from './ports/provider-send-schedule';
import { Clock } from '../../../libs/shared/clock';
import { newId } from '../../../libs/shared/ids';
import { ApplyNotificationUseCase } from './apply-notification.use-case';
import { DispatchRechargeUseCase, DispatchSettings } from './dispatch-recharge.use-case';
import { NotificationInbox } from './ports/notification-inbox';
import { RechargeRepository } from './ports/recharge.repository';
import { ReconciliationCounts, ReconciliationRunLog } from './ports/reconciliation-run.log';
import { RechargeTelemetry } from './ports/recharge-telemetry';

/** A notification younger than this is still being applied by the webhook handler that stored it. */
const INBOX_GRACE_MS = 10_000;
const BATCH = 500;
const REDRIVE_CHUNK = 8;

export interface ReconciliationReport extends ReconciliationCounts {
  runId: string;
  outcome: 'succeeded' | 'failed';
  error: string | null;
}

/**
 * One pass that settles everything not final: expire what is past the confirmation window,
 * re-drive what is due (same OutBizId), apply stored notifications that were never applied, and
 * match orphans. Safe on several replicas at once: re-drives are claimed with SKIP LOCKED leases,
 * expiry and notifications go through row-locked, state-idempotent mutations.
 */
@Injectable()
export class ReconcileUseCase {
  private readonly logger = new Logger('Reconciliation');

  constructor(
    private readonly recharges: RechargeRepository,
    private readonly dispatch: DispatchRechargeUseCase,
    private readonly settings: DispatchSettings,
    private readonly notifications: ApplyNotificationUseCase,
    private readonly inbox: NotificationInbox,
    private readonly runs: ReconciliationRunLog,
    private readonly telemetry: RechargeTelemetry,
    private readonly clock: Clock,
    private readonly schedule: ProviderSendSchedule,
  ) {}

  async runOnce(): Promise<ReconciliationReport> {
    const runId = newId('rec');
    const counts: ReconciliationCounts = {
      redriven: 0,
      expired: 0,
      notificationsApplied: 0,
      orphansMatched: 0,
      orphansOpen: 0,
      discrepancies: 0,
    };
    await this.runs.start(runId, this.clock.now());
    let outcome: 'succeeded' | 'failed' = 'succeeded';
    let error: string | null = null;
    try {
      await this.expireOverdue(counts);
      await this.redrive(counts);
      await this.applyPendingNotifications(counts);
    } catch (err) {
      outcome = 'failed';
      error = err instanceof Error ? err.message.slice(0, 500) : String(err);
      this.logger.error({ err, runId }, 'reconciliation pass failed');
    }
    const now = this.clock.now();
    await this.runs.finish(runId, now, outcome, counts, error);
    const beyondSla = await this.recharges.countOpenCreatedBefore(
      new Date(now.getTime() - this.settings.reconcileAfterMs),
    );
    this.telemetry.reconciliationRun(outcome, beyondSla);
    this.logger.log({ runId, outcome, ...counts, pendingBeyondSla: beyondSla }, `reconciliation ${runId} ${outcome}`);
    return { runId, outcome, error, ...counts };
  }

  private async expireOverdue(counts: ReconciliationCounts): Promise<void> {
    const now = this.clock.now();
    const ids = await this.recharges.overdue(new Date(now.getTime() - this.settings.confirmationWindowMs), now, BATCH);
    for (const id of ids) {
      const m = await this.recharges.mutate(id, (r) => {
        const at = this.clock.now();
        // A replica holds it: its call may be in flight and may still prove success. It expires it
        // itself, or this pass does once the lease has lapsed.
        if (r.leaseLive(at) || !r.confirmationOverdue(at, this.settings.confirmationWindowMs)) return false;
        r.expire('reconciliation', at);
        return true;
      });
      if (m?.result) counts.expired += 1;
    }
  }

  /**
   * Small claims, processed before the next, each no larger than the claim horizon allows: the
   * re-drive is a backstop for work no dispatcher takes, and while the provider's schedule is
   * full (a dispatcher is draining a backlog) it takes nothing, rather than putting a block of
   * slots ahead of the fair queue.
   */
  private async redrive(counts: ReconciliationCounts): Promise<void> {
    while (counts.redriven < BATCH) {
      const room = Math.min(REDRIVE_CHUNK, claimRoom(this.schedule));
      if (room < 1) return;
      const claimed = await this.dispatch.claimDue(room);
      if (claimed.length === 0) return;
      counts.redriven += claimed.length;
      await Promise.all(claimed.map((c) => this.dispatch.process(c, 'reconciliation')));
    }
  }

  private async applyPendingNotifications(counts: ReconciliationCounts): Promise<void> {
    const pending = await this.inbox.pending(new Date(this.clock.now().getTime() - INBOX_GRACE_MS), BATCH);
    for (const n of pending) {
      const result = await this.notifications.apply(n);
      if (result === 'orphan') counts.orphansOpen += 1;
      else if (n.orphan) counts.orphansMatched += 1;
      else counts.notificationsApplied += 1;
      if (result === 'discrepancy') counts.discrepancies += 1;
    }
  }
}
