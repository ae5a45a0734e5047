import { Logger } from '@nestjs/common';
import { AppConfig } from '../app-config.provider';
import { Lifecycle } from '../health/lifecycle';
import { DispatchRechargeUseCase } from '../recharge/application/dispatch-recharge.use-case';
import { ProviderSendSchedule } from '../recharge/application/ports/provider-send-schedule';
import { RechargeNotifications } from '../recharge/application/ports/recharge-notifications';
import { ClaimedRecharge } from '../recharge/application/ports/recharge.repository';
import { DispatcherWorker } from './dispatcher.worker';
import { CLAIM_HORIZON_MS, CLAIM_HORIZON_SLOTS } from '../recharge/application/claim-horizon';

/**
 * When the worker claims: only while the provider's reserved slots run out within the horizon, and
 * no more than the horizon can send. The schedule and the use case are fakes; what is asserted is
 * the `limit` of every claim the worker made and when it made none.
 */
describe('DispatcherWorker claims just in time', () => {
  const INTERVAL_MS = 106; // 10 credits a second with the limiter's margin
  const HORIZON_MS = Math.max(CLAIM_HORIZON_MS, CLAIM_HORIZON_SLOTS * INTERVAL_MS);

  /** A shared schedule reserved up to `until` (ms, performance clock); each claim's recharge takes the next slot. */
  class FakeSchedule extends ProviderSendSchedule {
    readonly slotIntervalMs = INTERVAL_MS;
    until = 0;
    reserveFor(count: number): void {
      this.until = Math.max(this.until, performance.now()) + count * INTERVAL_MS;
    }
    creditsReservedAheadMs(): number {
      return Math.max(0, this.until - performance.now());
    }
  }

  let schedule: FakeSchedule;
  let claims: number[];
  let worker: DispatcherWorker;
  /** Work handed to the worker never finishes until released, so the window stays as it is. */
  let release: () => void;

  beforeAll(() => Logger.overrideLogger(false));
  afterAll(() => Logger.overrideLogger(['error', 'warn', 'log']));

  beforeEach(() => {
    schedule = new FakeSchedule();
    claims = [];
    let done!: () => void;
    const held = new Promise<void>((resolve) => (done = resolve));
    release = done;
    let next = 0;
    const dispatch = {
      claimDue: (limit: number): Promise<ClaimedRecharge[]> => {
        claims.push(limit);
        schedule.reserveFor(limit);
        return Promise.resolve(
          Array.from({ length: limit }, () => ({ id: `rch_${(next += 1)}`, traceContext: null }) as ClaimedRecharge),
        );
      },
      process: () => held,
    } as unknown as DispatchRechargeUseCase;
    const notifications = { onCreated: () => () => undefined } as unknown as RechargeNotifications;
    const config = { dispatcherEnabled: true, providerMaxRps: 10, shutdownGraceMs: 0 } as AppConfig;
    worker = new DispatcherWorker(dispatch, notifications, new Lifecycle(), schedule, config);
  });

  afterEach(async () => {
    release();
    await worker.beforeApplicationShutdown();
  });

  it('with the schedule idle, claims what the horizon can send, then waits while its own claims cover the horizon', async () => {
    worker.onApplicationBootstrap();
    await sleep(INTERVAL_MS / 2);
    // 250 ms (or three slots, 315 ms) of slots: three recharges at once; after them, one at a time
    // as each slot is used up (the window of four allows one more).
    expect(claims[0]).toBe(Math.floor(HORIZON_MS / INTERVAL_MS));
    expect(claims.slice(1).filter((limit) => limit !== 1)).toEqual([]);
  });

  it('claims nothing while the shared schedule is reserved beyond the horizon, and only what fits once it nears its end', async () => {
    // Another replica has reserved twenty slots (2.1 s) beyond the horizon.
    schedule.until = performance.now() + HORIZON_MS + 20 * INTERVAL_MS;
    worker.onApplicationBootstrap();
    await sleep(4 * INTERVAL_MS);
    expect(claims).toEqual([]);
    // As those slots are used up, the worker claims when a slot fits under the horizon: a part of
    // what it claims on an idle schedule (one at a time unless this process stalled for slots).
    const deadline = performance.now() + 10_000;
    while (claims.length < 2 && performance.now() < deadline) await sleep(5);
    expect(claims.length).toBeGreaterThanOrEqual(2);
    for (const limit of claims) expect(limit).toBeLessThan(Math.floor(HORIZON_MS / INTERVAL_MS));
  });
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
