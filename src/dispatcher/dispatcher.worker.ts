import { BeforeApplicationShutdown, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../app-config.provider';
import { Inject } from '@nestjs/common';
import { Lifecycle } from '../health/lifecycle';
import { DispatchRechargeUseCase } from '../recharge/application/dispatch-recharge.use-case';
import { RechargeNotifications } from '../recharge/application/ports/recharge-notifications';
import { ClaimedRecharge } from '../recharge/application/ports/recharge.repository';
import { context, propagation, ROOT_CONTEXT } from '@opentelemetry/api';
import { withSpan } from '../observability/tracing';

/**
 * The per-replica loop that feeds due recharges to the dispatch use case. New recharges wake it
 * at once (NOTIFY from the inserting commit); a short poll covers scheduled retries and any lost
 * signal. Claims are leases in the database, so any number of replicas can run this loop.
 */
@Injectable()
export class DispatcherWorker implements OnApplicationBootstrap, BeforeApplicationShutdown {
  static readonly POLL_MS = 200;
  /**
   * Slow start: after an idle spell the loop takes on this many recharges, and one more for each
   * that completes, up to `concurrency`. Starting all of them at once on a cold process made the
   * first rate-limit statements come back 150–250 ms late (the event loop busy with 25 first
   * transactions); with the old spaced slots a late slot had to be given up.
   */
  static readonly INITIAL_WINDOW = 4;
  private readonly logger = new Logger('Dispatcher');
  private readonly inFlight = new Set<Promise<void>>();
  /**
   * At most half a second of the provider budget in flight per replica (at least one): more would
   * only wait for send permits, and whatever a replica has claimed waits for its lease to lapse if
   * the replica dies (at 1/s, four claimed recharges took the survivor 6.8 s to take over).
   */
  private readonly concurrency: number;
  private window: number;
  private loopDone: Promise<void> = Promise.resolve();
  private stopping = false;
  private wakeUp: (() => void) | null = null;
  private unsubscribe: () => void = () => undefined;

  constructor(
    private readonly dispatch: DispatchRechargeUseCase,
    private readonly notifications: RechargeNotifications,
    private readonly lifecycle: Lifecycle,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {
    this.concurrency = Math.min(64, Math.max(1, Math.ceil(config.providerMaxRps / 2)));
    this.window = this.initialWindow();
  }

  onApplicationBootstrap(): void {
    if (!this.config.dispatcherEnabled) return;
    this.unsubscribe = this.notifications.onCreated(() => this.wake());
    this.lifecycle.onDrain(() => this.stopTakingWork());
    this.loopDone = this.loop();
  }

  /** Stop claiming, then give in-flight calls the grace period; unfinished ones stay leased and resumable. */
  async beforeApplicationShutdown(): Promise<void> {
    this.stopTakingWork();
    await this.loopDone;
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.config.shutdownGraceMs)));
    await Promise.race([Promise.allSettled([...this.inFlight]), grace]);
    clearTimeout(timer);
  }

  private stopTakingWork(): void {
    this.stopping = true;
    this.unsubscribe();
    this.wake();
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      if (this.inFlight.size === 0) this.window = this.initialWindow();
      const free = this.window - this.inFlight.size;
      let claimed = 0;
      if (free > 0) {
        try {
          const due = await this.dispatch.claimDue(free);
          claimed = due.length;
          for (const recharge of due) this.track(recharge);
        } catch (err) {
          this.logger.error({ err }, 'claiming due recharges failed; retrying shortly');
        }
      }
      if (free > 0 && claimed === free) continue;
      await this.sleep(DispatcherWorker.POLL_MS);
    }
  }

  private initialWindow(): number {
    return Math.min(DispatcherWorker.INITIAL_WINDOW, this.concurrency);
  }

  private track(claim: ClaimedRecharge): void {
    const { id, traceContext } = claim;
    // Continue the trace of the request that created the recharge: one tree from POST to provider.
    const parent = traceContext ? propagation.extract(ROOT_CONTEXT, { traceparent: traceContext }) : ROOT_CONTEXT;
    const work: Promise<void> = context
      .with(parent, () => withSpan('recharge.dispatch', { 'recharge.id': id }, () => this.dispatch.process(claim)))
      .catch((err) =>
        this.logger.error({ err, rechargeId: id }, `dispatching ${id} failed; it stays leased and will be retried`),
      )
      .finally(() => {
        this.window = Math.min(this.concurrency, this.window + 1);
        this.inFlight.delete(work);
        this.wake();
      });
    this.inFlight.add(work);
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wakeUp = done;
    });
  }

  private wake(): void {
    const w = this.wakeUp;
    this.wakeUp = null;
    w?.();
  }
}
