import { Inject, Injectable, Logger, OnApplicationBootstrap, OnApplicationShutdown } from '@nestjs/common';
import { SchedulerRegistry } from '@nestjs/schedule';
import { APP_CONFIG, AppConfig } from '../app-config.provider';
import { Lifecycle } from '../health/lifecycle';
import { ReconcileUseCase } from '../recharge/application/reconcile.use-case';
import { withSpan } from '../observability/tracing';

/** Runs a reconciliation pass every RECONCILE_INTERVAL_MS on each replica (passes are replica-safe). */
@Injectable()
export class ReconciliationScheduler implements OnApplicationBootstrap, OnApplicationShutdown {
  static readonly NAME = 'reconciliation';
  private readonly logger = new Logger('Reconciliation');
  private running: Promise<unknown> | null = null;

  constructor(
    private readonly reconcile: ReconcileUseCase,
    private readonly registry: SchedulerRegistry,
    private readonly lifecycle: Lifecycle,
    @Inject(APP_CONFIG) private readonly config: AppConfig,
  ) {}

  onApplicationBootstrap(): void {
    // An API-only replica (DISPATCHER_ENABLED=false) reconciles nothing.
    if (!this.config.dispatcherEnabled) return;
    this.registry.addInterval(
      ReconciliationScheduler.NAME,
      setInterval(() => this.tick(), this.config.reconcileIntervalMs),
    );
    this.lifecycle.onDrain(() => this.stop());
  }

  async onApplicationShutdown(): Promise<void> {
    this.stop();
    await this.running;
  }

  private stop(): void {
    if (this.registry.doesExist('interval', ReconciliationScheduler.NAME))
      this.registry.deleteInterval(ReconciliationScheduler.NAME);
  }

  private tick(): void {
    if (this.running || this.lifecycle.draining) return; // never overlap passes in one process
    this.running = withSpan('reconciliation.run', {}, async (span) => {
      const report = await this.reconcile.runOnce();
      span.setAttributes({
        'reconciliation.id': report.runId,
        'reconciliation.outcome': report.outcome,
        'reconciliation.redriven': report.redriven,
        'reconciliation.expired': report.expired,
      });
      return report;
    })
      .catch((err) => this.logger.error({ err }, 'reconciliation pass crashed'))
      .finally(() => (this.running = null));
  }
}
