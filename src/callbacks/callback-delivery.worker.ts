import { BeforeApplicationShutdown, Inject, Injectable, Logger, OnApplicationBootstrap } from '@nestjs/common';
import { APP_CONFIG, AppConfig } from '../app-config.provider';
import { Lifecycle } from '../health/lifecycle';
import { DeliverCallbacksUseCase } from '../recharge/application/deliver-callbacks.use-case';
import { RechargeNotifications } from '../recharge/application/ports/recharge-notifications';

/** Polls the callback outbox (and wakes whenever a final transition queued a callback) on every replica. */
@Injectable()
export class CallbackDeliveryWorker implements OnApplicationBootstrap, BeforeApplicationShutdown {
  static readonly POLL_MS = 500;
  static readonly BATCH = 16;
  private readonly logger = new Logger('Callbacks');
  private stopping = false;
  private loopDone: Promise<void> = Promise.resolve();
  private wakeUp: (() => void) | null = null;
  private unsubscribe: () => void = () => undefined;

  constructor(
    private readonly deliver: DeliverCallbacksUseCase,
    private readonly notifications: RechargeNotifications,
    private readonly lifecycle: Lifecycle,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    // An API-only replica (DISPATCHER_ENABLED=false) delivers no callbacks.
    if (!this.config.dispatcherEnabled) return;
    this.unsubscribe = this.notifications.onFinished((_id, callbackQueued) => callbackQueued && this.wakeUp?.());
    this.lifecycle.onDrain(() => this.stop());
    this.loopDone = this.loop();
  }

  async beforeApplicationShutdown(): Promise<void> {
    this.stop();
    await this.loopDone;
  }

  private stop(): void {
    this.stopping = true;
    this.unsubscribe();
    this.wakeUp?.();
  }

  private async loop(): Promise<void> {
    while (!this.stopping) {
      let attempted = 0;
      try {
        attempted = await this.deliver.deliverDue(CallbackDeliveryWorker.BATCH);
      } catch (err) {
        this.logger.error({ err }, 'callback delivery pass failed');
      }
      if (attempted === CallbackDeliveryWorker.BATCH) continue;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, CallbackDeliveryWorker.POLL_MS);
        this.wakeUp = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.wakeUp = null;
    }
  }
}
