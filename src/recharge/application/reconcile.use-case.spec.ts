import { Logger } from '@nestjs/common';
import { Clock, SystemClock } from '../../../libs/shared/clock';
import { ApplyNotificationUseCase } from './apply-notification.use-case';
import { CLAIM_HORIZON_MS } from './claim-horizon';
import { DispatchRechargeUseCase, DispatchSettings } from './dispatch-recharge.use-case';
import { NotificationInbox } from './ports/notification-inbox';
import { ProviderSendSchedule } from './ports/provider-send-schedule';
import { RechargeTelemetry } from './ports/recharge-telemetry';
import { ClaimedRecharge, RechargeRepository } from './ports/recharge.repository';
import { ReconciliationRunLog } from './ports/reconciliation-run.log';
import { ReconcileUseCase } from './reconcile.use-case';

/**
 * The re-drive of a reconciliation pass is a backstop, and keeps to the claim horizon: while the
 * provider's schedule is full it claims nothing; on an idle schedule it claims in chunks no larger
 * than the horizon allows until nothing is due. Only the re-drive is exercised (nothing overdue,
 * no stored notifications); what is asserted is the `limit` of each claim.
 */
describe('ReconcileUseCase re-drive', () => {
  const INTERVAL_MS = 10; // 100 credits a second: the horizon (250 ms) holds 25 slots, more than a chunk

  class FakeSchedule extends ProviderSendSchedule {
    readonly slotIntervalMs = INTERVAL_MS;
    aheadMs = 0;
    creditsReservedAheadMs(): number {
      return this.aheadMs;
    }
  }

  beforeAll(() => Logger.overrideLogger(false));
  afterAll(() => Logger.overrideLogger(['error', 'warn', 'log']));

  function setUp(due: number) {
    const schedule = new FakeSchedule();
    const claims: number[] = [];
    let left = due;
    const dispatch = {
      claimDue: (limit: number): Promise<ClaimedRecharge[]> => {
        claims.push(limit);
        const n = Math.min(limit, left);
        left -= n;
        return Promise.resolve(Array.from({ length: n }, (_, i) => ({ id: `rch_${left + i}` }) as ClaimedRecharge));
      },
      process: () => Promise.resolve(),
    } as unknown as DispatchRechargeUseCase;
    const recharges = {
      overdue: () => Promise.resolve([]),
      countOpenCreatedBefore: () => Promise.resolve(0),
    } as unknown as RechargeRepository;
    const inbox = { pending: () => Promise.resolve([]) } as unknown as NotificationInbox;
    const runs = { start: () => Promise.resolve(), finish: () => Promise.resolve() } as unknown as ReconciliationRunLog;
    const telemetry = { reconciliationRun: () => undefined } as unknown as RechargeTelemetry;
    const settings = { confirmationWindowMs: 60_000, reconcileAfterMs: 30_000 } as DispatchSettings;
    const useCase = new ReconcileUseCase(
      recharges,
      dispatch,
      settings,
      {} as ApplyNotificationUseCase,
      inbox,
      runs,
      telemetry,
      new SystemClock() as Clock,
      schedule,
    );
    return { useCase, schedule, claims };
  }

  it('claims nothing while the provider schedule is reserved beyond the horizon (a dispatcher is draining)', async () => {
    const { useCase, schedule, claims } = setUp(20);
    schedule.aheadMs = CLAIM_HORIZON_MS + 5 * INTERVAL_MS;
    const report = await useCase.runOnce();
    expect(claims).toEqual([]);
    expect(report.redriven).toBe(0);
  });

  it('on an idle schedule re-drives everything due, in chunks of at most eight', async () => {
    const { useCase, claims } = setUp(20);
    const report = await useCase.runOnce();
    expect(report.redriven).toBe(20);
    expect(claims).toEqual([8, 8, 8, 8]);
  });

  it('claims only what fits under the horizon when the schedule is nearly full', async () => {
    const { useCase, schedule, claims } = setUp(20);
    schedule.aheadMs = CLAIM_HORIZON_MS - 3 * INTERVAL_MS;
    const report = await useCase.runOnce();
    // Three slots fit; the schedule (a fake) stays as full, so every chunk is three.
    expect(claims.every((limit) => limit === 3)).toBe(true);
    expect(report.redriven).toBe(20);
  });
});
